"""The frames analyzer's resources in a teardown, against the local AWS endpoint without Prefect:
the whole fleet's teardown plans, deletes and proves gone the analysis queue, its dead-letter
queue and the analysis table; removing a camera deletes only its item in the table; look-alikes
and another fleet's are left alone."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud import queues, tables
from cloud.analysis import frames_table
from cloud.analysis.models import FramesSessionRequest
from cloud.clients import AwsClients
from cloud.models import CameraSpec, RegionOfInterest
from cloud.naming import FleetNames
from cloud.registration import RegistrationContext, register_camera
from cloud.tags import OWNER_KEY, fleet_tags
from cloud.teardown.actions import delete
from cloud.teardown.discovery import discover
from cloud.teardown.models import Inventory, Kind, Service
from cloud.teardown.plan import build_plan
from flows.teardown import run_steps
from flows.teardown_report import StepStatus, TeardownReport, build_report, plan_rows, proof_rows
from tests.support.endpoint_admin import clear_faults, inject_fault
from tests.support.registration import registration_context

REGIONS = (
    RegionOfInterest.model_validate(
        {"box": {"left": 0.1, "top": 0.1, "width": 0.5, "height": 0.5}}
    ),
)


@pytest.fixture
def ctx(local_endpoint: Any, tmp_path: Path) -> Iterator[RegistrationContext]:
    local_endpoint.reset()
    clear_faults(local_endpoint.url)
    yield registration_context(local_endpoint, tmp_path / "frames", name="tdframes")
    clear_faults(local_endpoint.url)


def _frames_resources(clients: AwsClients, names: FleetNames, tags: dict[str, str]) -> None:
    """What the frames analyzer's setup creates: the queue, redriving to its dead-letter queue,
    and the table."""
    dlq = queues.ensure_queue(
        clients, names.analysis_dlq, {"MessageRetentionPeriod": str(14 * 24 * 3600)}, tags
    )
    redrive = {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": 5}
    queues.ensure_queue(clients, names.analysis_queue, {"RedrivePolicy": json.dumps(redrive)}, tags)
    frames_table.ensure_table(clients, names.analysis_table, tags)


def _session(clients: AwsClients, names: FleetNames, camera: str) -> None:
    """A camera with its regions of interest and a session queued for the workers."""
    now_ms = int(time.time() * 1000)
    request = FramesSessionRequest(
        camera_id=camera,
        session_id=f"{camera}-1",
        start_ms=now_ms,
        duration_s=30,
        requested_at_ms=now_ms,
    )
    frames_table.put_regions(clients, names.analysis_table, camera, REGIONS)
    frames_table.claim(clients, names.analysis_table, request, now_ms + 60_000)
    url = queues.queue_url(clients, names.analysis_queue)
    assert url is not None
    queues.send(clients, url, request.model_dump_json(), {"camera_id": camera})


def _tear_down(
    ctx: RegistrationContext, inventory: Inventory, *, keep_results: bool = False
) -> TeardownReport:
    """What the teardown flow does, without Prefect: the plan's steps, then the proof."""
    plan = build_plan(inventory, keep_results=keep_results)
    outcomes = run_steps(plan.steps, set(), lambda r: delete(ctx.clients, r), lambda _: None)
    scope = None if inventory.cameras is None else list(inventory.cameras)
    return build_report(plan, outcomes, discover(ctx.clients, ctx.names, scope))


def _frames_kinds(inventory: Inventory) -> set[tuple[Kind, str | None, str]]:
    frames = {Kind.QUEUE, Kind.ANALYSIS_TABLE, Kind.ANALYSIS_ITEM}
    return {(r.kind, r.camera, r.name) for r in inventory.resources if r.kind in frames}


def _proof(report: TeardownReport) -> dict[str, dict[str, str]]:
    return {row["service"]: row for row in proof_rows(report)}


