"""The bridge's handler for motion: the fast path from an MQTT message to a started analysis
session (StartStreamProcessor, or a frames session queued for the analysis workers).

On the SDK's thread it only asks the motion gate what to do. A start runs on a thread pool that
does nothing else; the started session is then described (when it last changed), watched until
it stops (`session_watch`), and mirrored by an `analyze-motion` flow run, created once starts
pause. A stopped session frees its camera for the follow-up the gate may ask for. Every other
verdict is a Prefect event. Each camera's session length is read from its thing's attributes in
the background, never between a motion and its start. The decisions are the gate's, not this
module's.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from prefect.exceptions import PrefectHTTPStatusError

from cloud import iot
from cloud.errors import ConflictError, FleetError
from cloud.models import Analyzer
from cloud.registry import FLEET_ATTRIBUTE, spec_from_attributes
from device.messages import MotionEvent, now_ms
from flows.analyze import AnalysisRequest, analyze_motion, emit_camera_event
from flows.events import (
    ANALYSIS_COALESCED,
    ANALYSIS_FAILED,
    ANALYSIS_REQUESTED,
    ANALYSIS_SKIPPED,
    AnalysisFailedPayload,
    AnalysisRequestedPayload,
    CameraEventKind,
    MotionVerdictPayload,
    P,
)
from flows.runtime import Runtime
from services.bridge.intake import CameraEvent
from services.bridge.motion_gate import Decision, MotionGate, SessionPlan, Verdict
from services.bridge.session_watch import ActiveSessions, Session

log = logging.getLogger(__name__)

_EVENT_FOR: dict[Verdict, CameraEventKind[MotionVerdictPayload]] = {
    Verdict.COALESCED: ANALYSIS_COALESCED,
    Verdict.FOLLOW_UP: ANALYSIS_COALESCED,
    Verdict.COOLDOWN: ANALYSIS_SKIPPED,
    Verdict.BUDGET: ANALYSIS_SKIPPED,
    Verdict.STALE: ANALYSIS_SKIPPED,
}
# StartStreamProcessor waits on the network: 100 cameras seeing motion at once must not queue
# behind 8 threads (botocore keeps 64 connections).
_STARTERS = 32
# A started session is described (one request each) by threads of their own: the starts under
# way keep most of the endpoint's attention (a storm's first second is bound by its requests).
_DESCRIBERS = 2
_SETTINGS_REFRESH_S = 300.0
# One ListStreamProcessors (100 processors a page) a second while any session runs: well within
# the API's rate for fleets of hundreds, and a follow-up starts within a second of the end.
_WATCH_S = 1.0
# analyze-motion runs created at once per bridge: a busy server answers 503 to creations beyond
# what it sustains. A run that waits mirrors its session late, never wrongly.
FLOW_RUNS_AT_ONCE = 16
# A flow run is created once no start has been in flight for this long, or after the longest
# wait: in a large fleet, starts may never pause.
_STARTS_QUIET_S = 0.5
_STARTS_QUIET_MAX_WAIT_S = 5.0
_CREATE_ATTEMPTS = 3
_CREATE_RETRY_S = 10.0

RunAnalysis = Callable[[AnalysisRequest], Awaitable[object]]


class EmitEvent(Protocol):
    def __call__(self, kind: CameraEventKind[P], camera_id: str, payload: P) -> None: ...


class Clock(Protocol):
    """The motion path's times and waits: the system's, or a test's."""

    def monotonic(self) -> float: ...

    def now_ms(self) -> int:
        """Wall-clock milliseconds, the unit of producer timestamps."""
        ...

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """Block for `seconds` or until `stop` is set; True if it is."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now_ms(self) -> int:
        return now_ms()

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        return stop.wait(seconds)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def create_analyze_run(request: AnalysisRequest) -> None:
    """The `analyze-motion` flow run that mirrors a session the bridge started."""
    await analyze_motion(request, return_state=True)


def _session_length(camera_id: str, attributes: dict[str, str]) -> int | None:
    """The camera's own session length from its thing; None (it keeps the default) if its
    settings cannot be read."""
    try:
        return spec_from_attributes(camera_id, attributes).max_duration_seconds
    except (FleetError, ValueError) as err:
        log.warning("camera %s: unreadable settings: %s", camera_id, err)
        return None


class MotionAnalysis:
    """A handler of motion events. The clock, the event emitter and the flow-run creator are the
    system's, Prefect's and `analyze-motion`'s unless given (tests give fakes)."""

    def __init__(
        self,
        rt: Runtime,
        gate: MotionGate,
        *,
        clock: Clock | None = None,
        emit: EmitEvent = emit_camera_event,
        run_analysis: RunAnalysis = create_analyze_run,
    ):
        self._rt = rt
        self._gate = gate
        self._clock = clock or SystemClock()
        self._emit = emit
        self._run_analysis = run_analysis
        self._lock = threading.Lock()
        self._durations: dict[str, int] = {}  # each camera's own session length
        self._sessions = ActiveSessions()
        self._starts_in_flight = 0
        self._last_start_done = 0.0  # monotonic
        self._starters = ThreadPoolExecutor(_STARTERS, thread_name_prefix="start")
        self._describers = ThreadPoolExecutor(_DESCRIBERS, thread_name_prefix="describe")
        self._events = ThreadPoolExecutor(1, thread_name_prefix="analysis-events")
        self._closed = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._flow_runs = asyncio.Semaphore(FLOW_RUNS_AT_ONCE)
        # Made now, not by the first start: loading the clients' service models would delay
        # that start and the others behind the clients' lock.
        if rt.analyzer is Analyzer.FRAMES:
            rt.clients.dynamodb, rt.clients.sqs  # noqa: B018
        else:
            rt.clients.rekognition  # noqa: B018
        threading.Thread(target=self._loop.run_forever, name="flow-runs", daemon=True).start()
        threading.Thread(target=self._refresh_settings, name="camera-settings", daemon=True).start()
        threading.Thread(target=self._watch_sessions, name="session-watch", daemon=True).start()

    def __call__(self, event: CameraEvent, received_ms: int) -> None:
        """The SDK's thread: decide, hand off, return."""
        if not isinstance(event, MotionEvent):
            return
        with self._lock:
            decision = self._gate.decide(
                event, self._clock.now_ms(), self._durations.get(event.camera_id)
            )
        if decision.plan is not None:
            self._submit_start(decision.plan, event)
        else:
            self._events.submit(self._report, event, decision)

    def _report(self, event: MotionEvent, decision: Decision) -> None:
        kind = _EVENT_FOR.get(decision.verdict)
        if kind is not None:
            self._emit(
                kind,
                event.camera_id,
                MotionVerdictPayload(
                    reason=decision.verdict.value,
                    sequence=event.sequence,
                    producer_timestamp_ms=event.producer_timestamp_ms,
                ),
            )

    def _submit_start(self, plan: SessionPlan, motion: MotionEvent | None = None) -> None:
        """`motion`: the event that asks for the start (None for a follow-up)."""
        with self._lock:
            self._starts_in_flight += 1
        self._starters.submit(self._start, plan, motion)

    def _start(self, plan: SessionPlan, motion: MotionEvent | None) -> None:
        try:
            self._start_session(plan, motion)
        finally:
            with self._lock:
                self._starts_in_flight -= 1
                self._last_start_done = self._clock.monotonic()

    async def _starts_quiet(self) -> None:
        give_up = self._clock.monotonic() + _STARTS_QUIET_MAX_WAIT_S
        while (now := self._clock.monotonic()) < give_up:
            with self._lock:
                quiet_for = now - self._last_start_done
                wait = _STARTS_QUIET_S - quiet_for if self._starts_in_flight == 0 else 0.1
            if wait <= 0:
                return
            await self._clock.sleep(min(wait, give_up - now))

    def _start_session(self, plan: SessionPlan, motion: MotionEvent | None) -> None:
        try:
            plan = self._within_camera_limit(plan)
            sessions = self._rt.sessions(max_age_s=math.inf)  # the watch loop re-reads it
            session = sessions.start(
                plan.camera_id, plan.start_ms, plan.duration_s, motion_ms=plan.motion_ms
            )
        except ConflictError:  # a session started elsewhere (another replica, the UI) is running
            self._events.submit(
                self._emit,
                ANALYSIS_COALESCED,
                plan.camera_id,
                MotionVerdictPayload(
                    reason="session already running",
                    sequence=motion.sequence if motion else None,
                    producer_timestamp_ms=motion.producer_timestamp_ms if motion else None,
                ),
            )
            self._free(plan.camera_id)
            return
        except FleetError as err:
            log.warning("camera %s: cannot start analysis: %s", plan.camera_id, err)
            self._events.submit(
                self._emit,
                ANALYSIS_FAILED,
                plan.camera_id,
                AnalysisFailedPayload(message=str(err)),
            )
            self._free(plan.camera_id)
            return
        started_at_ms = self._clock.now_ms()
        self._events.submit(
            self._emit,
            ANALYSIS_REQUESTED,
            plan.camera_id,
            AnalysisRequestedPayload(
                session_id=session,
                start_ms=plan.start_ms,
                duration_s=plan.duration_s,
                started_at_ms=started_at_ms,
                sequence=motion.sequence if motion else None,
                producer_timestamp_ms=motion.producer_timestamp_ms if motion else None,
            ),
        )
        started = Session(plan.camera_id, session, self._clock.monotonic())
        self._describers.submit(self._describe_then_follow, plan, started, started_at_ms)

    def _describe_then_follow(
        self, plan: SessionPlan, session: Session, started_at_ms: int
    ) -> None:
        """A describer's thread: the session's LastUpdateTimestamp first, so that the watcher,
        which may start the camera's follow-up, only sees the session once its flow run can tell
        it from the next; then the flow run."""
        updated_at = self._updated_at(session.camera_id)
        with self._lock:
            self._sessions.add(session)
        request = AnalysisRequest(
            camera_id=plan.camera_id,
            start_ms=plan.start_ms,
            duration_s=plan.duration_s,
            follow_up=plan.follow_up,
            session_id=session.session_id,
            session_updated_at=updated_at,
            started_at_ms=started_at_ms,
        )
        asyncio.run_coroutine_threadsafe(self._follow(request), self._loop)

    def _updated_at(self, camera_id: str) -> datetime | None:
        """When the started session last changed, so that its flow run, however late it begins,
        tells this session from the next (None: the run takes the first it sees)."""
        try:
            state = self._rt.sessions().describe(camera_id)
        except FleetError as err:
            log.warning("cannot describe the session of %s: %s", camera_id, err)
            return None
        return state.updated_at if state else None

    def _within_camera_limit(self, plan: SessionPlan) -> SessionPlan:
        """A camera registered since the last refresh had its session planned with the default
        length: look its own up and tell the gate."""
        with self._lock:
            if plan.camera_id in self._durations:
                return plan
        thing = iot.describe_thing(self._rt.clients, self._rt.names.thing(plan.camera_id))
        if thing is None:
            return plan
        limit = spec_from_attributes(plan.camera_id, thing.attributes).max_duration_seconds
        with self._lock:
            self._durations[plan.camera_id] = limit
            self._gate.limit_session(plan.camera_id, limit)
        return replace(plan, duration_s=min(plan.duration_s, limit))

    def _refresh_settings(self) -> None:
        """Every camera's session length, now and every few minutes (settings change)."""
        while not self._closed.is_set():
            try:
                things = iot.things_with_attribute(
                    self._rt.clients, FLEET_ATTRIBUTE, self._rt.names.fleet
                )
            except FleetError as err:  # the next refresh tries again
                log.warning("cannot read the cameras' settings: %s", err)
                things = {}
            durations = {
                camera: limit
                for camera, attributes in things.items()
                if (limit := _session_length(camera, attributes)) is not None
            }
            with self._lock:
                self._durations.update(durations)
            log.info("session lengths of %d cameras loaded", len(durations))
            self._clock.wait(self._closed, _SETTINGS_REFRESH_S)

    def facts(self) -> dict[str, str]:
        """For the heartbeat: the analyzer the bridge follows."""
        analyzer = self._rt.known_analyzer
        return {"analyzer": analyzer.value} if analyzer else {}

    def _watch_sessions(self) -> None:
        while not self._clock.wait(self._closed, _WATCH_S):
            try:
                self._rt.sessions()  # follows a switch of the fleet's analyzer
            except FleetError as err:
                log.warning("cannot read the fleet's analyzer: %s", err)
            with self._lock:
                if not self._sessions:
                    continue
            listed_at = self._clock.monotonic()
            try:
                statuses = self._rt.sessions().statuses()
            except FleetError as err:  # the next listing, or the flow run's end, frees them
                log.warning("cannot list the analysis sessions: %s", err)
                continue
            with self._lock:
                ended = self._sessions.ended(statuses, listed_at)
            for session in ended:
                self._session_ended(session.camera_id, session.session_id)

    async def _follow(self, request: AnalysisRequest) -> None:
        try:
            async with self._flow_runs:
                await self._starts_quiet()
                await self._run_flow(request)
        except Exception:  # a failed run is in the UI; the camera must not stay blocked
            log.exception("camera %s: analyze-motion failed", request.camera_id)
        assert request.session_id is not None
        self._session_ended(request.camera_id, request.session_id)

    async def _run_flow(self, request: AnalysisRequest) -> None:
        """A run the server could not create (a busy SQLite server answers 503 even after the
        client's own retries) is tried again later: every session gets its run in the UI."""
        for attempt in range(1, _CREATE_ATTEMPTS + 1):
            try:
                await self._run_analysis(request)
                return
            except PrefectHTTPStatusError as err:
                if err.response.status_code != 503 or attempt == _CREATE_ATTEMPTS:
                    raise
                log.warning(
                    "camera %s: the server could not create analyze-motion (attempt %d, 503)",
                    request.camera_id,
                    attempt,
                )
                await self._clock.sleep(_CREATE_RETRY_S * attempt)

    def _session_ended(self, camera_id: str, session_id: str) -> None:
        """Told by the watcher or the flow run, whichever is first; the other is ignored."""
        with self._lock:
            if not self._sessions.remove(camera_id, session_id):
                return
        self._free(camera_id)

    def _free(self, camera_id: str) -> None:
        with self._lock:
            follow_up = self._gate.ended(camera_id, self._clock.now_ms())
        if follow_up is not None and follow_up.plan is not None:
            self._submit_start(follow_up.plan)

    def close(self) -> None:
        self._closed.set()
        self._starters.shutdown(wait=False, cancel_futures=True)
        self._describers.shutdown(wait=False, cancel_futures=True)
        self._events.shutdown(wait=False, cancel_futures=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
