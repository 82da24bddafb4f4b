"""The teardown plan and the ownership decisions behind it: pure, from inventories and markers."""

from __future__ import annotations

import json

import pytest

from cloud.naming import FleetNames
from cloud.policies import PolicyName, render
from cloud.tags import fleet_tags
from cloud.teardown.models import Inventory, Kind, Resource
from cloud.teardown.ownership import (
    by_attribute,
    by_description,
    by_policy_grant,
    by_role_alias,
    by_tags,
    camera_of,
    camera_of_filter_policy,
)
from cloud.teardown.plan import CAMERA_ORDER, FLEET_ORDER, build_plan

NAMES = FleetNames("camfleet", "123456789012", "eu-west-1")
CERT = "arn:aws:iot:eu-west-1:123456789012:cert/"


def _camera(camera: str, *, session: bool = False) -> list[Resource]:
    """What registration leaves for one camera (in no particular order)."""
    resources = [
        Resource(kind=Kind.SUBSCRIPTION, name=f"sub-{camera}", camera=camera, parent="topic"),
        Resource(kind=Kind.ROLE, name=NAMES.rekognition_role(camera), camera=camera),
        Resource(kind=Kind.STREAM, name=camera, camera=camera),
        Resource(kind=Kind.THING, name=camera, camera=camera),
        Resource(kind=Kind.SHADOW, name="camera-status", camera=camera, parent=camera),
        Resource(kind=Kind.CERTIFICATE, name=f"{CERT}{camera}", camera=camera, parent=camera),
        Resource(kind=Kind.RESULTS, name=f"cameras/{camera}/", camera=camera, parent="b", count=3),
        Resource(kind=Kind.DETECTIONS, name=camera, camera=camera, parent="t", count=2),
        Resource(kind=Kind.ANALYSIS_ITEM, name=camera, camera=camera, parent=NAMES.analysis_table),
        Resource(kind=Kind.PROCESSOR, name=NAMES.processor(camera), camera=camera),
    ]
    if session:
        resources.append(Resource(kind=Kind.SESSION, name=NAMES.processor(camera), camera=camera))
    return resources


FLEET_LEVEL = [
    Resource(kind=Kind.THING_GROUP, name=NAMES.thing_group),
    Resource(kind=Kind.ROLE, name=NAMES.producer_role),
    Resource(kind=Kind.ROLE_ALIAS, name=NAMES.role_alias),
    Resource(kind=Kind.IOT_POLICY, name=NAMES.iot_policy),
    Resource(kind=Kind.IOT_POLICY, name=NAMES.bridge_policy),
    Resource(kind=Kind.THING, name=NAMES.bridge_thing),
    Resource(kind=Kind.CERTIFICATE, name=f"{CERT}bridge", parent=NAMES.bridge_thing),
    Resource(kind=Kind.CERTIFICATE, name=f"{CERT}orphan"),
    Resource(kind=Kind.BUCKET, name=NAMES.results_bucket, count=6),
    Resource(kind=Kind.TABLE, name=NAMES.detections_table),
    Resource(kind=Kind.ANALYSIS_TABLE, name=NAMES.analysis_table),
    Resource(kind=Kind.QUEUE, name=NAMES.analysis_dlq),
    Resource(kind=Kind.QUEUE, name=NAMES.results_dlq),
    Resource(kind=Kind.QUEUE, name=NAMES.analysis_queue),
    Resource(kind=Kind.QUEUE, name=NAMES.results_queue),
    Resource(kind=Kind.TOPIC, name=NAMES.topic_arn()),
    Resource(kind=Kind.SUBSCRIPTION, name="queue-sub", parent=NAMES.topic_arn()),
]


def _whole(*resources: Resource) -> Inventory:
    return Inventory(fleet="camfleet", resources=resources)