def test_the_whole_fleet_goes_with_its_analysis_queues_and_table_and_the_proof_says_so(
    ctx: RegistrationContext, local_endpoint: Any, tmp_path: Path
) -> None:
    clients, names = ctx.clients, ctx.names
    other = registration_context(local_endpoint, tmp_path / "other", name="tdframes-2")
    _frames_resources(other.clients, other.names, fleet_tags(other.names.fleet))
    _frames_resources(clients, names, fleet_tags(names.fleet))
    register_camera(ctx, CameraSpec(camera_id="cam-a"))
    _session(clients, names, "cam-a")

    inventory = discover(clients, names)
    assert _frames_kinds(inventory) == {
        (Kind.QUEUE, None, names.results_queue),
        (Kind.QUEUE, None, names.results_dlq),
        (Kind.QUEUE, None, names.analysis_queue),
        (Kind.QUEUE, None, names.analysis_dlq),
        (Kind.ANALYSIS_TABLE, None, names.analysis_table),  # its items go with it
    }
    assert not any("tdframes-2" in r.name for r in inventory.resources)

    # The dry run's plan: each queue before its dead letters, the table after the queues.
    rows = [r for r in plan_rows(build_plan(inventory)) if r["camera"] == "(fleet)"]
    frames_rows = [
        (r["resource"], r["name"], r["action"])
        for r in rows
        if r["name"] in (names.analysis_queue, names.analysis_dlq, names.analysis_table)
    ]
    assert frames_rows == [
        ("SQS queue", names.analysis_queue, "delete with its messages"),
        ("SQS queue", names.analysis_dlq, "delete with its messages"),
        ("analysis table", names.analysis_table, "delete with its items"),
    ]

    report = _tear_down(ctx, inventory)

    assert report.complete and report.left == ()
    deleted = {
        (o.resource.kind, o.resource.name)
        for o in report.outcomes
        if o.status is StepStatus.DELETED
    }
    assert {
        (Kind.QUEUE, names.analysis_queue),
        (Kind.QUEUE, names.analysis_dlq),
        (Kind.ANALYSIS_TABLE, names.analysis_table),
    } <= deleted
    proof = _proof(report)
    assert proof[Service.SQS.value]["fleet resources left"] == "0"
    assert proof[Service.DYNAMODB.value]["fleet resources left"] == "0"
    assert queues.queue_url(clients, names.analysis_queue) is None
    assert queues.queue_url(clients, names.analysis_dlq) is None
    assert tables.table_tags(clients, names.analysis_table) is None
    # Another fleet's analyzer is untouched.
    theirs = _frames_kinds(discover(other.clients, other.names))
    assert (Kind.QUEUE, None, other.names.analysis_queue) in theirs
    assert (Kind.QUEUE, None, other.names.analysis_dlq) in theirs
    assert (Kind.ANALYSIS_TABLE, None, other.names.analysis_table) in theirs


def test_an_analysis_table_that_will_not_go_is_left_with_its_reason_and_a_rerun_finishes(
    ctx: RegistrationContext, local_endpoint: Any
) -> None:
    clients, names = ctx.clients, ctx.names
    _frames_resources(clients, names, fleet_tags(names.fleet))
    inventory = discover(clients, names)

    # --keep-results keeps the detections table: the analysis table is the only one deleted.
    inject_fault(local_endpoint.url, "dynamodb", "DeleteTable", "AccessDeniedException")
    try:
        report = _tear_down(ctx, inventory, keep_results=True)
    finally:
        clear_faults(local_endpoint.url)

    assert not report.complete
    (left,) = report.left
    assert (left.resource.kind, left.resource.name) == (Kind.ANALYSIS_TABLE, names.analysis_table)
    assert "AccessDenied" in left.reason
    dynamodb = _proof(report)[Service.DYNAMODB.value]
    assert dynamodb["fleet resources left"] == "1"
    assert dynamodb["kept (--keep-results)"] == "1"  # the detections table
    assert f"analysis table {names.analysis_table}: " in dynamodb["what is left and why"]
    assert queues.queue_url(clients, names.analysis_queue) is None

    again = _tear_down(ctx, discover(clients, names), keep_results=True)
    assert again.complete
    assert [(o.resource.kind, o.status) for o in again.outcomes] == [
        (Kind.ANALYSIS_TABLE, StepStatus.DELETED)
    ]
    assert tables.table_tags(clients, names.detections_table) is not None


