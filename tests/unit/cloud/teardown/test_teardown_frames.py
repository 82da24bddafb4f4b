"""The frames analyzer's resources in a teardown plan: its analysis queue (with dead letters) and
table for the whole fleet, each camera's item in the table for a camera."""

from __future__ import annotations

from cloud.naming import FleetNames
from cloud.teardown.models import Inventory, Kind, Resource, Service
from cloud.teardown.plan import ACTIONS, CAMERA_ORDER, FLEET_ORDER, build_plan

NAMES = FleetNames("camfleet", "123456789012", "eu-west-1")


def _item(camera: str) -> Resource:
    return Resource(
        kind=Kind.ANALYSIS_ITEM, name=camera, camera=camera, parent=NAMES.analysis_table
    )


def _camera(camera: str) -> list[Resource]:
    return [
        Resource(kind=Kind.RESULTS, name=f"cameras/{camera}/", camera=camera, parent="b", count=1),
        Resource(kind=Kind.STREAM, name=camera, camera=camera),
        _item(camera),
        Resource(kind=Kind.THING, name=camera, camera=camera),
        Resource(kind=Kind.PROCESSOR, name=NAMES.processor(camera), camera=camera),
    ]


FRAMES_FLEET_LEVEL = (
    Resource(kind=Kind.ANALYSIS_TABLE, name=NAMES.analysis_table),
    Resource(kind=Kind.QUEUE, name=NAMES.analysis_dlq),
    Resource(kind=Kind.QUEUE, name=NAMES.analysis_queue),
    Resource(kind=Kind.TABLE, name=NAMES.detections_table),
    Resource(kind=Kind.TOPIC, name=NAMES.topic_arn()),
)


def test_every_kind_has_a_place_an_action_and_a_service() -> None:
    assert set(CAMERA_ORDER) | set(FLEET_ORDER) == set(Kind)
    assert set(ACTIONS) == set(Kind)
    assert Kind.ANALYSIS_ITEM.service is Service.DYNAMODB
    assert Kind.ANALYSIS_TABLE.service is Service.DYNAMODB


def test_a_cameras_item_goes_after_its_thing_and_before_its_stream_and_results() -> None:
    plan = build_plan(Inventory(fleet="camfleet", cameras=("porch",), resources=_camera("porch")))
    (camera,) = plan.cameras
    assert [s.resource.kind for s in camera.steps] == [
        Kind.PROCESSOR,
        Kind.THING,
        Kind.ANALYSIS_ITEM,
        Kind.STREAM,
        Kind.RESULTS,
    ]
    (item,) = [s for s in camera.steps if s.resource.kind is Kind.ANALYSIS_ITEM]
    assert item.after == ()  # nothing it waits for: a failed thing does not keep a session alive
    assert item.action == "delete item"
    assert item.resource.label == "analysis item porch in camfleet-analysis"


def test_the_queue_goes_before_its_dead_letters_and_the_table_after_the_queues() -> None:
    plan = build_plan(Inventory(fleet="camfleet", resources=FRAMES_FLEET_LEVEL))
    assert [(s.resource.kind, s.resource.name) for s in plan.fleet_steps] == [
        (Kind.TOPIC, NAMES.topic_arn()),
        (Kind.QUEUE, NAMES.analysis_queue),
        (Kind.QUEUE, NAMES.analysis_dlq),
        (Kind.TABLE, NAMES.detections_table),
        (Kind.ANALYSIS_TABLE, NAMES.analysis_table),
    ]
    assert all(s.after == () for s in plan.fleet_steps)


def test_keep_results_keeps_detections_but_not_the_analysis_table_or_items() -> None:
    whole = build_plan(
        Inventory(fleet="camfleet", resources=(*FRAMES_FLEET_LEVEL, *_camera("porch"))),
        keep_results=True,
    )
    assert {r.kind for r in whole.kept} == {Kind.TABLE, Kind.RESULTS}
    planned = {(s.resource.kind, s.resource.name) for s in whole.steps}
    assert (Kind.ANALYSIS_TABLE, NAMES.analysis_table) in planned
    assert (Kind.ANALYSIS_ITEM, "porch") in planned

    one = build_plan(
        Inventory(fleet="camfleet", cameras=("porch",), resources=tuple(_camera("porch"))),
        keep_results=True,
    )
    assert Kind.ANALYSIS_ITEM in {s.resource.kind for s in one.steps}


def test_removing_cameras_never_plans_the_fleets_queues_or_table() -> None:
    inventory = Inventory(
        fleet="camfleet",
        cameras=("porch",),
        resources=(*FRAMES_FLEET_LEVEL, *_camera("porch")),
    )
    plan = build_plan(inventory)
    assert plan.fleet_steps == ()
    planned = {(s.resource.kind, s.resource.camera) for s in plan.steps}
    assert (Kind.ANALYSIS_ITEM, "porch") in planned
    assert not {k for k, _ in planned} & {Kind.QUEUE, Kind.ANALYSIS_TABLE}