def test_each_camera_in_the_documented_order_then_the_fleet() -> None:
    inventory = _whole(*FLEET_LEVEL, *_camera("porch", session=True), *_camera("garage"))
    plan = build_plan(inventory)

    assert [c.camera_id for c in plan.cameras] == ["garage", "porch"]
    porch = [s.resource.kind for s in plan.cameras[1].steps]
    assert porch == list(CAMERA_ORDER)
    garage = [s.resource.kind for s in plan.cameras[0].steps]
    assert garage == [k for k in CAMERA_ORDER if k is not Kind.SESSION]
    fleet = [s.resource.kind for s in plan.fleet_steps]
    assert fleet == sorted(fleet, key=FLEET_ORDER.index)
    assert fleet[0] is Kind.SUBSCRIPTION and fleet[-1] is Kind.THING_GROUP
    queues = [s.resource.name for s in plan.fleet_steps if s.resource.kind is Kind.QUEUE]
    # Each redrive source before its dead-letter queue.
    assert queues == [
        NAMES.analysis_queue,
        NAMES.analysis_dlq,
        NAMES.results_queue,
        NAMES.results_dlq,
    ]
    assert plan.steps[-1].resource.kind is Kind.THING_GROUP
    assert len(plan.steps) == len(inventory.resources)


def test_steps_wait_for_what_holds_them() -> None:
    plan = build_plan(_whole(*FLEET_LEVEL, *_camera("porch", session=True), *_camera("garage")))
    steps = {s.key: s for s in plan.steps}

    def after(kind: Kind, name: str) -> set[str]:
        (step,) = [s for s in plan.steps if s.resource.kind is kind and s.resource.name == name]
        return {steps[k].resource.name for k in step.after}

    assert after(Kind.PROCESSOR, NAMES.processor("porch")) == {NAMES.processor("porch")}
    assert after(Kind.PROCESSOR, NAMES.processor("garage")) == set()
    assert after(Kind.THING, "porch") == {f"{CERT}porch", "camera-status"}
    assert after(Kind.THING, NAMES.bridge_thing) == {f"{CERT}bridge"}
    assert after(Kind.IOT_POLICY, NAMES.iot_policy) == {
        f"{CERT}porch",
        f"{CERT}garage",
        f"{CERT}bridge",
        f"{CERT}orphan",
    }
    assert after(Kind.ROLE, NAMES.producer_role) == {NAMES.role_alias}
    assert after(Kind.ROLE, NAMES.rekognition_role("porch")) == set()
    assert after(Kind.STREAM, "porch") == set()
    # Every step waits only for steps that come before it.
    order = [s.key for s in plan.steps]
    for position, step in enumerate(plan.steps):
        assert all(order.index(k) < position for k in step.after), step.key


def test_fleet_level_resources_go_only_with_the_whole_fleet() -> None:
    inventory = Inventory(
        fleet="camfleet", cameras=("porch",), resources=(*FLEET_LEVEL, *_camera("porch"))
    )
    plan = build_plan(inventory)
    assert plan.fleet_steps == ()
    assert [c.camera_id for c in plan.cameras] == ["porch"]
    assert not plan.whole_fleet


def test_keep_results_keeps_the_objects_records_bucket_and_table() -> None:
    plan = build_plan(_whole(*FLEET_LEVEL, *_camera("porch")), keep_results=True)
    kept = {r.kind for r in plan.kept}
    assert kept == {Kind.RESULTS, Kind.DETECTIONS, Kind.BUCKET, Kind.TABLE}
    planned = {s.resource.kind for s in plan.steps}
    assert not planned & kept
    assert Kind.STREAM in planned and Kind.TOPIC in planned
    # The frames analyzer's table and items hold sessions, not results.
    assert {Kind.ANALYSIS_TABLE, Kind.ANALYSIS_ITEM} <= planned


def test_an_empty_inventory_is_an_empty_plan() -> None:
    plan = build_plan(_whole())
    assert plan.empty and plan.steps == []
    assert not build_plan(_whole(*_camera("porch"))).empty


def test_a_camera_known_only_from_its_stream_is_planned_like_any_other() -> None:
    """A registration that failed half-way: no thing, no processor, a stream and a role."""
    half = [
        Resource(kind=Kind.ROLE, name=NAMES.rekognition_role("half"), camera="half"),
        Resource(kind=Kind.STREAM, name="half", camera="half"),
    ]
    plan = build_plan(_whole(*half))
    assert [(c.camera_id, [s.resource.kind for s in c.steps]) for c in plan.cameras] == [
        ("half", [Kind.STREAM, Kind.ROLE])
    ]


# Ownership.


