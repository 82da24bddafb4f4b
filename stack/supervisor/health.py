"""Health probes of the local stack's parts, each bounded by a timeout, and the wait for all.

A probe's `check(timeout)` returns when the part answers and raises `ProbeFailedError` if not.
`wait_until_healthy` polls every pending part with short intervals, fails fast when a part's
process has died, and on failure names the part and quotes the end of its log.
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from pydantic import ValidationError

from services.harness.heartbeat import Heartbeat
from stack.supervisor.errors import StackError

logger = logging.getLogger(__name__)

LOG_TAIL_LINES = 20
_POLL_INTERVAL_S = 0.2


class ProbeFailedError(Exception):
    """The part did not answer (yet)."""


class Probe(Protocol):
    def check(self, timeout: float) -> None: ...


@dataclass(frozen=True)
class HttpProbe:
    """A GET that must answer 2xx: the AWS endpoint's `/_fleet/health`, Prefect's `/api/health`.

    Plain HTTP on loopback, straight to the part (no proxy), with the standard library's client:
    `fleet status` runs these and should not pay for a bigger one.
    """

    url: str

    def check(self, timeout: float) -> None:
        target = urlsplit(self.url)
        if target.scheme != "http" or target.hostname is None:
            raise ProbeFailedError(f"GET {self.url}: not a plain-HTTP URL")
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=timeout)
        try:
            conn.request("GET", target.path or "/")
            code = conn.getresponse().status
        except (OSError, http.client.HTTPException) as err:
            raise ProbeFailedError(f"GET {self.url}: {err}") from err
        finally:
            conn.close()
        if not 200 <= code < 300:
            raise ProbeFailedError(f"GET {self.url}: HTTP {code}")


@dataclass(frozen=True)
class MqttProbe:
    """Connect with mutual TLS as the stack's own identity and get a CONNACK (MQTT 3.1.1).

    This proves the listener is up, its certificate chains to the local IoT CA and names
    127.0.0.1, the broker accepts a certificate the CA issued, and it speaks MQTT.
    """

    host: str
    port: int
    ca_file: Path
    cert_file: Path
    key_file: Path

    def check(self, timeout: float) -> None:
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file))
            context.load_cert_chain(str(self.cert_file), str(self.key_file))
            with (
                socket.create_connection((self.host, self.port), timeout=timeout) as raw,
                context.wrap_socket(raw, server_hostname=self.host) as conn,
            ):
                conn.sendall(connect_packet(f"fleet-stack-probe-{uuid.uuid4().hex[:12]}"))
                reply = _read_exactly(conn, 4)
                conn.sendall(b"\xe0\x00")  # DISCONNECT
        except (OSError, ssl.SSLError) as err:
            raise ProbeFailedError(f"MQTT over TLS to {self.host}:{self.port}: {err}") from err
        return_code = parse_connack(reply)
        if return_code != 0:
            raise ProbeFailedError(f"broker refused the stack's identity: CONNACK {return_code}")


@dataclass(frozen=True)
class HeartbeatProbe:
    """A part without a port (the bridge) rewrites a heartbeat file; it must be fresh and ready."""

    path: Path
    max_age_s: float = 15.0

    def check(self, timeout: float) -> None:
        try:
            beat = Heartbeat.model_validate_json(self.path.read_bytes())
        except FileNotFoundError as err:
            raise ProbeFailedError(f"no heartbeat at {self.path} yet") from err
        except (OSError, ValidationError) as err:
            raise ProbeFailedError(f"heartbeat {self.path}: {err}") from err
        age = time.time() - beat.updated_at_ms / 1000
        if age > self.max_age_s:
            raise ProbeFailedError(f"last heartbeat {age:.0f} s ago ({beat.detail})")
        if not beat.ready:
            raise ProbeFailedError(beat.detail or "not ready")


def connect_packet(client_id: str, keep_alive_s: int = 10) -> bytes:
    """An MQTT 3.1.1 CONNECT with a clean session and no credentials (the certificate is them)."""
    client = client_id.encode("utf-8")
    variable = b"\x00\x04MQTT" + bytes([4, 0x02]) + keep_alive_s.to_bytes(2, "big")
    payload = len(client).to_bytes(2, "big") + client
    body = variable + payload
    if len(body) > 127:
        raise ValueError("client id too long for a one-byte remaining length")
    return bytes([0x10, len(body)]) + body


def parse_connack(packet: bytes) -> int:
    """The return code of an MQTT 3.1.1 CONNACK (0 = accepted)."""
    if len(packet) != 4 or packet[0] != 0x20 or packet[1] != 0x02:
        raise ProbeFailedError(f"not a CONNACK: {packet!r}")
    return packet[3]


def _read_exactly(conn: ssl.SSLSocket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ProbeFailedError("the broker closed the connection")
        data += chunk
    return data


@dataclass(frozen=True)
class PartCheck:
    """A part to wait for: its probe, its log, and whether its process is still alive."""

    name: str
    probe: Probe
    log_file: Path
    alive: Callable[[], bool] = lambda: True


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return "(no log yet)"
    return "\n".join(text.splitlines()[-lines:])


def check_once(part: PartCheck, timeout: float = 2.0) -> str | None:
    """None if the part is healthy now, else why not."""
    try:
        part.probe.check(timeout)
    except ProbeFailedError as err:
        return str(err)
    return None


def wait_until_healthy(parts: Sequence[PartCheck], timeout: float) -> None:
    """Poll until every part answers; raise StackError naming the first part that did not."""
    deadline = time.monotonic() + timeout
    pending = {part.name: part for part in parts}
    reasons: dict[str, str] = {}
    while pending:
        for name, part in list(pending.items()):
            remaining = max(0.1, min(2.0, deadline - time.monotonic()))
            reason = check_once(part, remaining)
            if reason is None:
                logger.info("%s is healthy", name)
                del pending[name]
                continue
            reasons[name] = reason
            if not part.alive():
                raise _failure(part, "its process exited", reason)
        if not pending:
            return
        if time.monotonic() >= deadline:
            part = next(iter(pending.values()))
            raise _failure(part, f"it did not answer within {timeout:g} s", reasons[part.name])
        time.sleep(_POLL_INTERVAL_S)


def _failure(part: PartCheck, what: str, reason: str) -> StackError:
    return StackError(
        f"{part.name} did not come up: {what} (last probe: {reason}).\n"
        f"Last lines of {part.log_file}:\n{tail(part.log_file)}"
    )
