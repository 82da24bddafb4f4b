"""A frames fleet against the local AWS endpoint: the analyzer recorded with the fleet,
registration without stream processors, and sessions claimed, queued and followed through the
analysis table, one per camera at a time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud import iam, iot, kvs, queues, rekognition
from cloud.analysis import choice, frames_table
from cloud.analysis.control import FramesSessions, StreamProcessorSessions
from cloud.analysis.models import FramesSessionRequest
from cloud.analysis.switch import switch_analyzer
from cloud.errors import AccessDeniedError, ConflictError, InvalidInputError
from cloud.models import Analyzer, BoundingBox, CameraSpec, ProcessorStatus, RegionOfInterest
from cloud.registration import RegistrationContext, register_camera
from cloud.registry import show_camera
from tests.support.endpoint_admin import clear_faults, set_streaming_video
from tests.support.registration import registration_context

REGION = RegionOfInterest(box=BoundingBox(left=0.1, top=0.2, width=0.5, height=0.6))


@pytest.fixture
def ctx(local_endpoint: Any, tmp_path: Path) -> Iterator[RegistrationContext]:
    local_endpoint.reset()
    clear_faults(local_endpoint.url)
    yield registration_context(local_endpoint, tmp_path, analyzer=Analyzer.FRAMES)


def sessions(ctx: RegistrationContext) -> FramesSessions:
    return FramesSessions(ctx.clients, ctx.names, ingest_grace_s=10)


def test_a_new_fleet_records_its_analyzer_and_gets_the_frames_resources(
    ctx: RegistrationContext,
) -> None:
    assert ctx.fleet.analyzer is Analyzer.FRAMES
    assert choice.recorded_analyzer(ctx.clients, ctx.names) is Analyzer.FRAMES
    assert ctx.fleet.frames is not None
    queue = queues.require_queue(ctx.clients, ctx.names.analysis_queue)
    attributes = ctx.clients.sqs.get_queue_attributes(
        QueueUrl=queue.url, AttributeNames=["RedrivePolicy"]
    )["Attributes"]
    assert (
        json.loads(attributes["RedrivePolicy"])["deadLetterTargetArn"] == ctx.fleet.frames.dlq_arn
    )
    # The ownership marker survives the analyzer attribute on the group.
    group = ctx.clients.iot.describe_thing_group(thingGroupName=ctx.names.thing_group)
    assert group["thingGroupProperties"]["thingGroupDescription"].endswith(ctx.names.fleet)


def test_an_existing_fleet_keeps_its_analyzer_and_refuses_another(
    ctx: RegistrationContext, local_endpoint: Any, tmp_path: Path
) -> None:
    again = registration_context(local_endpoint, tmp_path)  # FLEET_ANALYZER unset
    assert again.fleet.analyzer is Analyzer.FRAMES
    with pytest.raises(InvalidInputError, match="fleet analyzer use stream-processor"):
        registration_context(local_endpoint, tmp_path, analyzer=Analyzer.STREAM_PROCESSOR)


def test_registration_on_a_frames_fleet_makes_no_processor_and_no_role(
    ctx: RegistrationContext,
) -> None:
    spec = CameraSpec(camera_id="porch", regions_of_interest=(REGION,))
    result = register_camera(ctx, spec)
    assert result.processor_arn is None and result.role_arn is None
    assert rekognition.describe_processor(ctx.clients, ctx.names.processor("porch")) is None
    assert iam.get_role(ctx.clients, ctx.names.rekognition_role("porch")) is None
    camera = frames_table.read_camera(ctx.clients, ctx.names.analysis_table, "porch")
    assert camera is not None and camera.regions_of_interest == (REGION,)
    assert show_camera(ctx.clients, ctx.names, "porch").settings == spec
    assert register_camera(ctx, spec).changed == ()  # idempotent


def test_one_session_per_camera_queued_for_the_workers_and_followed_to_its_end(
    ctx: RegistrationContext,
) -> None:
    register_camera(ctx, CameraSpec(camera_id="porch"))
    control = sessions(ctx)
    session = control.start("porch", 1_800_000_000_000, 20, motion_ms=1_800_000_002_000)
    state = control.describe("porch")
    assert state is not None and state.session_id == session
    assert state.status is ProcessorStatus.STARTING
    with pytest.raises(ConflictError):
        control.start("porch", 1_800_000_001_000, 20)

    url = queues.require_queue(ctx.clients, ctx.names.analysis_queue).url
    messages = ctx.clients.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    queued = FramesSessionRequest.model_validate_json(messages[0]["Body"])
    assert (queued.camera_id, queued.session_id, queued.duration_s) == ("porch", session, 20)
    assert queued.motion_ms == 1_800_000_002_000  # where the worker looks first

    table = ctx.names.analysis_table
    assert frames_table.renew(ctx.clients, table, "porch", session, 2_000_000_000_000)
    assert control.statuses() == {"porch": ProcessorStatus.RUNNING}
    recorded = frames_table.record_confirmed(ctx.clients, table, "porch", session, "PERSON", "{}")
    assert recorded == "{}"
    # A second worker of the same session (the first stalled past its visibility) publishes
    # the first one's message, never its own.
    again = frames_table.record_confirmed(ctx.clients, table, "porch", session, "PERSON", "[]")
    assert again == "{}"
    assert frames_table.record_confirmed(ctx.clients, table, "porch", "old", "PET", "{}") is None
    assert not frames_table.renew(ctx.clients, table, "porch", "another", 2_000_000_000_000)
    assert frames_table.finish(
        ctx.clients, table, "porch", session, ProcessorStatus.STOPPED, "done", 20_000
    )
    assert not frames_table.renew(ctx.clients, table, "porch", session, 2_000_000_000_000)
    ended = frames_table.read_camera(ctx.clients, table, "porch")
    assert ended is not None
    assert (ended.status, ended.processed_ms, ended.confirmed) == (
        ProcessorStatus.STOPPED,
        20_000,
        {"PERSON": "{}"},
    )
    follow_up = control.start("porch", 1_800_000_030_000, 20)  # the camera is free again
    assert follow_up != session
    assert frames_table.read_camera(ctx.clients, table, "porch").confirmed == {}  # type: ignore[union-attr]


def test_a_session_whose_worker_is_gone_is_failed_and_frees_its_camera(
    ctx: RegistrationContext,
) -> None:
    register_camera(ctx, CameraSpec(camera_id="porch"))
    table = ctx.names.analysis_table
    stale = FramesSessionRequest(
        camera_id="porch",
        session_id="stale",
        start_ms=1_700_000_000_000,
        duration_s=10,
        requested_at_ms=1_700_000_000_000,
    )
    frames_table.claim(ctx.clients, table, stale, lease_until_ms=1_700_000_100_000)  # long past
    control = sessions(ctx)
    state = control.describe("porch")
    assert state is not None and state.status is ProcessorStatus.FAILED
    assert control.start("porch", 1_800_000_000_000, 10) != "stale"


def test_a_stream_processor_fleet_lists_only_its_own_cameras(
    local_endpoint: Any, tmp_path: Path
) -> None:
    local_endpoint.reset()
    ctx = registration_context(local_endpoint, tmp_path)
    register_camera(ctx, CameraSpec(camera_id="porch"))
    control = StreamProcessorSessions(ctx.clients, ctx.names)
    assert control.statuses() == {"porch": ProcessorStatus.STOPPED}
    control.start("porch", 1_800_000_000_000, 10)
    state = control.describe("porch")
    assert state is not None and state.status is ProcessorStatus.STARTING


def test_switching_back_and_forth_keeps_the_settings_and_leaves_nothing_of_the_other(
    ctx: RegistrationContext,
) -> None:
    register_camera(ctx, CameraSpec(camera_id="porch", regions_of_interest=(REGION,)))
    register_camera(ctx, CameraSpec(camera_id="yard"))
    c, n = ctx.clients, ctx.names

    to_processors = switch_analyzer(ctx, Analyzer.STREAM_PROCESSOR)
    assert (to_processors.previous, to_processors.cameras) == (Analyzer.FRAMES, 2)
    assert choice.recorded_analyzer(c, n) is Analyzer.STREAM_PROCESSOR
    porch = rekognition.describe_processor(c, n.processor("porch"))
    assert porch is not None and porch.settings.regions_of_interest == (REGION,)
    assert iam.get_role(c, n.rekognition_role("yard")) is not None
    assert queues.queue_url(c, n.analysis_queue) is None
    assert queues.queue_url(c, n.analysis_dlq) is None
    assert n.analysis_table not in c.dynamodb.list_tables()["TableNames"]
    again = switch_analyzer(ctx, Analyzer.STREAM_PROCESSOR)
    assert (again.created, again.deleted) == (
        ("stream processor camfleet-porch", "stream processor camfleet-yard"),
        (),
    )
    assert rekognition.describe_processor(c, n.processor("porch")).settings == porch.settings  # type: ignore[union-attr]

    to_frames = switch_analyzer(ctx, Analyzer.FRAMES)
    assert choice.recorded_analyzer(c, n) is Analyzer.FRAMES
    for camera in ("porch", "yard"):
        assert rekognition.describe_processor(c, n.processor(camera)) is None
        assert iam.get_role(c, n.rekognition_role(camera)) is None
    assert len(to_frames.deleted) == 4
    item = frames_table.read_camera(c, n.analysis_table, "porch")
    assert item is not None and item.regions_of_interest == (REGION,)
    assert switch_analyzer(ctx, Analyzer.FRAMES).deleted == ()


def test_switching_is_refused_while_a_session_runs(ctx: RegistrationContext) -> None:
    register_camera(ctx, CameraSpec(camera_id="porch"))
    sessions(ctx).start("porch", 1_800_000_000_000, 20)
    with pytest.raises(ConflictError, match="porch have an analysis session running"):
        switch_analyzer(ctx, Analyzer.STREAM_PROCESSOR)
    assert choice.recorded_analyzer(ctx.clients, ctx.names) is Analyzer.FRAMES


def test_a_fleet_that_never_asked_takes_its_first_analyzer_until_it_has_cameras(
    local_endpoint: Any, tmp_path: Path
) -> None:
    local_endpoint.reset()
    unasked = registration_context(local_endpoint, tmp_path)  # `fleet up`, say
    assert unasked.fleet.analyzer is Analyzer.STREAM_PROCESSOR
    assert choice.recorded_analyzer(unasked.clients, unasked.names) is None
    assert registration_context(local_endpoint, tmp_path, analyzer=Analyzer.FRAMES).fleet.frames

    local_endpoint.reset()
    register_camera(registration_context(local_endpoint, tmp_path), CameraSpec(camera_id="porch"))
    with pytest.raises(InvalidInputError, match="fleet analyzer use frames"):
        registration_context(local_endpoint, tmp_path, analyzer=Analyzer.FRAMES)


def test_an_account_refused_stream_processors_is_told_to_use_frames_and_nothing_is_left(
    local_endpoint: Any, tmp_path: Path
) -> None:
    local_endpoint.reset()
    ctx = registration_context(local_endpoint, tmp_path)
    set_streaming_video(local_endpoint.url, False)
    try:
        with pytest.raises(AccessDeniedError, match="fleet analyzer use frames") as refused:
            register_camera(ctx, CameraSpec(camera_id="porch"))
        assert "no longer available to new customers" in str(refused.value)
        c, n = ctx.clients, ctx.names
        assert iot.describe_thing(c, n.thing("porch")) is None
        assert kvs.describe_stream(c, n.stream("porch")) is None
        assert iam.get_role(c, n.rekognition_role("porch")) is None
        assert c.iot.list_certificates()["certificates"] == []
        # The way out the message names works on the same account.
        switch_analyzer(ctx, Analyzer.FRAMES)
        frames = registration_context(local_endpoint, tmp_path)
        assert register_camera(frames, CameraSpec(camera_id="porch")).processor_arn is None
    finally:
        set_streaming_video(local_endpoint.url, True)
