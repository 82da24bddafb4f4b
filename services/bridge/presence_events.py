"""Which Prefect events the bridge emits for what cameras report. Pure: the clock is passed in.

Per camera (resource `camera.<id>`, related to the fleet):
- `camera.online` / `camera.offline` when its presence changes (a health from a camera not known
  to be online counts as online: its `online` status may have reached another replica);
- `camera.pipeline.failed` when its pipeline enters `failed`;
- `camera.health` when the health's pipeline state or error changes, and otherwise at most once
  per `health_interval_s`: a thousand cameras reporting every 30 s would otherwise be 33 events
  a second for nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from device.messages import HealthEvent, PipelineState, Presence, StatusEvent

ONLINE, OFFLINE = "camera.online", "camera.offline"
HEALTH, PIPELINE_FAILED = "camera.health", "camera.pipeline.failed"


@dataclass(frozen=True)
class CameraEventOut:
    name: str
    camera_id: str
    payload: dict[str, Any]


@dataclass
class _Seen:
    presence: Presence | None = None
    pipeline: tuple[PipelineState, str | None] | None = None
    health_at: float | None = None  # when the last camera.health was emitted


@dataclass
class PresenceEvents:
    health_interval_s: float = 300.0
    _cameras: dict[str, _Seen] = field(default_factory=dict)

    def observe(self, event: StatusEvent | HealthEvent, now: float) -> list[CameraEventOut]:
        seen = self._cameras.setdefault(event.camera_id, _Seen())
        if isinstance(event, StatusEvent):
            return self._presence(event.camera_id, seen, event.presence, event.reason)
        out = self._presence(event.camera_id, seen, Presence.ONLINE, None)
        pipeline = (event.pipeline, event.pipeline_error)
        changed = pipeline != seen.pipeline
        if changed and event.pipeline is PipelineState.FAILED:
            out.append(
                CameraEventOut(
                    PIPELINE_FAILED, event.camera_id, {"error": event.pipeline_error or ""}
                )
            )
        due = seen.health_at is None or now - seen.health_at >= self.health_interval_s
        seen.pipeline = pipeline
        if changed or due:
            seen.health_at = now
            out.append(CameraEventOut(HEALTH, event.camera_id, health_payload(event)))
        return out

    def _presence(
        self, camera_id: str, seen: _Seen, presence: Presence, reason: str | None
    ) -> list[CameraEventOut]:
        if presence is seen.presence:
            return []
        seen.presence = presence
        if presence is Presence.OFFLINE:
            seen.pipeline = None  # whatever it reports next is news
        name = ONLINE if presence is Presence.ONLINE else OFFLINE
        return [CameraEventOut(name, camera_id, {"reason": reason} if reason else {})]


def health_payload(event: HealthEvent) -> dict[str, Any]:
    """What a `camera.health` event carries: the health without its bulky parts."""
    return event.model_dump(
        mode="json",
        include={
            "pipeline",
            "pipeline_error",
            "uptime_seconds",
            "restarts",
            "fps",
            "bitrate_kbps",
            "dropped_frames",
            "motion_count",
            "agent_cpu_percent",
            "agent_rss_mb",
            "temperature_c",
        },
        exclude_none=True,
    )