def test_removing_a_camera_deletes_its_analysis_item_and_nothing_else_of_the_analyzer(
    ctx: RegistrationContext,
) -> None:
    clients, names = ctx.clients, ctx.names
    _frames_resources(clients, names, fleet_tags(names.fleet))
    for camera in ("cam-a", "cam-b"):
        register_camera(ctx, CameraSpec(camera_id=camera))
        _session(clients, names, camera)

    inventory = discover(clients, names, ["cam-a"])
    assert _frames_kinds(inventory) == {(Kind.ANALYSIS_ITEM, "cam-a", "cam-a")}
    (plan,) = build_plan(inventory).cameras
    kinds = [s.resource.kind for s in plan.steps]
    assert kinds.index(Kind.THING) < kinds.index(Kind.ANALYSIS_ITEM) < kinds.index(Kind.STREAM)
    (item,) = [s.resource for s in plan.steps if s.resource.kind is Kind.ANALYSIS_ITEM]
    assert item.parent == names.analysis_table

    report = _tear_down(ctx, inventory)

    assert report.complete
    assert frames_table.read_camera(clients, names.analysis_table, "cam-a") is None
    kept = frames_table.read_camera(clients, names.analysis_table, "cam-b")
    assert kept is not None and kept.session is not None
    assert discover(clients, names, ["cam-a"]).resources == ()
    rest = _frames_kinds(discover(clients, names))
    assert (Kind.QUEUE, None, names.analysis_queue) in rest
    assert (Kind.ANALYSIS_TABLE, None, names.analysis_table) in rest

    # --keep-results keeps results; the analysis item is a session, not a result.
    report = _tear_down(ctx, discover(clients, names, ["cam-b"]), keep_results=True)
    assert report.complete
    assert Kind.ANALYSIS_ITEM not in {r.kind for r in report.plan.kept}
    assert frames_table.read_camera(clients, names.analysis_table, "cam-b") is None


def test_an_item_this_version_cannot_read_still_goes_with_its_camera(
    ctx: RegistrationContext,
) -> None:
    clients, names = ctx.clients, ctx.names
    _frames_resources(clients, names, fleet_tags(names.fleet))
    clients.dynamodb.put_item(
        TableName=names.analysis_table,
        Item={"camera_id": {"S": "cam-odd"}, "status": {"S": "PAUSED"}},
    )

    inventory = discover(clients, names, ["cam-odd"])
    assert _frames_kinds(inventory) == {(Kind.ANALYSIS_ITEM, "cam-odd", "cam-odd")}
    assert _tear_down(ctx, inventory).complete
    item = clients.dynamodb.get_item(
        TableName=names.analysis_table, Key={"camera_id": {"S": "cam-odd"}}
    )
    assert "Item" not in item


def test_without_the_analysis_table_a_camera_goes_as_before(ctx: RegistrationContext) -> None:
    register_camera(ctx, CameraSpec(camera_id="cam-a"))
    inventory = discover(ctx.clients, ctx.names, ["cam-a"])
    assert _frames_kinds(inventory) == set()
    assert inventory.left_alone == ()
    assert _tear_down(ctx, inventory).complete


def test_look_alikes_of_the_analysis_queues_and_table_are_left_alone(
    ctx: RegistrationContext,
) -> None:
    clients, names = ctx.clients, ctx.names
    clients.sqs.create_queue(QueueName=names.analysis_queue)
    clients.sqs.create_queue(QueueName=names.analysis_dlq, tags={OWNER_KEY: "someone-else"})
    clients.dynamodb.create_table(
        TableName=names.analysis_table,
        KeySchema=[{"AttributeName": "camera_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "camera_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    register_camera(ctx, CameraSpec(camera_id="cam-a"))
    frames_table.put_regions(clients, names.analysis_table, "cam-a", REGIONS)

    one = discover(clients, names, ["cam-a"])
    assert _frames_kinds(one) == set()
    assert {(a.kind, a.name) for a in one.left_alone} == {
        (Kind.ANALYSIS_TABLE, names.analysis_table)
    }

    whole = discover(clients, names)
    assert _frames_kinds(whole) == {
        (Kind.QUEUE, None, names.results_queue),
        (Kind.QUEUE, None, names.results_dlq),
    }
    # The queue and the table share their name, `<fleet>-analysis`.
    reasons = {(a.kind, a.name): a.reason for a in whole.left_alone}
    assert "not made by a camera fleet" in reasons[Kind.QUEUE, names.analysis_queue]
    assert "fleet 'someone-else'" in reasons[Kind.QUEUE, names.analysis_dlq]
    assert "not made by a camera fleet" in reasons[Kind.ANALYSIS_TABLE, names.analysis_table]
    actions = {(r["resource"], r["name"]): r["action"] for r in plan_rows(build_plan(whole))}
    for kind, name in reasons:
        assert actions[kind.value, name] == "leave alone: not this fleet's"

    assert _tear_down(ctx, one).complete
    assert _tear_down(ctx, whole).complete

    assert queues.queue_url(clients, names.analysis_queue) is not None
    assert queues.queue_url(clients, names.analysis_dlq) is not None
    assert tables.table_tags(clients, names.analysis_table) == {}
    assert frames_table.read_camera(clients, names.analysis_table, "cam-a") is not None
