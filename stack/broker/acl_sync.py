"""Keep the broker's ACL file in step with moto's IoT state.

After each IoT call that may change who may do what (see ``is_acl_relevant``),
the endpoint calls ``AclSync.request``; a background thread then runs ``sync``
once for a burst of such calls (a registration makes several): it reads every
IoT backend (all accounts and regions share one broker), renders the ACL with
``broker_acl``, writes it atomically (temp file + rename) if it changed, and
sends SIGHUP to the broker whose pid is in the pid file, if that process is
alive (mosquitto re-reads its ACL on SIGHUP). Off the request path, so an IoT
write does not cost O(certificates) under the state lock.

With a broker admin identity configured, each sync also converges the broker's guard on shared
subscriptions (``shared_subscriptions``: mosquitto's dynamic-security plugin, driven over MQTT as
the stack's admin identity). That is network I/O, so it runs in the worker thread outside the
state lock, and is retried every ``RETRY_SECONDS`` while the broker does not answer (it may start
after the endpoint). ``status()`` says whether the broker is in step (the admin API's health).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from moto.backends import get_backend

from stack.broker.acl import CertificateBinding, render_acl
from stack.broker.control import (
    BrokerAdmin,
    BrokerCommandError,
    BrokerUnavailableError,
    DynsecSession,
)
from stack.broker.shared_subscriptions import (
    DynsecState,
    converge_commands,
    desired_state,
    list_commands,
    parse_lists,
)
from stack.endpoint.ca import certificate_identity

logger = logging.getLogger(__name__)

_READ_PREFIXES = ("Describe", "List", "Get", "Search", "Test", "Validate")


def is_acl_relevant(service: str | None, operation: str | None) -> bool:
    """Any mutating IoT control-plane call may change bindings."""
    if service != "iot" or operation is None:
        return False
    return not operation.startswith(_READ_PREFIXES)


def _document(policy: Any) -> str | dict[str, Any]:
    for version in getattr(policy, "versions", []):
        if version.is_default:
            return version.document  # type: ignore[no-any-return]
    return policy.document  # type: ignore[no-any-return]


_identities: dict[str, str] = {}  # certificate ARN -> broker identity; certificates never change


def _identity(arn: str, certificate_pem: str) -> str:
    if arn not in _identities:
        _identities[arn] = certificate_identity(certificate_pem)
    return _identities[arn]


def collect_iot_state() -> tuple[dict[str, str | dict[str, Any]], list[CertificateBinding]]:
    """Policies (name -> default document) and bindings of ACTIVE certificates."""
    policies, bindings, _ = collect_iot_identities()
    return policies, bindings


def collect_iot_identities() -> tuple[
    dict[str, str | dict[str, Any]], list[CertificateBinding], set[str]
]:
    """Policies, bindings of ACTIVE certificates, and the identity of every certificate."""
    policies: dict[str, str | dict[str, Any]] = {}
    bindings: list[CertificateBinding] = []
    known: set[str] = set()
    for account in list(get_backend("iot").values()):
        for backend in list(account.values()):
            for name, policy in list(backend.policies.items()):
                policies[name] = _document(policy)
            policies_of: dict[str, list[str]] = defaultdict(list)
            for target, policy_name in list(backend.principal_policies):
                policies_of[target].append(policy_name)
            things_of: dict[str, list[str]] = defaultdict(list)
            for principal, thing_name in list(backend.principal_things):
                things_of[principal].append(thing_name)
            for cert in list(backend.certificates.values()):
                try:
                    identity = _identity(cert.arn, cert.certificate_pem)
                except ValueError:
                    continue
                known.add(identity)
                if cert.status != "ACTIVE":
                    continue
                bindings.append(
                    CertificateBinding(
                        identity, tuple(policies_of[cert.arn]), tuple(things_of[cert.arn])
                    )
                )
    return policies, bindings, known


def _valid_json(document: str | dict[str, Any]) -> str | dict[str, Any]:
    if isinstance(document, str):
        try:
            json.loads(document)
        except ValueError:
            return {"Statement": []}
    return document


class AclSync:
    COALESCE_SECONDS = 0.05
    RETRY_SECONDS = 1.0
    BROKER_CHECK_SECONDS = 5.0  # a restarted broker (new pid) is brought in step again

    def __init__(
        self,
        acl_file: Path | None,
        broker_pid_file: Path | None,
        state_lock: threading.RLock | None = None,
        broker_admin: BrokerAdmin | None = None,
    ) -> None:
        self.acl_file = acl_file
        self.broker_pid_file = broker_pid_file
        self.broker_admin = broker_admin
        self._lock = threading.Lock()
        self._state_lock = state_lock or threading.RLock()
        self._wanted = threading.Event()
        self._worker: threading.Thread | None = None
        self._desired: DynsecState | None = None
        self._converged: DynsecState | None = None
        self._converged_pid: int | None = None
        self._last_error: str | None = None
        self._syncing = False

    def request(self) -> None:
        """Ask for a regeneration soon; a burst of requests makes one."""
        if self.acl_file is None:
            return
        self._wanted.set()
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="acl-sync", daemon=True)
                self._worker.start()

    def status(self) -> dict[str, Any]:
        """Whether the broker is in step with the IoT state (for the admin API's health)."""
        guarded = self.broker_admin is not None
        pending = self._wanted.is_set() or self._syncing or self._behind()
        return {"pending": pending, "shared_subscription_guard": guarded, "error": self._last_error}

    def _behind(self) -> bool:
        """The broker's guard is not (known to be) in step with the last collected state."""
        return self.broker_admin is not None and (
            self._desired is None
            or self._converged is not self._desired
            or self._converged_pid != self._broker_pid()
        )

    def _run(self) -> None:
        while True:
            idle = self.BROKER_CHECK_SECONDS if self.broker_admin is not None else None
            woke = self._wanted.wait(self.RETRY_SECONDS if self._behind() else idle)
            self._syncing = True
            try:
                if woke:
                    time.sleep(self.COALESCE_SECONDS)
                    self._wanted.clear()
                if woke or self._desired is None:
                    with self._state_lock:
                        self.sync()
                self._converge()
            except OSError:
                logger.exception("could not regenerate the broker ACL")
            finally:
                self._syncing = False

    def sync(self) -> bool:
        """Regenerate the ACL; True if the file changed."""
        if self.acl_file is None:
            return False
        with self._lock:
            policies, bindings, known = collect_iot_identities()
            admin = self._admin_username()
            if admin is not None:
                self._desired = desired_state(policies, bindings, known, admin)
            text = render_acl({k: _valid_json(v) for k, v in policies.items()}, bindings)
            if self.acl_file.exists() and self.acl_file.read_text() == text:
                return False
            self.acl_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.acl_file.with_name(self.acl_file.name + ".tmp")
            tmp.write_text(text)
            os.replace(tmp, self.acl_file)
            logger.info("broker ACL regenerated (%d identities)", len(bindings))
        self._signal_broker()
        return True

    def _admin_username(self) -> str | None:
        """The broker admin's identity: the CN of the certificate `fleet up` issued it."""
        if self.broker_admin is None or not self.broker_admin.cert_file.exists():
            return None
        try:
            return certificate_identity(self.broker_admin.cert_file.read_text())
        except ValueError:
            return None

    def _converge(self) -> None:
        """Bring the broker's shared-subscription guard to the last collected state."""
        desired, pid = self._desired, self._broker_pid()
        if self.broker_admin is None or desired is None or not self._behind():
            return
        try:
            with DynsecSession(self.broker_admin) as session:
                observed = parse_lists(session.request(list_commands()))
                commands = converge_commands(observed, desired)
                failed = [r for r in session.request(commands) if r.get("error")]
        except (BrokerUnavailableError, BrokerCommandError, OSError, ValueError) as err:
            if self._last_error != str(err):
                logger.info("broker not in step yet, retrying: %s", err)
            self._last_error = str(err)
            return
        if failed:
            self._last_error = "; ".join(f"{r.get('command')}: {r.get('error')}" for r in failed)
            logger.warning("the broker refused: %s", self._last_error)
            return
        self._converged, self._converged_pid, self._last_error = desired, pid, None
        if commands:
            logger.info("shared-subscription guard updated (%d commands)", len(commands))

    def _broker_pid(self) -> int | None:
        if self.broker_pid_file is None:
            return None
        try:
            return int(self.broker_pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def _signal_broker(self) -> None:
        if self.broker_pid_file is None or not self.broker_pid_file.exists():
            return
        try:
            pid = int(self.broker_pid_file.read_text().strip())
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError, PermissionError) as err:
            logger.warning("broker pid file %s: no live process (%s)", self.broker_pid_file, err)
            return
        os.kill(pid, signal.SIGHUP)
        logger.debug("sent SIGHUP to broker pid %d", pid)
