"""The mosquitto ACL rendered from real IoT policy JSON."""

from __future__ import annotations

import json

import pytest

from stack.broker.acl import CertificateBinding, iot_pattern_to_mqtt, render_acl

ARN = "arn:aws:iot:us-east-1:123456789012"
CAMERA_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": f"{ARN}:client/${{iot:Connection.Thing.ThingName}}",
            },
            {
                "Effect": "Allow",
                "Action": ["iot:Publish"],
                "Resource": [
                    f"{ARN}:topic/fleet/${{iot:Connection.Thing.ThingName}}/*",
                    f"{ARN}:topic/$aws/things/${{iot:Connection.Thing.ThingName}}/shadow/update",
                ],
            },
            {
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": f"{ARN}:topicfilter/fleet/${{iot:Connection.Thing.ThingName}}/commands",
            },
            {
                "Effect": "Allow",
                "Action": "iot:Receive",
                "Resource": f"{ARN}:topic/fleet/${{iot:Connection.Thing.ThingName}}/commands",
            },
        ],
    }
)


def _lines(text: str, user: str) -> list[str]:
    sections = [s for s in text.split("\n\n") if s.startswith(f"user {user}\n")]
    assert len(sections) == 1, text
    return sections[0].strip().splitlines()[1:]


def test_camera_policy_confines_each_identity_to_its_thing_topics() -> None:
    text = render_acl(
        {"camera": CAMERA_POLICY},
        [CertificateBinding("c0ffee", ("camera",), ("cam-1",))],
    )
    assert _lines(text, "c0ffee") == [
        "topic read fleet/cam-1/commands",
        "topic write $aws/things/cam-1/shadow/update",
        "topic write fleet/cam-1/#",
    ]


def test_identity_without_thing_gets_no_thing_variable_lines() -> None:
    text = render_acl({"camera": CAMERA_POLICY}, [CertificateBinding("abc", ("camera",), ())])
    assert _lines(text, "abc") == []


def test_two_things_and_unbound_certificates() -> None:
    text = render_acl(
        {"camera": CAMERA_POLICY},
        [
            CertificateBinding("one", ("camera",), ("cam-a", "cam-b")),
            CertificateBinding("nopolicy", (), ("cam-c",)),
        ],
    )
    assert "topic write fleet/cam-a/#" in _lines(text, "one")
    assert "topic write fleet/cam-b/#" in _lines(text, "one")
    assert "user nopolicy" not in text


def test_wildcard_actions_resources_deny_and_common_name() -> None:
    policy = {
        "Statement": [
            {"Effect": "Allow", "Action": "iot:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "iot:Publish", "Resource": f"{ARN}:topic/admin/*"},
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": f"{ARN}:topic/id/${{iot:Certificate.Subject.CommonName}}",
            },
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": f"{ARN}:topic/x/${{iot:ClientId}}",
            },
        ]
    }
    lines = _lines(render_acl({"p": policy}, [CertificateBinding("ff01", ("p",))]), "ff01")
    assert lines[0] == "topic deny admin/#"
    assert "topic read #" in lines
    assert "topic write #" in lines
    assert "topic write id/ff01" in lines
    assert not any("ClientId" in line or "x/" in line for line in lines)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("fleet/cam/*", "fleet/cam/#"),
        ("fleet/*/motion", "fleet/+/motion"),
        ("*", "#"),
        ("fleet/cam*", None),
        ("fleet/ca?/x", None),
        ("plain/topic", "plain/topic"),
    ],
)
def test_iot_pattern_to_mqtt(pattern: str, expected: str | None) -> None:
    assert iot_pattern_to_mqtt(pattern) == expected
