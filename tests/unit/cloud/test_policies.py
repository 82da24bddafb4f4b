import json
from fnmatch import fnmatchcase
from typing import Any

import pytest

from cloud.naming import RESULTS_ROOT, FleetNames
from cloud.policies import POLICY_DIR, PolicyName, canonical, placeholders, render
from cloud.tags import OWNER_KEY
from tests.support.policy_grants import as_list, grants

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


def test_every_document_in_the_folder_is_listed() -> None:
    """A document that `PolicyName` does not list is rendered, and checked, by nobody."""
    assert {p.stem for p in POLICY_DIR.glob("*.json")} == {n.value for n in PolicyName}


# The analysis workers' own credentials (the frames analyzer): least privilege, fleet by fleet.

FLEET = FleetNames("camfleet", "123456789012", "eu-west-1")
OTHER = FleetNames("camfleet-2", "123456789012", "eu-west-1")
# Grants that no name of the fleet can confine: things are named by camera id and carry no tags,
# DetectLabels has no resource-level permissions, and streams (named by camera id too) are
# confined by the fleet's tag instead.
_NOT_BY_NAME = {
    "iot:DescribeThing",
    "rekognition:DetectLabels",
    "kinesisvideo:DescribeStream",
    "kinesisvideo:GetDataEndpoint",
    "kinesisvideo:GetImages",
}


def _worker(names: FleetNames = FLEET) -> list[dict[str, Any]]:
    document = render(
        PolicyName("analyzer-worker"),
        **names.arn_context(),
        Fleet=names.fleet,
        Bucket=names.results_bucket,
    )
    statements: list[dict[str, Any]] = document["Statement"]
    return statements


def _table_arn(names: FleetNames, table: str) -> str:
    return f"arn:{names.partition}:dynamodb:{names.region}:{names.account_id}:table/{table}"


def test_analysis_workers_get_exactly_the_calls_of_a_session_on_the_fleets_resources() -> None:
    queue = [FLEET.queue_arn(FLEET.analysis_queue)]
    dlq = [FLEET.queue_arn(FLEET.analysis_dlq)]
    table = [_table_arn(FLEET, FLEET.analysis_table)]
    streams = [FLEET.stream_arn_pattern("any").replace("/any/", "/*/")]
    assert grants(_worker()) == {
        "sqs:GetQueueUrl": queue + dlq,
        "sqs:SendMessage": dlq,  # a message no worker can use goes there with its reason
        "sqs:ReceiveMessage": queue,
        "sqs:DeleteMessage": queue,
        "sqs:ChangeMessageVisibility": queue,
        "dynamodb:GetItem": table,
        "dynamodb:UpdateItem": table,
        "iot:DescribeThing": [FLEET.iot_arn("thing/*")],
        "kinesisvideo:DescribeStream": streams,
        "kinesisvideo:GetDataEndpoint": streams,
        "kinesisvideo:GetImages": streams,
        "rekognition:DetectLabels": ["*"],
        "s3:PutObject": [f"arn:aws:s3:::{FLEET.results_bucket}/{RESULTS_ROOT}*"],
        "sns:Publish": [FLEET.topic_arn()],
    }


def test_analysis_workers_get_no_wildcard_action_and_no_exclusion() -> None:
    for statement in _worker():
        assert statement["Effect"] == "Allow"
        assert not {"NotAction", "NotResource", "NotPrincipal"} & statement.keys()
        for action in as_list(statement["Action"]):
            service, _, name = action.partition(":")
            assert service and name and not set(name) & {"*", "?"}, action


def test_only_detect_labels_is_on_every_resource_and_only_in_the_fleets_region() -> None:
    (everywhere,) = [s for s in _worker() if "*" in as_list(s["Resource"])]
    assert everywhere["Action"] == "rekognition:DetectLabels"
    assert everywhere["Resource"] == "*"
    assert everywhere["Condition"] == {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}


def test_analysis_workers_read_only_streams_tagged_as_the_fleets() -> None:
    (streams,) = [s for s in _worker() if "kinesisvideo:GetImages" in as_list(s["Action"])]
    assert streams["Condition"] == {"StringEquals": {f"aws:ResourceTag/{OWNER_KEY}": "camfleet"}}
    (others,) = [s for s in _worker(OTHER) if "kinesisvideo:GetImages" in as_list(s["Action"])]
    assert others["Condition"]["StringEquals"][f"aws:ResourceTag/{OWNER_KEY}"] == "camfleet-2"


@pytest.mark.parametrize(
    ("action", "resource", "allowed"),
    [
        ("s3:PutObject", f"{FLEET.results_bucket}/cameras/porch/s1/PERSON-1/frame.jpg", True),
        ("s3:PutObject", f"{FLEET.results_bucket}/exports/porch.jpg", False),
        ("s3:PutObject", f"{FLEET.results_bucket}-copy/cameras/porch/frame.jpg", False),
        ("s3:PutObject", f"{OTHER.results_bucket}/cameras/porch/frame.jpg", False),
        ("sqs:ReceiveMessage", FLEET.queue_arn(FLEET.analysis_queue), True),
        ("sqs:ReceiveMessage", FLEET.queue_arn(FLEET.analysis_dlq), False),
        ("sqs:ReceiveMessage", FLEET.queue_arn(FLEET.results_queue), False),
        ("sqs:ReceiveMessage", OTHER.queue_arn(OTHER.analysis_queue), False),
        ("sqs:SendMessage", FLEET.queue_arn(FLEET.analysis_dlq), True),
        ("sqs:SendMessage", FLEET.queue_arn(FLEET.analysis_queue), False),
        ("sqs:SendMessage", FLEET.queue_arn(FLEET.results_dlq), False),
        ("sqs:SendMessage", OTHER.queue_arn(OTHER.analysis_dlq), False),
        ("dynamodb:UpdateItem", _table_arn(FLEET, FLEET.analysis_table), True),
        ("dynamodb:UpdateItem", _table_arn(FLEET, FLEET.detections_table), False),
        ("dynamodb:UpdateItem", _table_arn(OTHER, OTHER.analysis_table), False),
        ("sns:Publish", FLEET.topic_arn(), True),
        ("sns:Publish", FLEET.user_notifications_topic_arn(), False),
        ("sns:Publish", OTHER.topic_arn(), False),
    ],
)
def test_each_grant_covers_the_fleets_resource_and_none_of_its_neighbours(
    action: str, resource: str, allowed: bool
) -> None:
    arn = resource if resource.startswith("arn:") else f"arn:aws:s3:::{resource}"
    patterns = grants(_worker())[action]
    assert any(fnmatchcase(arn, p) for p in patterns) is allowed


def test_no_named_grant_of_one_fleet_covers_another_fleets_resource() -> None:
    ours, theirs = grants(_worker()), grants(_worker(OTHER))
    assert ours.keys() == theirs.keys()
    for action in ours.keys() - _NOT_BY_NAME:
        for pattern in ours[action]:
            assert FLEET.fleet in pattern or FLEET.results_bucket in pattern, (action, pattern)
            assert not any(fnmatchcase(r, pattern) for r in theirs[action]), (action, pattern)
