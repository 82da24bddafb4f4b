"""Each camera's latest status in the bridge's memory, and when to write it to the shadow. Pure:
the clocks are passed in (`received_ms`: wall clock, for what is stored; `now`: monotonic
seconds, for scheduling). It writes nothing itself: the bridge makes the writes `due` returns.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

from cloud.shadow import PresenceReport, ShadowUpdate
from device.messages import HealthEvent, MotionEvent, Presence, StatusEvent

INFERRED_REASON = "health received"

CameraEvent = StatusEvent | HealthEvent | MotionEvent


@dataclass(frozen=True)
class PendingWrite:
    camera_id: str
    update: ShadowUpdate
    urgent: bool


@dataclass
class _Camera:
    presence: PresenceReport | None = None
    presence_sent_ms: int | None = None  # the sending time of the status message it came from
    last_seen_ms: int | None = None
    health: HealthEvent | None = None
    last_motion_ms: int | None = None
    # What this replica last wrote (or gave up on), per part.
    written_presence: PresenceReport | None = None
    written_last_seen_ms: int | None = None
    written_last_motion_ms: int | None = None
    written_health: HealthEvent | None = None
    last_write: float | None = None
    retry_at: float = 0.0
    failures: int = 0
    writing: bool = False  # a write returned by `due` is not settled yet
    # When `due` should look at it (monotonic; inf: nothing to write), worked out when the camera
    # changes, so `due` and `next_due_in` compare a number per camera and build no update.
    due_at: float = math.inf

    @property
    def dirty(self) -> bool:
        """Something may differ from what was written (cheap: `update` says what exactly). The
        parts kept are replaced, never changed in place, so the same object means equal."""
        return (
            self.presence is not self.written_presence
            or self.last_seen_ms != self.written_last_seen_ms
            or self.health is not self.written_health
            or self.last_motion_ms != self.written_last_motion_ms
        )

    @property
    def urgent(self) -> bool:
        """A presence this replica has not written yet (a status message it had not seen: with
        replicas side by side, the change in between may have gone to another), or a pipeline
        change."""
        pipeline = self.health.pipeline if self.health else None
        written_pipeline = self.written_health.pipeline if self.written_health else None
        return self.presence != self.written_presence or pipeline != written_pipeline

    def reschedule(self, min_interval_s: float) -> None:
        """`due_at` after a change: at once if urgent or never written, else one interval after
        the last write; never before a retry's backoff ends."""
        if not self.dirty:
            self.due_at = math.inf
        elif self.urgent or self.last_write is None:
            self.due_at = self.retry_at
        else:
            self.due_at = max(self.retry_at, self.last_write + min_interval_s)

    def update(self) -> ShadowUpdate:
        stale = self.written_health.versions.keys() if self.written_health else ()
        return ShadowUpdate(
            presence=self.presence if self.presence != self.written_presence else None,
            last_seen_ms=(
                self.last_seen_ms if self.last_seen_ms != self.written_last_seen_ms else None
            ),
            health=self.health if self.health != self.written_health else None,
            last_motion_ms=(
                self.last_motion_ms if self.last_motion_ms != self.written_last_motion_ms else None
            ),
            stale_versions=tuple(sorted(stale)) if self.health != self.written_health else (),
        )


