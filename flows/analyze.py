"""`analyze-motion`: one analysis session of one camera, as a Prefect flow run.

A run starts a session of the camera's video at a producer timestamp (ms) for a duration (with
the fleet's analyzer: its stream processor, or the frames analyzer's workers), or only follows a
session the bridge's fast path already started; it waits for the session to end and retries a
FAILED session once, emitting `flows.events`' analysis events.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from prefect import flow, get_run_logger, task
from prefect.events import emit_event
from pydantic import BaseModel, ConfigDict, Field

from cloud.errors import ConflictError
from cloud.models import CameraId, ProcessorStatus
from device.messages import MIN_MILLISECONDS, now_ms
from flows.events import (
    ANALYSIS_FAILED,
    ANALYSIS_STARTED,
    AnalysisFailedPayload,
    AnalysisStartedPayload,
    CameraEventKind,
    P,
    camera_resource,
    fleet_related,
)
from flows.retry import AWS_RETRY
from flows.runtime import runtime

_POLL_S = 1.0
_SLOW_POLL_S = 5.0
_EARLY_S = 3.0


class AnalysisRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    camera_id: CameraId
    start_ms: int = Field(ge=MIN_MILLISECONDS, description="Producer timestamp, milliseconds.")
    duration_s: int = Field(ge=1, le=120, description="StopSelector.MaxDurationInSeconds.")
    follow_up: bool = False
    session_id: str | None = Field(None, description="Set when the bridge made the start.")
    session_updated_at: datetime | None = Field(
        None,
        description="The processor's LastUpdateTimestamp once the bridge's start was made: "
        "a later one means a later session.",
    )
    started_at_ms: int | None = Field(
        None,
        ge=MIN_MILLISECONDS,
        description="When the bridge's start returned (wall clock, ms): the flow run that "
        "mirrors the session may begin seconds later.",
    )


class AnalysisOutcome(BaseModel):
    camera_id: str
    sessions: list[str]
    status: ProcessorStatus
    message: str | None = None


def emit_camera_event(kind: CameraEventKind[P], camera_id: str, payload: P) -> None:
    """Emit a catalogued event about the camera, related to this runtime's fleet."""
    emit_event(
        event=kind.name,
        resource=camera_resource(camera_id),
        related=fleet_related(runtime().settings.name),
        payload=payload.wire(),
    )


@task(
    name="start-analysis-session",
    task_run_name="start {camera_id}",
    **AWS_RETRY,
)
def start_analysis(camera_id: str, start_ms: int, duration_s: int) -> str:
    return runtime().sessions().start(camera_id, start_ms, duration_s)


@task(name="await-session-end", task_run_name="await {camera_id}")
async def await_session_end(
    camera_id: str, session_id: str, duration_s: int, updated_at: datetime | None = None
) -> tuple[ProcessorStatus, str | None]:
    """Poll the session's status: often at first (a session that cannot start fails at once)
    and near its expected end, rarely in between: a bridge follows hundreds of sessions at once.
    The blocking call runs in a thread, so one slow answer holds up no other session.

    The bridge starts a camera's follow-up as soon as this session stops, perhaps before this
    poll sees STOPPED (a run may even begin after its session ended, the server being busy): a
    session with another id, or a processor STARTING with a LastUpdateTimestamp later than
    `updated_at` (the session's own; else the first one seen), is a later session, so this one
    stopped."""
    sessions = runtime().sessions()
    started = time.monotonic()
    expected_end = started + duration_s
    deadline = expected_end + sessions.end_grace_s
    while (now := time.monotonic()) < deadline:
        state = await asyncio.to_thread(sessions.describe, camera_id)
        if state is None:
            return ProcessorStatus.FAILED, f"camera {camera_id} has no analyzer any more"
        later = state.session_id is not None and state.session_id != session_id
        if later:
            return ProcessorStatus.STOPPED, "ended; a later session has started"
        if state.status not in (ProcessorStatus.STARTING, ProcessorStatus.RUNNING):
            return state.status, state.message
        updated_at = updated_at or state.updated_at
        if state.updated_at and updated_at and state.updated_at > updated_at:
            return ProcessorStatus.STOPPED, "ended; a later session has started"
        early = now - started < _EARLY_S
        await asyncio.sleep(
            _POLL_S if early else max(_POLL_S, min(_SLOW_POLL_S, expected_end - now))
        )
    return (
        ProcessorStatus.FAILED,
        f"session still running {sessions.end_grace_s:g} s past its duration",
    )


@flow(name="analyze-motion", flow_run_name="analyze {request.camera_id}", log_prints=False)
async def analyze_motion(request: AnalysisRequest) -> AnalysisOutcome:
    """Analyse a camera's video from a producer timestamp; retry a failed session once."""
    log = get_run_logger()
    camera = request.camera_id
    sessions: list[str] = []
    session = request.session_id
    started_at_ms = request.started_at_ms
    for attempt in (1, 2):
        if session is None:
            try:
                session = start_analysis(camera, request.start_ms, request.duration_s)
                started_at_ms = now_ms()
            except ConflictError as err:  # the camera's session is still running: not ours
                log.warning("camera %s: cannot start a session: %s", camera, err)
                return AnalysisOutcome(
                    camera_id=camera,
                    sessions=sessions,
                    status=ProcessorStatus.FAILED,
                    message=f"a session of the camera is still running: {err}",
                )
        sessions.append(session)
        emit_camera_event(
            ANALYSIS_STARTED,
            camera,
            AnalysisStartedPayload(
                session_id=session,
                start_ms=request.start_ms,
                duration_s=request.duration_s,
                follow_up=request.follow_up,
                attempt=attempt,
                started_at_ms=started_at_ms,
            ),
        )
        status, message = await await_session_end(
            camera,
            session,
            request.duration_s,
            request.session_updated_at if attempt == 1 else None,
        )
        if status is not ProcessorStatus.FAILED:
            return AnalysisOutcome(camera_id=camera, sessions=sessions, status=status)
        log.warning("camera %s: session %s failed: %s", camera, session, message)
        emit_camera_event(
            ANALYSIS_FAILED,
            camera,
            AnalysisFailedPayload(session_id=session, message=message, attempt=attempt),
        )
        session = None
    return AnalysisOutcome(camera_id=camera, sessions=sessions, status=status, message=message)
