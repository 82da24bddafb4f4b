"""The MQTT bridge's own credentials: exactly the calls of a replica, on the fleet's resources."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import pytest

from cloud.naming import FleetNames
from cloud.policies import PolicyName, render
from cloud.shadow import SHADOW_NAME
from tests.support.policy_grants import as_list, grants

FLEET = FleetNames("camfleet", "123456789012", "eu-west-1")
OTHER = FleetNames("yardfleet", "123456789012", "eu-west-1")
IOT = "arn:aws:iot:eu-west-1:123456789012"
# Calls whose resources no name of the fleet can confine: things are named by camera id alone,
# and DescribeEndpoint, ListThings and ListStreamProcessors have no resource-level permissions.
_NOT_BY_NAME = {
    "iot:UpdateThingShadow",
    "iot:GetThingShadow",
    "iot:DescribeThing",
    "iot:DescribeEndpoint",
    "iot:ListThings",
    "rekognition:ListStreamProcessors",
}


def _bridge(names: FleetNames = FLEET) -> list[dict[str, Any]]:
    document = render(PolicyName.BRIDGE_PERMISSIONS, **names.arn_context(), Fleet=names.fleet)
    statements: list[dict[str, Any]] = document["Statement"]
    return statements


def _table_arn(names: FleetNames) -> str:
    return f"arn:aws:dynamodb:eu-west-1:123456789012:table/{names.analysis_table}"


def test_the_bridge_gets_exactly_the_calls_of_a_replica() -> None:
    queue = [FLEET.queue_arn(FLEET.analysis_queue)]
    table = [_table_arn(FLEET)]
    processors = [FLEET.processor_arn("cam").removesuffix("cam") + "*"]
    assert grants(_bridge()) == {
        "iot:UpdateThingShadow": [f"{IOT}:thing/*/{SHADOW_NAME}"],
        "iot:GetThingShadow": [f"{IOT}:thing/*/{SHADOW_NAME}"],
        "iot:DescribeThing": [f"{IOT}:thing/*"],
        "iot:DescribeThingGroup": [f"{IOT}:thinggroup/{FLEET.thing_group}"],
        "iot:DescribeEndpoint": ["*"],
        "iot:ListThings": ["*"],
        "rekognition:StartStreamProcessor": processors,
        "rekognition:DescribeStreamProcessor": processors,
        "rekognition:ListStreamProcessors": ["*"],
        "sqs:GetQueueUrl": queue,
        "sqs:SendMessage": queue,
        "dynamodb:GetItem": table,
        "dynamodb:UpdateItem": table,
        "dynamodb:Scan": table,
    }


def test_no_wildcard_action_no_exclusion_and_nothing_that_creates_or_deletes() -> None:
    for statement in _bridge():
        assert statement["Effect"] == "Allow"
        assert not {"NotAction", "NotResource", "NotPrincipal"} & statement.keys()
        for action in as_list(statement["Action"]):
            service, _, name = action.partition(":")
            assert service and name and not set(name) & {"*", "?"}, action
            assert not name.startswith(("Create", "Delete", "Stop", "Put", "Attach")), action


def test_calls_on_every_resource_are_kept_to_the_fleets_region() -> None:
    everywhere = [s for s in _bridge() if "*" in as_list(s["Resource"])]
    assert {a for s in everywhere for a in as_list(s["Action"])} == {
        "iot:DescribeEndpoint",
        "iot:ListThings",
        "rekognition:ListStreamProcessors",
    }
    for statement in everywhere:
        assert statement["Condition"] == {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}


@pytest.mark.parametrize(
    ("action", "arn", "allowed"),
    [
        ("iot:UpdateThingShadow", f"{IOT}:thing/porch/{SHADOW_NAME}", True),
        ("iot:UpdateThingShadow", f"{IOT}:thing/porch", False),  # the classic shadow
        ("iot:UpdateThingShadow", f"{IOT}:thing/porch/firmware", False),  # another named shadow
        ("iot:GetThingShadow", f"{IOT}:thing/porch/{SHADOW_NAME}", True),
        ("iot:DescribeThingGroup", f"{IOT}:thinggroup/{FLEET.thing_group}", True),
        ("iot:DescribeThingGroup", f"{IOT}:thinggroup/{OTHER.thing_group}", False),
        ("rekognition:StartStreamProcessor", FLEET.processor_arn("porch"), True),
        ("rekognition:StartStreamProcessor", OTHER.processor_arn("porch"), False),
        ("sqs:SendMessage", FLEET.queue_arn(FLEET.analysis_queue), True),
        ("sqs:SendMessage", FLEET.queue_arn(FLEET.analysis_dlq), False),
        ("sqs:SendMessage", FLEET.queue_arn(FLEET.results_queue), False),
        ("sqs:SendMessage", OTHER.queue_arn(OTHER.analysis_queue), False),
        ("dynamodb:UpdateItem", _table_arn(FLEET), True),
        (
            "dynamodb:UpdateItem",
            f"arn:aws:dynamodb:eu-west-1:123456789012:table/{FLEET.detections_table}",
            False,
        ),
        ("dynamodb:Scan", _table_arn(OTHER), False),
    ],
)
def test_each_grant_covers_the_fleets_resource_and_none_of_its_neighbours(
    action: str, arn: str, allowed: bool
) -> None:
    assert any(fnmatchcase(arn, p) for p in grants(_bridge())[action]) is allowed


def test_no_named_grant_of_one_fleet_covers_another_fleets_resource() -> None:
    ours, theirs = grants(_bridge()), grants(_bridge(OTHER))
    assert ours.keys() == theirs.keys()
    for action in ours.keys() - _NOT_BY_NAME:
        for pattern in ours[action]:
            assert FLEET.fleet in pattern, (action, pattern)
            assert not any(fnmatchcase(r, pattern) for r in theirs[action]), (action, pattern)


def test_a_fleet_named_as_this_one_plus_a_dash_shares_its_processor_grant() -> None:
    """Processors are named `<fleet>-<camera>`, so `camfleet-*` also covers fleet
    `camfleet-2`'s: docs/deployment.md says to keep such fleets in separate accounts."""
    extended = FleetNames("camfleet-2", "123456789012", "eu-west-1")
    (pattern,) = grants(_bridge())["rekognition:StartStreamProcessor"]
    assert fnmatchcase(extended.processor_arn("porch"), pattern)
