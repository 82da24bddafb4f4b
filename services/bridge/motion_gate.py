"""Which motion events start an analysis session: the bridge's fast path. Pure: times are passed in.

Every session costs money and a start while a session is active is refused by Rekognition, so
per camera:
- a repeated event (same sequence number: a re-sent PUBACK-less publish) is a duplicate;
- motion older than the video the stream keeps is stale;
- motion inside the active session's window is coalesced into it;
- motion in the last `tail_s` of the window, or after it while the session is still running,
  asks for a follow-up session that starts where this one ends, so continuous activity is
  covered without gaps;
- a new session needs `cooldown_s` since the last one ended (follow-ups are exempt) and room in
  the camera's daily budget of analysed seconds (a session is shortened to what is left).
Times: producer timestamps and `now_ms` are wall-clock milliseconds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum

from cloud.settings import FleetSettings
from device.messages import MotionEvent

_SEEN_SEQUENCES = 64


class Verdict(StrEnum):
    START = "start"
    COALESCED = "coalesced"
    FOLLOW_UP = "follow-up"
    COOLDOWN = "cooldown"
    BUDGET = "budget"
    DUPLICATE = "duplicate"
    STALE = "stale"


@dataclass(frozen=True)
class GateSettings:
    preroll_ms: int = 2_000
    max_duration_s: int = 30
    tail_s: int = 5
    cooldown_s: int = 10
    daily_budget_s: int = 30 * 60
    retention_s: int = 3_600

    @classmethod
    def from_fleet(cls, settings: FleetSettings) -> GateSettings:
        return cls(
            preroll_ms=settings.analysis_preroll_ms,
            cooldown_s=settings.analysis_cooldown_seconds,
            daily_budget_s=settings.analysis_daily_budget_minutes * 60,
        )


@dataclass(frozen=True)
class SessionPlan:
    """A session to start: from `start_ms` (producer time) for `duration_s`; `motion_ms`: the
    motion that asks for it (none for a follow-up)."""

    camera_id: str
    start_ms: int
    duration_s: int
    follow_up: bool = False
    motion_ms: int | None = None

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_s * 1000


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    plan: SessionPlan | None = None


@dataclass
class _Camera:
    active: SessionPlan | None = None
    follow_up_wanted: bool = False
    last_end_ms: int | None = None
    max_duration_s: int | None = None
    day: str = ""
    used_s: int = 0
    seen: deque[int] = field(default_factory=lambda: deque(maxlen=_SEEN_SEQUENCES))


class MotionGate:
    def __init__(self, settings: GateSettings | None = None):
        self.settings = settings or GateSettings()
        self._cameras: dict[str, _Camera] = {}

    def decide(
        self, motion: MotionEvent, now_ms: int, max_duration_s: int | None = None
    ) -> Decision:
        """`max_duration_s`: the camera's own session length, when known (else the default)."""
        s, camera = self.settings, self._cameras.setdefault(motion.camera_id, _Camera())
        if max_duration_s is not None:
            camera.max_duration_s = max_duration_s
        if motion.sequence in camera.seen:
            return Decision(Verdict.DUPLICATE)
        camera.seen.append(motion.sequence)
        if motion.producer_timestamp_ms < now_ms - s.retention_s * 1000:
            return Decision(Verdict.STALE)
        if camera.active is not None:
            if motion.producer_timestamp_ms < camera.active.end_ms - s.tail_s * 1000:
                return Decision(Verdict.COALESCED)
            camera.follow_up_wanted = True
            return Decision(Verdict.FOLLOW_UP)
        if camera.last_end_ms is not None and (
            motion.producer_timestamp_ms - camera.last_end_ms < s.cooldown_s * 1000
        ):
            return Decision(Verdict.COOLDOWN)
        moment = motion.producer_timestamp_ms
        return self._start(motion.camera_id, camera, moment - s.preroll_ms, now_ms, moment)

    def ended(self, camera_id: str, now_ms: int) -> Decision | None:
        """The camera's session ended: the follow-up it asked for, if any (and affordable)."""
        camera = self._cameras.get(camera_id)
        if camera is None or camera.active is None:
            return None
        finished, camera.active = camera.active, None
        camera.last_end_ms = finished.end_ms
        if not camera.follow_up_wanted:
            return None
        camera.follow_up_wanted = False
        return self._start(camera_id, camera, finished.end_ms, now_ms, None)

    def _start(
        self, camera_id: str, camera: _Camera, start_ms: int, now_ms: int, motion_ms: int | None
    ) -> Decision:
        s = self.settings
        today = datetime.fromtimestamp(now_ms / 1000, UTC).date().isoformat()
        if camera.day != today:
            camera.day, camera.used_s = today, 0
        duration = min(camera.max_duration_s or s.max_duration_s, s.daily_budget_s - camera.used_s)
        if duration < 1:
            return Decision(Verdict.BUDGET)
        camera.used_s += duration
        camera.active = SessionPlan(camera_id, start_ms, duration, motion_ms is None, motion_ms)
        return Decision(Verdict.START, camera.active)

    def limit_session(self, camera_id: str, max_duration_s: int) -> SessionPlan | None:
        """The camera's own session length, learnt after its first start was planned with the
        default: shorten the active session (and refund its budget) so that coalescing, the
        follow-up and the cooldown use the window that was really started."""
        camera = self._cameras.setdefault(camera_id, _Camera())
        camera.max_duration_s = max_duration_s
        active = camera.active
        if active is None or active.duration_s <= max_duration_s:
            return active
        camera.used_s -= active.duration_s - max_duration_s
        camera.active = replace(active, duration_s=max_duration_s)
        return camera.active

    def analysed_today_s(self, camera_id: str) -> int:
        camera = self._cameras.get(camera_id)
        return camera.used_s if camera else 0