@dataclass
class FleetState:
    """Per camera: presence (from `status`; a health from a camera this replica has no presence
    for means it is online), the latest health, when it was last heard from (any message but an
    offline status, which the broker may publish for it as its Last Will), and its latest motion
    (the producer timestamp of the newest `motion`: the camera's clock, as its video).

    When it is written (`due`): at once when the presence or the pipeline state changes (urgent);
    otherwise at most once per `min_interval_s`; only what differs from what this replica last
    wrote (`ShadowUpdate`); a failed write is retried with exponential backoff, one that cannot
    succeed is given up (`dropped`) until the camera changes again; one write per camera at a
    time, until it is settled (`written`, `failed` or `dropped`)."""

    min_interval_s: float = 15.0
    retry_min_s: float = 1.0
    retry_max_s: float = 60.0
    _cameras: dict[str, _Camera] = field(default_factory=dict)
    # What `due` looks at, so that it never walks the fleet: the cameras with an urgent write
    # (in the order they became urgent), and a heap of (due_at, camera) for the routine ones; an
    # entry whose camera has moved on since is dropped when reached.
    _urgent: dict[str, None] = field(default_factory=dict)
    _routine: list[tuple[float, str]] = field(default_factory=list)

    @property
    def cameras(self) -> int:
        return len(self._cameras)

    def pending(self) -> int:
        """Cameras with something not written yet."""
        return sum(c.dirty and not c.update().empty for c in self._cameras.values())

    def observe(self, event: CameraEvent, received_ms: int) -> bool:
        """Take a valid message in; True if the camera now has an urgent write."""
        camera = self._cameras.setdefault(event.camera_id, _Camera())
        if isinstance(event, StatusEvent):
            self._status(camera, event, received_ms)
        elif isinstance(event, HealthEvent):
            camera.last_seen_ms = received_ms
            self._health(camera, event, received_ms)
        else:
            camera.last_seen_ms = received_ms
            camera.last_motion_ms = max(camera.last_motion_ms or 0, event.producer_timestamp_ms)
        self._schedule(event.camera_id, camera)
        return camera.urgent

    def _schedule(self, camera_id: str, camera: _Camera) -> None:
        """Work out when the camera is due and file it where `due` looks."""
        before = camera.due_at
        camera.reschedule(self.min_interval_s)
        if camera.due_at == math.inf or camera.writing:
            self._urgent.pop(camera_id, None)
        elif camera.urgent:
            self._urgent.setdefault(camera_id, None)
        else:
            self._urgent.pop(camera_id, None)
            if camera.due_at != before:
                heapq.heappush(self._routine, (camera.due_at, camera_id))

    def _routine_entry(self, due_at: float, camera_id: str) -> _Camera | None:
        """The camera of a heap entry, if the entry still holds."""
        camera = self._cameras.get(camera_id)
        if camera is None or camera.writing or camera.urgent or camera.due_at != due_at:
            return None
        return camera

    @staticmethod
    def _status(camera: _Camera, event: StatusEvent, received_ms: int) -> None:
        if event.presence is Presence.ONLINE:
            camera.last_seen_ms = received_ms
        current = camera.presence
        if (
            current is not None
            and current.presence is event.presence
            and current.reason == event.reason
            and camera.presence_sent_ms in (event.sent_at_ms, None)
        ):
            return  # the status it has again (a retained copy): keep when it began
        camera.presence = PresenceReport(
            presence=event.presence, reason=event.reason, status_at_ms=received_ms
        )
        camera.presence_sent_ms = event.sent_at_ms

    @staticmethod
    def _health(camera: _Camera, event: HealthEvent, received_ms: int) -> None:
        if camera.health is not None and event.sent_at_ms < camera.health.sent_at_ms:
            return  # an older one delivered late
        camera.health = event
        if camera.presence is None:
            camera.presence = PresenceReport(
                presence=Presence.ONLINE, reason=INFERRED_REASON, status_at_ms=received_ms
            )

    def due(self, now: float, limit: int | None = None) -> list[PendingWrite]:
        """The writes to make now: urgent ones first, then those due longest, at most `limit`.
        Each is the camera's only write until it is settled (`written`, `failed`, `dropped`).
        The bridge asks for as many as it has writers free, so an urgent change never waits
        behind a queue of routine writes; a camera left for later is written with whatever it
        has by then."""
        room = math.inf if limit is None else limit
        chosen: list[tuple[str, _Camera]] = []
        for camera_id in list(self._urgent):
            if len(chosen) >= room:
                break
            camera = self._cameras[camera_id]
            if not camera.writing and camera.due_at <= now:
                chosen.append((camera_id, camera))
        while self._routine and len(chosen) < room and self._routine[0][0] <= now:
            due_at, camera_id = heapq.heappop(self._routine)
            held = self._routine_entry(due_at, camera_id)
            if held is not None:
                chosen.append((camera_id, held))
        writes: list[PendingWrite] = []
        for camera_id, camera in chosen:
            self._urgent.pop(camera_id, None)
            update = camera.update()
            if update.empty:  # what changed is equal to what was written
                camera.due_at = math.inf
                continue
            camera.writing = True
            writes.append(PendingWrite(camera_id, update, camera.urgent))
        return writes

    def next_due_in(self, now: float) -> float | None:
        """Seconds until `due` will have something, or None if nothing is pending (a camera
        whose write is under way counts once it is settled)."""
        soonest = min(
            (self._cameras[c].due_at for c in self._urgent if not self._cameras[c].writing),
            default=math.inf,
        )
        while self._routine and self._routine_entry(*self._routine[0]) is None:
            heapq.heappop(self._routine)
        if self._routine:
            soonest = min(soonest, self._routine[0][0])
        return None if soonest == math.inf else max(0.0, soonest - now)

    def written(self, write: PendingWrite, now: float) -> None:
        camera = self._cameras[write.camera_id]
        self._settle(camera, write.update)
        camera.last_write, camera.failures, camera.retry_at = now, 0, 0.0
        self._done(write.camera_id, camera)

    def failed(self, write: PendingWrite, now: float) -> float:
        """Keep it for a retry; returns the backoff in seconds."""
        camera = self._cameras[write.camera_id]
        camera.failures += 1
        backoff: float = min(self.retry_max_s, self.retry_min_s * 2.0 ** (camera.failures - 1))
        camera.retry_at = now + backoff
        self._done(write.camera_id, camera)
        return backoff

    def dropped(self, write: PendingWrite, now: float) -> None:
        """A write that cannot succeed: forget it until the camera changes again."""
        camera = self._cameras[write.camera_id]
        self._settle(camera, write.update)
        camera.last_write, camera.failures, camera.retry_at = now, 0, 0.0
        self._done(write.camera_id, camera)

    def _done(self, camera_id: str, camera: _Camera) -> None:
        camera.writing = False
        camera.due_at = math.inf  # filed afresh: its heap entries, if any, no longer hold
        self._schedule(camera_id, camera)

    @staticmethod
    def _settle(camera: _Camera, update: ShadowUpdate) -> None:
        if update.presence is not None:
            camera.written_presence = update.presence
        if update.last_seen_ms is not None:
            camera.written_last_seen_ms = update.last_seen_ms
        if update.health is not None:
            camera.written_health = update.health
        if update.last_motion_ms is not None:
            camera.written_last_motion_ms = update.last_motion_ms
