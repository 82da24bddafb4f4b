"""Render a mosquitto ``acl_file`` from IoT policies and certificate bindings.

Pure: no I/O. The broker must run with ``use_identity_as_username true`` on
its TLS listener so the client certificate's CN is the ACL username.

Per bound identity: ``iot:Publish`` on ``topic/X`` becomes ``topic write X``,
``iot:Receive`` on ``topic/X`` becomes ``topic read X`` (mosquitto checks
``read`` against the topic of each message it delivers); ``iot:Subscribe``
gives no line, since the ``acl_file`` never checks a SUBSCRIBE:
``shared_subscription_filters`` feeds the broker's guard on ``$share/...``
instead (``shared_subscriptions``). ``${iot:Connection.Thing.ThingName}``
becomes each attached thing, ``${iot:Certificate.Subject.CommonName}`` the
identity; a whole-level ``*`` becomes ``#`` (last) or ``+`` (middle); other
variables and wildcards are left out (the ACL errs on denying). ``Deny``
becomes ``topic deny X``. Not expressible: ``iot:Connect`` (the broker checks
only that the certificate chains to the CA). Inactive or unattached
certificates get no lines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

THING_NAME_VAR = "${iot:Connection.Thing.ThingName}"
COMMON_NAME_VAR = "${iot:Certificate.Subject.CommonName}"
_VARIABLE = re.compile(r"\$\{[^}]*\}")


SHARE_PREFIX = "$share/"


class Access(StrEnum):
    READ = "read"
    WRITE = "write"
    DENY = "deny"


@dataclass(frozen=True)
class CertificateBinding:
    """One ACTIVE certificate as the broker sees it."""

    identity: str
    policy_names: Sequence[str] = field(default_factory=tuple)
    thing_names: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class _Grant:
    access: Access
    pattern: str  # IoT resource remainder after topic/ or topicfilter/
    subscribe: bool = False  # iot:Subscribe on a topic filter, not a topic


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value]


def _resource_remainder(resource: str, kind: str) -> str | None:
    """``X`` for ``arn:...:<kind>/X`` (or ``*``), else None."""
    if resource == "*":
        return "*"
    parts = resource.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iot":
        return None
    prefix = f"{kind}/"
    return parts[5][len(prefix) :] if parts[5].startswith(prefix) else None


def _actions_grant(action: str) -> list[tuple[Access, str]]:
    """(read/write, resource kind) pairs an action name grants; `topicfilter` is a subscribe."""
    name = action.lower()
    pairs: list[tuple[Access, str]] = []
    if name in ("iot:publish", "iot:*", "*"):
        pairs.append((Access.WRITE, "topic"))
    if name in ("iot:receive", "iot:*", "*"):
        pairs.append((Access.READ, "topic"))
    if name in ("iot:subscribe", "iot:*", "*"):
        pairs.append((Access.READ, "topicfilter"))
    return pairs


def _statement_grants(statement: Mapping[str, Any]) -> list[_Grant]:
    effect = str(statement.get("Effect", "")).lower()
    if effect not in ("allow", "deny"):
        return []
    grants: list[_Grant] = []
    for action in _as_list(statement.get("Action")):
        for access, kind in _actions_grant(action):
            for resource in _as_list(statement.get("Resource")):
                remainder = _resource_remainder(resource, kind)
                if remainder is None:
                    continue
                grants.append(
                    _Grant(
                        Access.DENY if effect == "deny" else access,
                        remainder,
                        subscribe=kind == "topicfilter",
                    )
                )
    return grants


def policy_grants(document: str | Mapping[str, Any]) -> list[_Grant]:
    """All topic grants of one policy document (JSON text or parsed)."""
    parsed = json.loads(document) if isinstance(document, str) else document
    statements = parsed.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    grants: list[_Grant] = []
    for statement in statements:
        grants.extend(_statement_grants(statement))
    return grants


def iot_pattern_to_mqtt(pattern: str) -> str | None:
    """Translate an IoT resource topic pattern to an MQTT filter, or None."""
    if "?" in pattern:
        return None
    levels = pattern.split("/")
    out: list[str] = []
    for index, level in enumerate(levels):
        if "*" not in level:
            out.append(level)
        elif level == "*":
            out.append("#" if index == len(levels) - 1 else "+")
        else:
            return None
    return "/".join(out)


def _substitute(pattern: str, identity: str, thing: str | None) -> str | None:
    if THING_NAME_VAR in pattern:
        if thing is None:
            return None
        pattern = pattern.replace(THING_NAME_VAR, thing)
    pattern = pattern.replace(COMMON_NAME_VAR, identity)
    return None if _VARIABLE.search(pattern) else pattern


def _resolved_patterns(binding: CertificateBinding, grant: _Grant) -> set[str]:
    """The IoT patterns one grant stands for, variables resolved, for each thing of the identity."""
    things: list[str | None] = list(binding.thing_names) or [None]
    resolved = (_substitute(grant.pattern, binding.identity, thing) for thing in things)
    return {pattern for pattern in resolved if pattern is not None}


def _resolved(binding: CertificateBinding, grant: _Grant) -> set[str]:
    """The MQTT topics or filters one grant stands for."""
    topics = (iot_pattern_to_mqtt(p) for p in _resolved_patterns(binding, grant))
    return {topic for topic in topics if topic}


def _identity_lines(binding: CertificateBinding, grants: Iterable[_Grant]) -> list[str]:
    lines: set[str] = set()
    for grant in grants:
        if grant.subscribe:
            continue
        lines.update(f"topic {grant.access.value} {topic}" for topic in _resolved(binding, grant))
    deny = sorted(line for line in lines if line.startswith("topic deny"))
    allow = sorted(line for line in lines if not line.startswith("topic deny"))
    return deny + allow


def _binding_grants(
    policies: Mapping[str, str | Mapping[str, Any]], binding: CertificateBinding
) -> list[_Grant]:
    return [
        grant
        for name in binding.policy_names
        if name in policies
        for grant in policy_grants(policies[name])
    ]


@dataclass(frozen=True, order=True)
class SharedFilter:
    """A ``$share/...`` filter an identity may subscribe to: the exact string (``literal``, as
    IoT matches a policy without ``*``), or an MQTT pattern translated from IoT's ``*``."""

    topic_filter: str
    literal: bool


