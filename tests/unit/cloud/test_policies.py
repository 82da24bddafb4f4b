import json

import pytest

from cloud.policies import POLICY_DIR, PolicyName, canonical, placeholders, render

VALUES = {
    "AccountId": "123456789012",
    "Partition": "aws",
    "Region": "eu-west-1",
    "ProcessorArn": "arn:aws:rekognition:eu-west-1:123456789012:streamprocessor/camfleet-cam1",
    "StreamArn": "arn:aws:kinesisvideo:eu-west-1:123456789012:stream/cam1/1700000000000",
    "Bucket": "camfleet-results",
    "KeyPrefix": "cameras/cam1",
    "TopicArn": "arn:aws:sns:eu-west-1:123456789012:camfleet-rekognition",
    "RoleAliasArn": "arn:aws:iot:eu-west-1:123456789012:rolealias/camfleet-kvs-producer",
    "Fleet": "camfleet",
}


def _render(name: PolicyName) -> dict:  # type: ignore[type-arg]
    return render(name, **{k: VALUES[k] for k in placeholders(name)})


@pytest.mark.parametrize("name", list(PolicyName))
def test_every_document_is_valid_json_and_fully_rendered(name: PolicyName) -> None:
    json.loads((POLICY_DIR / f"{name.value}.json").read_text())
    assert "{{" not in json.dumps(_render(name))


def test_rekognition_trust_names_the_processor_and_account() -> None:
    statement = _render(PolicyName.REKOGNITION_TRUST)["Statement"][0]
    assert statement["Principal"] == {"Service": "rekognition.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"] == VALUES["ProcessorArn"]
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"


def test_rekognition_permissions_are_confined_to_the_camera() -> None:
    statements = _render(PolicyName.REKOGNITION_PERMISSIONS)["Statement"]
    resources = {s["Sid"]: s["Resource"] for s in statements}
    assert resources["ReadThisCamerasStream"] == VALUES["StreamArn"]
    assert resources["WriteThisCamerasResults"] == "arn:aws:s3:::camfleet-results/cameras/cam1/*"
    assert resources["NotifyTheFleetTopic"] == VALUES["TopicArn"]
    assert not any(s["Resource"] == "*" for s in statements)


def test_camera_policy_keeps_policy_variables() -> None:
    text = json.dumps(_render(PolicyName.IOT_CAMERA))
    assert "${iot:Connection.Thing.ThingName}" in text
    assert "topic/fleet/${iot:Connection.Thing.ThingName}/motion" in text
    assert 'iot:Publish", "Resource": "*' not in text


def test_bridge_policy_is_least_privilege() -> None:
    """Connect only as a bridge replica, subscribe only through the fleet's shared subscription
    (IoT's documented form: `topicfilter/$share/<group>/<filter>`), receive only the cameras'
    status, health and motion, publish nothing."""
    arn = "arn:aws:iot:eu-west-1:123456789012"
    statements = _render(PolicyName.IOT_BRIDGE)["Statement"]
    by_action: dict[str, list[str]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        resources = statement["Resource"]
        by_action.setdefault(statement["Action"], []).extend(
            [resources] if isinstance(resources, str) else resources
        )
    assert by_action == {
        "iot:Connect": [f"{arn}:client/camfleet-bridge-*"],
        "iot:Subscribe": [
            f"{arn}:topicfilter/$share/camfleet-bridge/fleet/+/{kind}"
            for kind in ("status", "health", "motion")
        ],
        "iot:Receive": [f"{arn}:topic/fleet/*/{kind}" for kind in ("status", "health", "motion")],
    }


def test_producer_role_cannot_create_streams() -> None:
    statement = _render(PolicyName.KVS_PRODUCER_PERMISSIONS)["Statement"][0]
    assert "kinesisvideo:CreateStream" not in statement["Action"]
    assert statement["Resource"].endswith(":stream/${credentials-iot:ThingName}/*")


def test_missing_or_unknown_values_are_errors() -> None:
    with pytest.raises(KeyError, match="missing"):
        render(PolicyName.REKOGNITION_TRUST, AccountId="1")
    with pytest.raises(KeyError, match="unknown"):
        render(PolicyName.KVS_PRODUCER_TRUST, Extra="x")


def test_canonical_ignores_order_and_whitespace() -> None:
    assert canonical('{"b": 1, "a": [1, 2]}') == canonical({"a": [1, 2], "b": 1})
