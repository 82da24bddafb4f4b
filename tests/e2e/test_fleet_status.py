"""The `fleet-status` flow on the whole local stack: its artifacts match the registry and what the
cameras' shadows, the detections table and the stream processors hold.

Two cameras, registered here: `status-live` runs its real agent (a moving test pattern: online,
pipeline running, motion that the bridge analyses), `status-quiet` never connects; the test writes
its shadow as the bridge would (online, pipeline failed), one detection and the end of a 90 s
session.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
)
from prefect.deployments import arun_deployment

from cloud import detections
from cloud.registry import list_camera_ids, show_camera
from cloud.rekognition_messages import DetectionRecord, SessionEndRecord
from cloud.settings import FleetSettings
from cloud.shadow import (
    PresenceReport,
    ShadowUpdate,
    read_status,
    update_reported,
)
from device.messages import PipelineState, Presence
from flows import runtime
from flows.fleet_status import SUMMARY_KEY, TABLE_KEY, fleet_status_flow
from flows.fleet_status_report import COLUMNS, FleetStatus, table_rows
from stack.supervisor.models import StackStatus
from tests.e2e.cli import fleet, fleet_json
from tests.support.agent_process import RunningAgent
from tests.support.messages import health_event
from tests.support.waiting import wait_for_shadow

Stack = tuple[FleetSettings, StackStatus]
pytestmark = pytest.mark.processors(2)
LIVE, QUIET = "status-live", "status-quiet"
QUIET_ERROR = "no element kvssink: install the KVS producer SDK"


@pytest.fixture(scope="module")
def registered(local_stack: Stack) -> FleetSettings:
    settings, _ = local_stack
    for camera in (LIVE, QUIET):
        done = fleet(settings, "camera", "register", camera)
        assert done.returncode == 0, done.stderr
    return settings


@pytest.fixture(scope="module")
def live_agent(
    registered: FleetSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningAgent]:
    config = registered.bundles_dir / LIVE / "agent.toml"
    agent = RunningAgent(registered, config, tmp_path_factory.mktemp("agent") / "live.log", {})
    try:
        yield agent
    finally:
        agent.stop(signal.SIGKILL)


def write_quiet_camera(settings: FleetSettings, now: datetime) -> DetectionRecord:
    """As the bridge and the results consumer would: a failed pipeline, a detection, a session."""
    rt = runtime.configure(settings)
    now_ms = int(now.timestamp() * 1000)
    health = health_event(
        camera_id=QUIET,
        sent_at_ms=now_ms,
        pipeline=PipelineState.FAILED,
        pipeline_error=QUIET_ERROR,
        restarts=4,
        fps=0,
    )
    update = ShadowUpdate(
        presence=PresenceReport(presence=Presence.ONLINE, status_at_ms=now_ms - 600_000),
        last_seen_ms=now_ms,
        last_motion_ms=now_ms - 120_000,
        health=health,
    )
    update_reported(rt.clients, QUIET, update)
    table = rt.names.detections_table
    record = DetectionRecord(
        camera_id=QUIET,
        session_id="quiet-session",
        label="PACKAGE",
        confidence=91.0,
        detected_at=now - timedelta(minutes=2),
        frame_uri=f"s3://bucket/cameras/{QUIET}/frame.jpg",
        processor=rt.names.processor(QUIET),
    )
    assert detections.put_detection(rt.clients, table, record)
    session = SessionEndRecord(
        camera_id=QUIET,
        session_id="quiet-session",
        processor=rt.names.processor(QUIET),
        ended_at=now,
        processed_ms=90_000,
    )
    assert detections.put_session_end(rt.clients, table, session)
    return record


async def _artifacts(flow_run_id: UUID) -> dict[str, Any]:
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[TABLE_KEY, SUMMARY_KEY]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
            )
        )
    assert sorted(a.key or "" for a in found) == [TABLE_KEY, SUMMARY_KEY]
    return {a.key or "": a.data for a in found}


async def _run_flow() -> tuple[FleetStatus, dict[str, Any]]:
    state = await fleet_status_flow(return_state=True)
    assert state.is_completed(), state
    status = await state.aresult()
    assert isinstance(status, FleetStatus)
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    return status, await _artifacts(flow_run_id)


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def test_the_artifact_matches_the_registry_and_the_health_in_the_shadows(
    registered: FleetSettings, live_agent: RunningAgent
) -> None:
    settings = registered
    now = datetime.now(UTC)
    quiet_detection = write_quiet_camera(settings, now)
    live = wait_for_shadow(
        settings,
        LIVE,
        lambda s: (
            s.online is True
            and s.health is not None
            and s.health.pipeline is PipelineState.RUNNING
            and s.health.fps > 0
            and s.last_motion_ms is not None
        ),
    )

    status, artifacts = asyncio.run(_run_flow())

    rt = runtime.configure(settings)
    registry = list_camera_ids(rt.clients, rt.names)
    table = json.loads(artifacts[TABLE_KEY])
    assert table == table_rows(status)
    assert sorted(row["camera"] for row in table) == sorted(registry)
    order = [row["camera"] for row in table]
    assert order.index(QUIET) < order.index(LIVE)  # a failed pipeline: attention rows first
    assert all(list(row) == list(COLUMNS) for row in table)
    rows = {row["camera"]: row for row in table}

    # status-quiet: nothing changes it meanwhile, so every cell is what its stores hold.
    quiet = read_status(rt.clients, QUIET)
    assert quiet.health is not None
    quiet_record = show_camera(rt.clients, rt.names, QUIET)
    assert quiet_record.processor_status is not None
    assert rows[QUIET] == {
        "camera": QUIET,
        "online": "yes",
        "last seen": _time(quiet.last_seen),
        "pipeline state": "failed",
        "fps": 0.0,
        "restarts": 4,
        "last motion": _time(quiet.last_motion),
        "last detection": f"{_time(quiet_detection.detected_at)} (PACKAGE)",
        "last visitor": None,
        "processor status": quiet_record.processor_status.value,
        "analysed minutes today": 1.5,
    }

    # status-live: its real agent keeps reporting; what the bridge wrote before the run holds.
    assert live.health is not None and live.last_seen_ms is not None
    live_row = rows[LIVE]
    assert (live_row["online"], live_row["pipeline state"]) == ("yes", "running")
    assert live_row["fps"] > 0 and live_row["restarts"] >= live.health.restarts
    seen_before = datetime.fromtimestamp(live.last_seen_ms / 1000, UTC)
    assert live_row["last seen"] >= _time(seen_before)  # the bridge only moves it on
    assert live_row["last motion"] is not None
    assert live_row["processor status"] in {"STOPPED", "STARTING", "RUNNING", "STOPPING"}

    # The summary counts what the rows say, and names what needs attention.
    summary = artifacts[SUMMARY_KEY]
    counts = (
        f"| {status.online} | {status.offline} | {status.never_seen} | {status.failing} "
        f"| {status.pipelines_failed} | {status.processors_failed} | {status.moved_today} "
        f"| {status.detected_today} |"
    )
    assert counts in summary
    assert status.online == sum(row["online"] == "yes" for row in table)
    assert status.never_seen == sum(row["online"] == "never seen" for row in table)
    assert f"- {QUIET}: pipeline failed: {QUIET_ERROR}" in summary
    assert not [line for line in status.attention if line.startswith(f"{LIVE}:")]
    assert next(r for r in status.cameras if r.camera == QUIET).failing

    # The agent stops: the bridge writes offline, and the CLI's run of the flow says so.
    assert live_agent.stop(signal.SIGTERM) == 0, live_agent.log()
    wait_for_shadow(settings, LIVE, lambda s: s.online is False)
    shown = fleet_json(settings, "camera", "overview")
    live_now = next(c for c in shown["cameras"] if c["camera"] == LIVE)
    assert live_now["presence"] == "offline"
    assert any(
        line.startswith(f"{LIVE}: offline for ") and line.endswith("(agent stopped)")
        for line in shown["attention"]
    ), shown["attention"]
    text = fleet(settings, "camera", "overview")
    assert text.returncode == 0, text.stderr
    assert "needs attention" in text.stdout and f"{QUIET}: pipeline failed" in text.stdout


def test_the_served_deployment_runs_on_the_fleets_interval_and_publishes(
    registered: FleetSettings,
) -> None:
    async def scheduled_run() -> tuple[timedelta | None, UUID]:
        async with get_client() as client:
            deployment = await client.read_deployment_by_name("fleet-status/fleet-status")
        [schedule] = deployment.schedules
        interval = getattr(schedule.schedule, "interval", None)
        assert schedule.active
        run = await arun_deployment("fleet-status/fleet-status", timeout=120)
        assert run.state is not None and run.state.is_completed(), run.state
        return interval, run.id

    interval, flow_run_id = asyncio.run(scheduled_run())
    assert interval == timedelta(seconds=registered.status_interval_seconds)
    artifacts = asyncio.run(_artifacts(flow_run_id))
    rt = runtime.configure(registered)
    served = [row["camera"] for row in json.loads(artifacts[TABLE_KEY])]
    assert sorted(served) == sorted(list_camera_ids(rt.clients, rt.names))
    assert f"{QUIET}: pipeline failed" in artifacts[SUMMARY_KEY]