def _shared_filter(pattern: str) -> SharedFilter | None:
    if pattern == "*":
        return SharedFilter(f"{SHARE_PREFIX}#", literal=False)
    if not pattern.startswith(SHARE_PREFIX):
        return None
    if "*" not in pattern and "?" not in pattern:
        return SharedFilter(pattern, literal=True)
    translated = iot_pattern_to_mqtt(pattern)
    return SharedFilter(translated, literal=False) if translated else None


def shared_subscription_filters(
    policies: Mapping[str, str | Mapping[str, Any]], binding: CertificateBinding
) -> tuple[SharedFilter, ...]:
    """The ``$share/<group>/<filter>`` filters the identity's policies let it subscribe to.

    IoT matches a topicfilter resource against the filter the client sends, with ``+`` and ``#``
    as plain characters: a resource without ``*`` allows exactly that string.
    """
    allowed: set[SharedFilter] = set()
    denied: set[SharedFilter] = set()
    for grant in _binding_grants(policies, binding):
        if not grant.subscribe:
            continue
        for pattern in _resolved_patterns(binding, grant):
            shared = _shared_filter(pattern)
            if shared is not None:
                (denied if grant.access is Access.DENY else allowed).add(shared)
    kept = (a for a in allowed if not any(_covers(d.topic_filter, a.topic_filter) for d in denied))
    return tuple(sorted(kept))


def _covers(pattern: str, topic_filter: str) -> bool:
    """Whether every filter `topic_filter` can stand for is within MQTT filter `pattern`."""
    wanted, given = pattern.split("/"), topic_filter.split("/")
    for index, level in enumerate(wanted):
        if level == "#":
            return True
        if index >= len(given) or given[index] == "#" or level not in ("+", given[index]):
            return False
    return len(wanted) == len(given)


def render_acl(
    policies: Mapping[str, str | Mapping[str, Any]],
    bindings: Sequence[CertificateBinding],
) -> str:
    """The mosquitto ACL text for ``bindings`` (ACTIVE certificates only).

    ``policies`` maps a policy name to its default version's document.
    Bindings without any policy attached produce no section.
    """
    sections: list[str] = ["# Generated from the local IoT state: do not edit.\n"]
    for binding in sorted(bindings, key=lambda b: b.identity):
        if not binding.policy_names:
            continue
        lines = _identity_lines(binding, _binding_grants(policies, binding))
        sections.append("\n".join([f"user {binding.identity}", *lines]) + "\n")
    return "\n".join(sections)
