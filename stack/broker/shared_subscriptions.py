"""Which identities may join a shared subscription: the broker's guard, as dynamic-security state.

mosquitto's ``acl_file`` grants every SUBSCRIBE, and a ``$share/...`` member that may not receive
a message drops it for the whole group; IoT Core refuses such a SUBSCRIBE unless the policy allows
``topicfilter/$share/...``. mosquitto's dynamic-security plugin does the same here, in front of
the ``acl_file``:

- every default access is ``false`` ("defer"): what no role decides falls through to the
  ``acl_file``;
- every certificate identity of the IoT registry has the role ``fleet-no-shared-subscriptions``
  (``$share/#`` denied); an ACTIVE one whose policies allow ``$share/...`` filters also has a
  higher-priority role allowing exactly those;
- identities that left the registry keep the deny role (the local broker has no revocation).

Pure: desired state from IoT state, the plugin's state from its replies, and the commands that
turn one into the other. Not emulated: identities the registry never knew are not clients of the
plugin, so the ``acl_file`` decides for them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stack.broker.acl import CertificateBinding, shared_subscription_filters

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
ADMIN_ROLE = "fleet-broker-admin"
NO_SHARED_ROLE = "fleet-no-shared-subscriptions"
SHARED_ROLE_PREFIX = "fleet-shared-"
_MANAGED_ROLE_PREFIX = "fleet-"
_DENY_PRIORITY = 0
_ALLOW_PRIORITY = 10


@dataclass(frozen=True, order=True)
class Acl:
    acltype: str
    topic: str
    priority: int = 0
    allow: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "acltype": self.acltype,
            "topic": self.topic,
            "priority": self.priority,
            "allow": self.allow,
        }


@dataclass(frozen=True)
class DynsecState:
    """Clients (username -> role names) and roles (name -> ACLs) of the plugin."""

    clients: Mapping[str, frozenset[str]] = field(default_factory=dict)
    roles: Mapping[str, frozenset[Acl]] = field(default_factory=dict)


_NO_SHARED_ACLS = frozenset({Acl("subscribePattern", "$share/#", _DENY_PRIORITY, allow=False)})
_ADMIN_ACLS = frozenset(
    Acl(kind, "$CONTROL/dynamic-security/#", _DENY_PRIORITY, allow=True)
    for kind in ("publishClientSend", "publishClientReceive", "subscribePattern")
)
_ROLE_PRIORITY = {NO_SHARED_ROLE: _DENY_PRIORITY, ADMIN_ROLE: _DENY_PRIORITY}


def bootstrap_config(admin_username: str) -> dict[str, Any]:
    """The plugin's config file before the broker first starts: only the admin identity."""
    return {
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": False,
        },
        "clients": [
            {"username": admin_username, "roles": [{"rolename": ADMIN_ROLE, "priority": 0}]}
        ],
        "groups": [],
        "roles": [
            {"rolename": ADMIN_ROLE, "acls": [acl.to_json() for acl in sorted(_ADMIN_ACLS)]},
        ],
    }


def config_admin(config: Mapping[str, Any]) -> str | None:
    """The admin username a plugin config file names, if any."""
    for client in config.get("clients", []):
        if any(r.get("rolename") == ADMIN_ROLE for r in client.get("roles", [])):
            return str(client.get("username"))
    return None


def _shared_role(acls: frozenset[Acl]) -> str:
    text = json.dumps([a.to_json() for a in sorted(acls)], sort_keys=True)
    digest = hashlib.sha256(text.encode())
    return f"{SHARED_ROLE_PREFIX}{digest.hexdigest()[:16]}"


def desired_state(
    policies: Mapping[str, str | Mapping[str, Any]],
    active: Iterable[CertificateBinding],
    known_identities: Iterable[str],
    admin_username: str,
) -> DynsecState:
    """Every known identity denied ``$share/#``; ACTIVE ones allowed their policies' filters."""
    roles: dict[str, frozenset[Acl]] = {NO_SHARED_ROLE: _NO_SHARED_ACLS, ADMIN_ROLE: _ADMIN_ACLS}
    clients: dict[str, frozenset[str]] = {
        identity: frozenset({NO_SHARED_ROLE}) for identity in known_identities
    }
    for binding in active:
        filters = shared_subscription_filters(policies, binding)
        if not filters:
            continue
        acls = frozenset(
            Acl(
                "subscribeLiteral" if f.literal else "subscribePattern",
                f.topic_filter,
                _ALLOW_PRIORITY,
            )
            for f in filters
        )
        role = _shared_role(acls)
        roles[role] = acls
        clients[binding.identity] = frozenset({NO_SHARED_ROLE, role})
    clients[admin_username] = frozenset({ADMIN_ROLE})
    return DynsecState(clients=clients, roles=roles)


def list_commands() -> list[dict[str, Any]]:
    return [
        {"command": "listClients", "verbose": True, "count": -1, "offset": 0},
        {"command": "listRoles", "verbose": True, "count": -1, "offset": 0},
    ]


def parse_lists(responses: Iterable[Mapping[str, Any]]) -> DynsecState:
    """The plugin's state from its replies to `list_commands`."""
    clients: dict[str, frozenset[str]] = {}
    roles: dict[str, frozenset[Acl]] = {}
    for response in responses:
        if response.get("error"):
            raise ValueError(f"{response.get('command')}: {response['error']}")
        data = response.get("data", {})
        for client in data.get("clients", []):
            clients[str(client["username"])] = frozenset(
                str(r["rolename"]) for r in client.get("roles", [])
            )
        for role in data.get("roles", []):
            roles[str(role["rolename"])] = frozenset(
                Acl(
                    str(a["acltype"]),
                    str(a["topic"]),
                    int(a.get("priority", 0)),
                    bool(a.get("allow", False)),
                )
                for a in role.get("acls", [])
            )
    return DynsecState(clients=clients, roles=roles)


def _role_list(names: Iterable[str]) -> list[dict[str, Any]]:
    return [
        {"rolename": name, "priority": _ROLE_PRIORITY.get(name, _ALLOW_PRIORITY)}
        for name in sorted(names)
    ]


def converge_commands(observed: DynsecState, desired: DynsecState) -> list[dict[str, Any]]:
    """Commands that make the plugin hold `desired`. Clients are never deleted: one the registry
    forgot keeps only the deny role. Our roles nobody uses any more are deleted."""
    commands: list[dict[str, Any]] = []
    for name, acls in sorted(desired.roles.items()):
        if name not in observed.roles:
            commands.append(
                {
                    "command": "createRole",
                    "rolename": name,
                    "acls": [a.to_json() for a in sorted(acls)],
                }
            )
        elif observed.roles[name] != acls:
            commands.append(
                {
                    "command": "modifyRole",
                    "rolename": name,
                    "acls": [a.to_json() for a in sorted(acls)],
                }
            )
    wanted = dict(desired.clients)
    for username in observed.clients:
        if username not in wanted:
            wanted[username] = frozenset({NO_SHARED_ROLE})
    for username, roles in sorted(wanted.items()):
        if username not in observed.clients:
            commands.append(
                {"command": "createClient", "username": username, "roles": _role_list(roles)}
            )
        elif observed.clients[username] != roles:
            commands.append(
                {"command": "modifyClient", "username": username, "roles": _role_list(roles)}
            )
    used = set().union(*wanted.values()) if wanted else set()
    for name in sorted(observed.roles):
        if name.startswith(_MANAGED_ROLE_PREFIX) and name not in desired.roles and name not in used:
            commands.append({"command": "deleteRole", "rolename": name})
    return commands
