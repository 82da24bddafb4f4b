"""The broker's guard on shared subscriptions, from the real IoT policies of the fleet."""

from __future__ import annotations

from typing import Any

from cloud.naming import FleetNames
from cloud.policies import PolicyName, render
from stack.broker.acl import (
    CertificateBinding,
    SharedFilter,
    render_acl,
    shared_subscription_filters,
)
from stack.broker.shared_subscriptions import (
    ADMIN_ROLE,
    NO_SHARED_ROLE,
    SHARED_ROLE_PREFIX,
    DynsecState,
    converge_commands,
    desired_state,
    parse_lists,
)

NAMES = FleetNames("camfleet", "123456789012", "us-east-1")
COMMON = {"Partition": "aws", "Region": "us-east-1", "AccountId": "123456789012"}
POLICIES: dict[str, Any] = {
    "camfleet-bridge": render(PolicyName.IOT_BRIDGE, **COMMON, Fleet="camfleet"),
    "camfleet-camera": render(
        PolicyName.IOT_CAMERA,
        **COMMON,
        RoleAliasArn="arn:aws:iot:us-east-1:123456789012:rolealias/camfleet-kvs-producer",
    ),
}
BRIDGE = CertificateBinding("b1d9e", ("camfleet-bridge",), ("camfleet-bridge",))
CAMERA = CertificateBinding("ca3e7a", ("camfleet-camera",), ("front-door",))
ADMIN = "ad31"


def _section(text: str, user: str) -> list[str]:
    sections = [s for s in text.split("\n\n") if s.startswith(f"user {user}\n")]
    assert len(sections) == 1, text
    return sections[0].strip().splitlines()[1:]


def test_the_bridge_acl_receives_every_camera_and_publishes_nothing() -> None:
    """mosquitto's acl_file checks `read` on each delivered topic and never a SUBSCRIBE, so the
    bridge's lines come from iot:Receive; its `$share/...` subscribe grants render no line."""
    assert _section(render_acl(POLICIES, [BRIDGE]), "b1d9e") == [
        "topic read fleet/+/health",
        "topic read fleet/+/motion",
        "topic read fleet/+/status",
    ]


def test_shared_subscription_filters_come_from_subscribe_grants_literally() -> None:
    assert shared_subscription_filters(POLICIES, BRIDGE) == tuple(
        SharedFilter(f"$share/camfleet-bridge/fleet/+/{kind}", literal=True)
        for kind in ("health", "motion", "status")
    )
    assert shared_subscription_filters(POLICIES, CAMERA) == ()


def test_iot_wildcards_grant_shared_subscriptions_as_patterns_and_deny_removes_them() -> None:
    arn = "arn:aws:iot:us-east-1:123456789012"
    everything = {"Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}
    group = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": f"{arn}:topicfilter/$share/g/*",
            },
            {"Effect": "Deny", "Action": "iot:Subscribe", "Resource": f"{arn}:topicfilter/*"},
        ]
    }
    binding = CertificateBinding("ff", ("p",))
    assert shared_subscription_filters({"p": everything}, binding) == (
        SharedFilter("$share/#", literal=False),
    )
    assert shared_subscription_filters({"p": group}, binding) == ()
    del group["Statement"][1]
    assert shared_subscription_filters({"p": group}, binding) == (
        SharedFilter("$share/g/#", literal=False),
    )


def test_desired_state_denies_shared_subscriptions_to_all_but_the_bridge() -> None:
    state = desired_state(POLICIES, [BRIDGE, CAMERA], {"b1d9e", "ca3e7a", "0ld"}, ADMIN)
    assert state.clients["ca3e7a"] == {NO_SHARED_ROLE}
    assert state.clients["0ld"] == {NO_SHARED_ROLE}  # a certificate that is no longer ACTIVE
    assert state.clients[ADMIN] == {ADMIN_ROLE}
    [shared] = state.clients["b1d9e"] - {NO_SHARED_ROLE}
    assert shared.startswith(SHARED_ROLE_PREFIX)
    assert {(a.acltype, a.topic, a.allow) for a in state.roles[shared]} == {
        ("subscribeLiteral", f"$share/camfleet-bridge/fleet/+/{kind}", True)
        for kind in ("status", "health", "motion")
    }
    [deny] = state.roles[NO_SHARED_ROLE]
    assert (deny.acltype, deny.topic, deny.allow) == ("subscribePattern", "$share/#", False)
    assert min(a.priority for a in state.roles[shared]) > deny.priority


def test_from_an_empty_plugin_everything_is_created_and_then_nothing_changes() -> None:
    desired = desired_state(POLICIES, [BRIDGE, CAMERA], {"b1d9e", "ca3e7a"}, ADMIN)
    commands = converge_commands(DynsecState(), desired)
    created_roles = {c["rolename"] for c in commands if c["command"] == "createRole"}
    created_clients = {c["username"] for c in commands if c["command"] == "createClient"}
    assert created_roles == set(desired.roles)
    assert created_clients == {"b1d9e", "ca3e7a", ADMIN}
    first_client = next(i for i, c in enumerate(commands) if c["command"] == "createClient")
    assert all(c["command"] == "createRole" for c in commands[:first_client])
    assert converge_commands(desired, desired) == []


def test_a_forgotten_identity_keeps_only_the_deny_role_and_unused_roles_go() -> None:
    before = desired_state(POLICIES, [BRIDGE, CAMERA], {"b1d9e", "ca3e7a"}, ADMIN)
    after = desired_state(POLICIES, [CAMERA], {"ca3e7a"}, ADMIN)  # the bridge cert was deleted
    commands = converge_commands(before, after)
    [old_shared] = set(before.roles) - set(after.roles)
    assert {"command": "deleteRole", "rolename": old_shared} in commands
    modify = [c for c in commands if c["command"] == "modifyClient"]
    assert modify == [
        {
            "command": "modifyClient",
            "username": "b1d9e",
            "roles": [{"rolename": NO_SHARED_ROLE, "priority": 0}],
        }
    ]
    assert not any(c["command"] == "deleteClient" for c in commands)


def test_the_plugins_list_replies_are_parsed() -> None:
    replies = [
        {
            "command": "listClients",
            "data": {
                "totalCount": 2,
                "clients": [
                    {"username": ADMIN, "roles": [{"rolename": ADMIN_ROLE}], "groups": []},
                    {
                        "username": "ca3e7a",
                        "roles": [{"rolename": NO_SHARED_ROLE, "priority": 0}],
                        "groups": [],
                    },
                ],
            },
        },
        {
            "command": "listRoles",
            "data": {
                "totalCount": 1,
                "roles": [
                    {
                        "rolename": NO_SHARED_ROLE,
                        "acls": [
                            {
                                "acltype": "subscribePattern",
                                "topic": "$share/#",
                                "priority": 0,
                                "allow": False,
                            }
                        ],
                    }
                ],
            },
        },
    ]
    observed = parse_lists(replies)
    assert observed.clients == {ADMIN: {ADMIN_ROLE}, "ca3e7a": {NO_SHARED_ROLE}}
    desired = desired_state(POLICIES, [CAMERA], {"ca3e7a"}, ADMIN)
    assert [c["command"] for c in converge_commands(observed, desired)] == ["createRole"]