@pytest.mark.parametrize(
    ("tags", "ours", "reason"),
    [
        (fleet_tags("camfleet", "porch"), True, "tagged camera-fleet:fleet=camfleet"),
        (fleet_tags("camfleet-2"), False, "fleet 'camfleet-2'"),
        ({"owner": "bob"}, False, "not made by a camera fleet"),
        ({}, False, "not made by a camera fleet"),
    ],
)
def test_tags_decide_who_owns_a_tagged_resource(
    tags: dict[str, str], ours: bool, reason: str
) -> None:
    verdict = by_tags(tags, "camfleet")
    assert verdict.ours is ours and reason in verdict.reason


def test_a_things_attribute_decides() -> None:
    assert by_attribute({"fleet": "camfleet"}, "fleet", "camfleet").ours
    assert not by_attribute({"fleet": "other"}, "fleet", "camfleet").ours
    assert not by_attribute({"labels": "PERSON"}, "fleet", "camfleet").ours
    # The bridge's thing is marked by its own attribute, never the cameras'.
    assert not by_attribute({"fleet_bridge": "camfleet"}, "fleet", "camfleet").ours


def test_the_camera_of_a_tagged_resource_is_its_tag_else_its_name() -> None:
    assert camera_of(fleet_tags("camfleet", "porch"), "from-name") == "porch"
    assert camera_of(fleet_tags("camfleet"), "from-name") == "from-name"


def test_the_fleets_own_iot_policies_are_recognised_by_what_they_grant() -> None:
    context = NAMES.arn_context()
    camera_policy = render(PolicyName.IOT_CAMERA, **context, RoleAliasArn=NAMES.role_alias_arn())
    assert by_policy_grant(
        camera_policy, "iot:AssumeRoleWithCertificate", NAMES.role_alias_arn()
    ).ours
    other = FleetNames("other", "123456789012", "eu-west-1")
    foreign = render(PolicyName.IOT_CAMERA, **context, RoleAliasArn=other.role_alias_arn())
    assert not by_policy_grant(
        foreign, "iot:AssumeRoleWithCertificate", NAMES.role_alias_arn()
    ).ours
    bridge = render(PolicyName.IOT_BRIDGE, **context, Fleet="camfleet")
    clients = "arn:aws:iot:eu-west-1:123456789012:client/camfleet-bridge-*"
    assert by_policy_grant(bridge, "iot:Connect", clients).ours
    anything = {"Statement": {"Effect": "Allow", "Action": "iot:*", "Resource": "*"}}
    assert not by_policy_grant(anything, "iot:Connect", clients).ours
    denied = {"Statement": [{"Effect": "Deny", "Action": ["iot:Connect"], "Resource": [clients]}]}
    assert not by_policy_grant(denied, "iot:Connect", clients).ours


def test_a_role_alias_is_the_fleets_when_it_hands_out_the_fleets_producer_role() -> None:
    producer = NAMES.role_arn(NAMES.producer_role)
    assert by_role_alias(producer, producer, producer_role_ours=True).ours
    assert not by_role_alias(producer, producer, producer_role_ours=False).ours
    assert not by_role_alias(NAMES.role_arn("admin"), producer, producer_role_ours=True).ours


def test_the_thing_group_is_the_fleets_by_its_description() -> None:
    assert by_description("cameras of fleet camfleet", "cameras of fleet camfleet").ours
    assert not by_description("", "cameras of fleet camfleet").ours


@pytest.mark.parametrize(
    ("policy", "camera"),
    [
        (json.dumps({"camera": ["porch"]}), "porch"),
        (json.dumps({"camera": ["porch"], "label": ["PERSON"]}), "porch"),
        (json.dumps({"camera": ["porch", "garage"]}), None),
        (json.dumps({"label": ["PERSON"]}), None),
        (json.dumps({"camera": [{"prefix": "p"}]}), None),
        ("not json", None),
        (None, None),
    ],
)
def test_a_subscription_is_a_cameras_when_its_filter_selects_only_that_camera(
    policy: str | None, camera: str | None
) -> None:
    assert camera_of_filter_policy(policy) == camera


def test_a_results_key_belongs_to_the_camera_of_its_prefix() -> None:
    assert NAMES.camera_from_results_key("cameras/porch/camfleet-porch/s1/f.jpg") == "porch"
    assert NAMES.camera_from_results_key("cameras/porch") is None
    assert NAMES.camera_from_results_key("cameras/Porch!/x") is None
    assert NAMES.camera_from_results_key("exports/porch/x") is None
    assert NAMES.camera_from_role(NAMES.rekognition_role("porch")) == "porch"
