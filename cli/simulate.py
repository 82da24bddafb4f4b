"""`fleet camera simulate` and the demo: the camera's real agent plays a synthetic scene, then
the analyses its motion started are waited for and reported. Imported when they run: it loads
the local stack's scenes and Prefect."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from prefect.settings import temporary_settings
from pydantic import BaseModel

from cli.options import Scenario
from cli.output import console, emit_table, err_console
from cli.prefect_context import prefect_settings
from cloud import detections
from cloud.models import CameraId
from cloud.rekognition_messages import DetectionRecord, SessionEndRecord, iso_ms
from flows.camera_events import read_camera_events
from flows.events import ANALYSIS_FAILED, ANALYSIS_STARTED
from flows.runtime import Runtime
from stack.cameras.scenes import SceneKind
from stack.cameras.simulation import prepare, run_agent

_POLL_S = 1.0
_QUIET_S = 6.0
_STARTED, _FAILED = ANALYSIS_STARTED.name, ANALYSIS_FAILED.name
_SESSION_EVENTS = (_STARTED, _FAILED)


class SimulationReport(BaseModel):
    camera_id: CameraId
    scenario: SceneKind
    agent_exit_code: int
    motions: list[int]  # producer timestamps (ms) of the motion events published
    sessions: list[str]  # analysis sessions the motion started, oldest first
    session_ends: list[SessionEndRecord]
    failed_sessions: list[str]  # ended FAILED (the flow retries a failed session once)
    detections: list[DetectionRecord]  # of those sessions, newest first


def scene_kind(scenario: Scenario) -> SceneKind:
    """The local stack's scene for the command line's choice."""
    return SceneKind(scenario.value)


def run_simulation(
    rt: Runtime,
    camera_id: str,
    scenario: SceneKind,
    seconds: float,
    wait_seconds: float,
    echo: Callable[[str], None] | None = None,
) -> SimulationReport:
    """Run the agent on the scene, then wait for the analyses its motion started."""
    camera = prepare(rt.settings, camera_id, scenario)
    started_at = datetime.now(UTC)
    err_console().print(
        f"camera {camera_id}: agent playing the {scenario.value} scene for {seconds:g} s "
        f"({camera.scene})"
    )
    run = run_agent(camera, seconds, echo or _echo)
    sessions: list[str] = []
    ends: list[SessionEndRecord] = []
    failed: list[str] = []
    if run.motions and wait_seconds:
        err_console().print(f"waiting up to {wait_seconds:g} s for the analyses to end...")
        sessions, ends, failed = _wait_for_sessions(rt, camera_id, started_at, wait_seconds)
    found = [
        d
        for d in detections.list_detections(rt.clients, rt.names.detections_table, camera_id, 100)
        if d.session_id in sessions
    ]
    return SimulationReport(
        camera_id=camera_id,
        scenario=scenario,
        agent_exit_code=run.exit_code,
        motions=run.motions,
        sessions=sessions,
        session_ends=ends,
        failed_sessions=failed,
        detections=found,
    )


def _echo(line: str) -> None:
    err_console().print(line, markup=False, highlight=False, soft_wrap=True)


def _wait_for_sessions(
    rt: Runtime, camera_id: str, since: datetime, wait_seconds: float
) -> tuple[list[str], list[SessionEndRecord], list[str]]:
    """The sessions started since `since`, once each has ended or failed (or the wait is over):
    (started, their ends, failed). A session that ends may be followed by another (motion in its
    last seconds, a retry), which starts within a second or two: wait for a quiet spell."""
    deadline = time.monotonic() + wait_seconds
    ends: dict[str, SessionEndRecord] = {}  # a session's end is read until it is found, once
    seen: tuple[int, int] | None = None
    changed = time.monotonic()
    with temporary_settings(updates=prefect_settings(rt.settings)):
        while True:
            events = asyncio.run(read_camera_events(camera_id, _SESSION_EVENTS, since))
            started = [str(e.payload["session_id"]) for e in events if e.event == _STARTED]
            failed = [
                str(e.payload["session_id"])
                for e in events
                if e.event == _FAILED and "session_id" in e.payload
            ]
            for session in started:
                if session not in ends and session not in failed:
                    end = detections.get_session_end(
                        rt.clients, rt.names.detections_table, camera_id, session
                    )
                    if end is not None:
                        ends[session] = end
            done = len([s for s in started if s in ends]) + len(failed)
            now = time.monotonic()
            if (len(started), done) != seen:
                seen, changed = (len(started), done), now
            if (done >= len(started) and now - changed >= _QUIET_S) or now > deadline:
                return started, [ends[s] for s in started if s in ends], failed
            time.sleep(_POLL_S)


def print_report(report: SimulationReport) -> None:
    console().print(
        f"camera [bold]{report.camera_id}[/] ({report.scenario.value}): "
        f"{len(report.motions)} motion events, {len(report.sessions)} analysis sessions, "
        f"{len(report.detections)} detections, {len(report.failed_sessions)} failed sessions"
    )
    emit_table(
        "analysis sessions",
        ["session", "ended (UTC)", "video analysed"],
        [
            (e.session_id, iso_ms(e.ended_at), f"{(e.processed_ms or 0) / 1000:.1f} s")
            for e in report.session_ends
        ],
    )
    emit_table(
        "detections, newest first",
        ["time (UTC)", "label", "confidence", "notified", "frame", "crop"],
        [
            (
                iso_ms(d.detected_at),
                d.label,
                f"{d.confidence:.1f}%" if d.confidence is not None else None,
                d.notification.value,
                d.frame_uri,
                d.crop_uri,
            )
            for d in report.detections
        ],
    )
