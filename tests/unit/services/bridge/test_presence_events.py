"""The bridge's Prefect events per camera: presence changes, pipeline failures, rate-limited
health."""

from typing import Any

from device.messages import PipelineState, Presence, StatusEvent
from flows.events import (
    CAMERA_HEALTH,
    CAMERA_OFFLINE,
    CAMERA_ONLINE,
    PIPELINE_FAILED,
    CameraEventKind,
    PipelineFailedPayload,
    PresencePayload,
)
from services.bridge.presence_events import CameraEventOut, PresenceEvents, health_payload
from tests.support.messages import AT_MS, health_event


def status(presence: Presence, reason: str | None = None) -> StatusEvent:
    return StatusEvent(camera_id="front-door", sent_at_ms=AT_MS, presence=presence, reason=reason)


def kinds(events: list[CameraEventOut[Any]]) -> list[CameraEventKind[Any]]:
    return [e.kind for e in events]


def test_presence_changes_are_events_and_repeats_are_not() -> None:
    policy = PresenceEvents()
    assert kinds(policy.observe(status(Presence.ONLINE), 0)) == [CAMERA_ONLINE]
    assert policy.observe(status(Presence.ONLINE), 1) == []
    (offline,) = policy.observe(status(Presence.OFFLINE, "connection lost"), 2)
    assert offline.kind == CAMERA_OFFLINE
    assert offline.payload == PresencePayload(reason="connection lost")
    assert offline.payload.wire() == {"reason": "connection lost"}
    assert offline.camera_id == "front-door"


def test_health_is_emitted_on_change_and_otherwise_once_per_interval() -> None:
    policy = PresenceEvents(health_interval_s=60)
    first = policy.observe(health_event(fps=15), 0)
    assert kinds(first) == [CAMERA_ONLINE, CAMERA_HEALTH]  # heard from: it is online
    assert first[1].payload.wire()["fps"] == 15
    assert first[1].payload.wire()["pipeline"] == "running"
    assert policy.observe(health_event(fps=14.5), 30) == []  # nothing new, too soon
    assert kinds(policy.observe(health_event(fps=14.9), 61)) == [CAMERA_HEALTH]  # the interval
    stalled = policy.observe(health_event(pipeline=PipelineState.STALLED), 62)
    assert kinds(stalled) == [CAMERA_HEALTH]  # a change: at once


def test_a_failed_pipeline_is_its_own_event_once_per_failure() -> None:
    policy = PresenceEvents(health_interval_s=60)
    policy.observe(health_event(), 0)
    failed = policy.observe(
        health_event(pipeline=PipelineState.FAILED, pipeline_error="no element kvssink"), 1
    )
    assert kinds(failed) == [PIPELINE_FAILED, CAMERA_HEALTH]
    assert failed[0].payload == PipelineFailedPayload(error="no element kvssink")
    same = health_event(pipeline=PipelineState.FAILED, pipeline_error="no element kvssink")
    assert policy.observe(same, 2) == []
    policy.observe(health_event(), 3)
    assert kinds(policy.observe(same, 4)) == [PIPELINE_FAILED, CAMERA_HEALTH]  # failed again


def test_after_going_offline_the_first_health_is_news() -> None:
    policy = PresenceEvents(health_interval_s=600)
    policy.observe(health_event(), 0)
    policy.observe(status(Presence.OFFLINE), 1)
    assert kinds(policy.observe(health_event(), 2)) == [CAMERA_ONLINE, CAMERA_HEALTH]


def test_cameras_are_independent() -> None:
    policy = PresenceEvents(health_interval_s=600)
    policy.observe(health_event(camera_id="a"), 0)
    assert kinds(policy.observe(health_event(camera_id="b"), 1)) == [CAMERA_ONLINE, CAMERA_HEALTH]


def test_a_presence_without_reason_carries_an_empty_payload() -> None:
    (online,) = PresenceEvents().observe(status(Presence.ONLINE), 0)
    assert online.payload.wire() == {}


def test_the_health_payload_is_the_health_without_its_bulky_parts() -> None:
    report = health_event(temperature_c=41.5, versions={"agent": "1"}, last_fragment_ms=AT_MS)
    assert health_payload(report).wire() == {
        "pipeline": "running",
        "uptime_seconds": 1.0,
        "restarts": 0,
        "fps": 15.0,
        "bitrate_kbps": 900.0,
        "dropped_frames": 0,
        "motion_count": 0,
        "agent_cpu_percent": 1.0,
        "agent_rss_mb": 40.0,
        "temperature_c": 41.5,
    }  # no versions, no last fragment, no unset pipeline_error
