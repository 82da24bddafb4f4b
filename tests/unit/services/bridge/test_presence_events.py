"""The bridge's Prefect events per camera: presence changes, pipeline failures, rate-limited
health."""

from device.messages import PipelineState, Presence, StatusEvent
from services.bridge.presence_events import (
    HEALTH,
    OFFLINE,
    ONLINE,
    PIPELINE_FAILED,
    CameraEventOut,
    PresenceEvents,
)
from tests.support.messages import AT_MS, health_event


def status(presence: Presence, reason: str | None = None) -> StatusEvent:
    return StatusEvent(camera_id="front-door", sent_at_ms=AT_MS, presence=presence, reason=reason)


def names(events: list[CameraEventOut]) -> list[str]:
    return [e.name for e in events]


def test_presence_changes_are_events_and_repeats_are_not() -> None:
    policy = PresenceEvents()
    assert names(policy.observe(status(Presence.ONLINE), 0)) == [ONLINE]
    assert policy.observe(status(Presence.ONLINE), 1) == []
    (offline,) = policy.observe(status(Presence.OFFLINE, "connection lost"), 2)
    assert offline.name == OFFLINE and offline.payload == {"reason": "connection lost"}
    assert offline.camera_id == "front-door"


def test_health_is_emitted_on_change_and_otherwise_once_per_interval() -> None:
    policy = PresenceEvents(health_interval_s=60)
    first = policy.observe(health_event(fps=15), 0)
    assert names(first) == [ONLINE, HEALTH]  # heard from: it is online
    assert first[1].payload["fps"] == 15 and first[1].payload["pipeline"] == "running"
    assert policy.observe(health_event(fps=14.5), 30) == []  # nothing new, too soon
    assert names(policy.observe(health_event(fps=14.9), 61)) == [HEALTH]  # the interval
    stalled = policy.observe(health_event(pipeline=PipelineState.STALLED), 62)
    assert names(stalled) == [HEALTH]  # a change: at once


def test_a_failed_pipeline_is_its_own_event_once_per_failure() -> None:
    policy = PresenceEvents(health_interval_s=60)
    policy.observe(health_event(), 0)
    failed = policy.observe(
        health_event(pipeline=PipelineState.FAILED, pipeline_error="no element kvssink"), 1
    )
    assert names(failed) == [PIPELINE_FAILED, HEALTH]
    assert failed[0].payload == {"error": "no element kvssink"}
    same = health_event(pipeline=PipelineState.FAILED, pipeline_error="no element kvssink")
    assert policy.observe(same, 2) == []
    policy.observe(health_event(), 3)
    assert names(policy.observe(same, 4)) == [PIPELINE_FAILED, HEALTH]  # failed again


def test_after_going_offline_the_first_health_is_news() -> None:
    policy = PresenceEvents(health_interval_s=600)
    policy.observe(health_event(), 0)
    policy.observe(status(Presence.OFFLINE), 1)
    assert names(policy.observe(health_event(), 2)) == [ONLINE, HEALTH]


def test_cameras_are_independent() -> None:
    policy = PresenceEvents(health_interval_s=600)
    policy.observe(health_event(camera_id="a"), 0)
    assert names(policy.observe(health_event(camera_id="b"), 1)) == [ONLINE, HEALTH]
