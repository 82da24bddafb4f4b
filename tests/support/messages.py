"""Messages of the MQTT contract for tests: valid by default, any field overridden."""

from __future__ import annotations

from device.messages import HealthEvent, PipelineState

AT_MS = 1_800_000_000_000


def health_event(**fields: object) -> HealthEvent:
    values: dict[str, object] = {
        "camera_id": "front-door",
        "sent_at_ms": AT_MS,
        "pipeline": PipelineState.RUNNING,
        "uptime_seconds": 1,
        "restarts": 0,
        "fps": 15,
        "bitrate_kbps": 900,
        "dropped_frames": 0,
        "motion_count": 0,
        "agent_cpu_percent": 1,
        "agent_rss_mb": 40,
    }
    values.update(fields)
    return HealthEvent.model_validate(values)
