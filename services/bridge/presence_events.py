"""Which Prefect events the bridge emits for what cameras report. Pure: the clock is passed in.

Per camera: `CAMERA_ONLINE` / `CAMERA_OFFLINE` when its presence changes (a health from a camera
not known online counts as online), `PIPELINE_FAILED` when its pipeline enters `failed`, and
`CAMERA_HEALTH` when the pipeline's state or error changes, otherwise at most once per
`health_interval_s` (the kinds are `flows.events`').
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic

from device.messages import HealthEvent, PipelineState, Presence, StatusEvent
from flows.events import (
    CAMERA_HEALTH,
    CAMERA_OFFLINE,
    CAMERA_ONLINE,
    PIPELINE_FAILED,
    CameraEventKind,
    HealthPayload,
    P,
    PipelineFailedPayload,
    PresencePayload,
)


@dataclass(frozen=True)
class CameraEventOut(Generic[P]):
    kind: CameraEventKind[P]
    camera_id: str
    payload: P


@dataclass
class _Seen:
    presence: Presence | None = None
    pipeline: tuple[PipelineState, str | None] | None = None
    health_at: float | None = None  # when the last health event was emitted


@dataclass
class PresenceEvents:
    health_interval_s: float = 300.0
    _cameras: dict[str, _Seen] = field(default_factory=dict)

    def observe(self, event: StatusEvent | HealthEvent, now: float) -> list[CameraEventOut[Any]]:
        seen = self._cameras.setdefault(event.camera_id, _Seen())
        if isinstance(event, StatusEvent):
            return self._presence(event.camera_id, seen, event.presence, event.reason)
        out = self._presence(event.camera_id, seen, Presence.ONLINE, None)
        pipeline = (event.pipeline, event.pipeline_error)
        changed = pipeline != seen.pipeline
        if changed and event.pipeline is PipelineState.FAILED:
            failure = PipelineFailedPayload(error=event.pipeline_error or "")
            out.append(CameraEventOut(PIPELINE_FAILED, event.camera_id, failure))
        due = seen.health_at is None or now - seen.health_at >= self.health_interval_s
        seen.pipeline = pipeline
        if changed or due:
            seen.health_at = now
            out.append(CameraEventOut(CAMERA_HEALTH, event.camera_id, health_payload(event)))
        return out

    def _presence(
        self, camera_id: str, seen: _Seen, presence: Presence, reason: str | None
    ) -> list[CameraEventOut[Any]]:
        if presence is seen.presence:
            return []
        seen.presence = presence
        if presence is Presence.OFFLINE:
            seen.pipeline = None  # whatever it reports next is news
        kind = CAMERA_ONLINE if presence is Presence.ONLINE else CAMERA_OFFLINE
        payload = PresencePayload(reason=reason) if reason else PresencePayload()
        return [CameraEventOut(kind, camera_id, payload)]


def health_payload(event: HealthEvent) -> HealthPayload:
    """What a health event carries: the health without its bulky parts, unset what is None."""
    fields = set(HealthPayload.model_fields)
    return HealthPayload.model_validate(event.model_dump(include=fields, exclude_none=True))
