"""The bridge's per-camera state and its shadow-write policy, on a fake clock."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.messages import HealthEvent, MotionEvent, PipelineState, Presence, StatusEvent
from services.bridge.camera_state import INFERRED_REASON, FleetState, PendingWrite
from tests.support.messages import health_event

CAM = "front-door"
T0_MS = 1_800_000_000_000
INTERVAL = 15.0


def status(presence: Presence, reason: str | None = None, at: int = T0_MS) -> StatusEvent:
    return StatusEvent(camera_id=CAM, sent_at_ms=at, presence=presence, reason=reason)


def health(
    pipeline: PipelineState = PipelineState.RUNNING,
    at: int = T0_MS,
    versions: dict[str, str] | None = None,
    **fields: object,
) -> HealthEvent:
    return health_event(
        **{"camera_id": CAM, "sent_at_ms": at, "pipeline": pipeline, "versions": versions or {}},
        **fields,
    )


def motion(at: int = T0_MS, sequence: int = 1) -> MotionEvent:
    return MotionEvent(
        camera_id=CAM, sent_at_ms=at, sequence=sequence, producer_timestamp_ms=at, score=0.8
    )


def write_all(state: FleetState, now: float) -> list[PendingWrite]:
    writes = state.due(now)
    for write in writes:
        state.written(write, now)
    return writes


def test_a_presence_change_is_written_at_once() -> None:
    state = FleetState(min_interval_s=INTERVAL)
    assert state.observe(status(Presence.ONLINE), T0_MS) is True
    [first] = write_all(state, now=0.0)
    assert first.urgent and first.update.presence is not None
    assert first.update.presence.presence is Presence.ONLINE

    # One second later, well inside the interval: offline is written at once all the same.
    assert state.observe(status(Presence.OFFLINE, "connection lost"), T0_MS + 1000) is True
    [second] = state.due(now=1.0)
    assert second.urgent
    assert second.update.presence is not None
    assert second.update.presence.reason == "connection lost"
    assert second.update.presence.status_at_ms == T0_MS + 1000


def test_the_same_presence_again_writes_nothing_new() -> None:
    state = FleetState(min_interval_s=INTERVAL)
    state.observe(status(Presence.OFFLINE, "agent stopped"), T0_MS)
    write_all(state, now=0.0)
    assert state.observe(status(Presence.OFFLINE, "agent stopped"), T0_MS + 500) is False
    assert state.due(now=100.0) == []  # an offline status does not count as "seen" either


def test_a_status_message_not_seen_before_is_written_at_once_even_if_its_presence_is() -> None:
    """Replicas share the cameras' messages: this one saw `online`, another the `offline` after
    it (and wrote it); the camera's next `online` is new, not a retained copy."""
    state = FleetState(min_interval_s=INTERVAL)
    state.observe(status(Presence.ONLINE), T0_MS)
    write_all(state, now=0.0)
    assert state.observe(status(Presence.ONLINE, at=T0_MS + 2_000), T0_MS + 2_010) is True
    [write] = state.due(now=2.0)
    assert write.urgent and write.update.presence is not None
    assert write.update.presence.status_at_ms == T0_MS + 2_010


def test_a_burst_of_health_within_the_interval_is_written_once() -> None:
    state = FleetState(min_interval_s=INTERVAL)
    state.observe(status(Presence.ONLINE), T0_MS)
    state.observe(health(at=T0_MS), T0_MS)
    assert len(write_all(state, now=0.0)) == 1  # presence and first health together

    for second in range(1, 11):  # ten health messages, same pipeline state
        urgent = state.observe(health(at=T0_MS + second * 1000, motion_count=second), T0_MS)
        assert urgent is False
        assert state.due(now=float(second)) == []
    assert state.next_due_in(now=10.0) == pytest.approx(INTERVAL - 10.0)

    [write] = state.due(now=INTERVAL)
    assert not write.urgent
    assert write.update.health is not None and write.update.health.motion_count == 10
    assert write.update.presence is None  # unchanged parts are not written again
    state.written(write, now=INTERVAL)
    assert state.due(now=INTERVAL + 100) == []
    assert state.next_due_in(now=INTERVAL + 100) is None


def test_a_pipeline_state_change_is_written_at_once() -> None:
    state = FleetState(min_interval_s=INTERVAL)
    state.observe(health(PipelineState.RUNNING), T0_MS)
    write_all(state, now=0.0)
    state.observe(health(PipelineState.RUNNING, at=T0_MS + 1000), T0_MS + 1000)
    assert state.due(now=1.0) == []

    assert state.observe(health(PipelineState.STALLED, at=T0_MS + 2000), T0_MS + 2000) is True
    [write] = state.due(now=2.0)
    assert write.urgent
    assert write.update.health is not None
    assert write.update.health.pipeline is PipelineState.STALLED


def test_a_failed_write_is_kept_and_retried_with_backoff() -> None:
    state = FleetState(min_interval_s=INTERVAL, retry_min_s=1.0, retry_max_s=4.0)
    state.observe(status(Presence.ONLINE), T0_MS)
    [write] = state.due(now=0.0)
    assert state.failed(write, now=0.0) == 1.0
    assert state.due(now=0.5) == []  # backing off, not lost
    state.observe(health(), T0_MS + 700)  # meanwhile more arrived

    [retry] = state.due(now=1.0)
    assert retry.update.presence is not None and retry.update.health is not None
    assert state.failed(retry, now=1.0) == 2.0
    assert state.failed(state.due(now=3.0)[0], now=3.0) == 4.0
    assert state.failed(state.due(now=7.0)[0], now=7.0) == 4.0  # capped

    [last] = state.due(now=11.0)
    state.written(last, now=11.0)
    assert state.due(now=11.0) == []
    assert state.pending() == 0


def test_a_write_that_cannot_succeed_is_given_up_until_the_camera_changes() -> None:
    state = FleetState(min_interval_s=INTERVAL)
    state.observe(status(Presence.ONLINE), T0_MS)
    [write] = state.due(now=0.0)
    state.dropped(write, now=0.0)
    assert state.due(now=1000.0) == []
    state.observe(status(Presence.OFFLINE), T0_MS + 1)
    assert len(state.due(now=1000.0)) == 1


def test_health_from_a_camera_without_presence_means_online() -> None:
    state = FleetState(min_interval_s=INTERVAL)
    assert state.observe(health(), T0_MS + 5) is True
    [write] = state.due(now=0.0)
    assert write.update.presence is not None
    assert write.update.presence.presence is Presence.ONLINE
    assert write.update.presence.reason == INFERRED_REASON
    assert write.update.last_seen_ms == T0_MS + 5


def test_health_does_not_overturn_an_offline_the_replica_saw() -> None:
    state = FleetState(min_interval_s=INTERVAL)
    state.observe(status(Presence.OFFLINE, "connection lost"), T0_MS)
    write_all(state, now=0.0)
    state.observe(health(), T0_MS + 10)
    [write] = state.due(now=0.0)  # the pipeline is news (urgent), the presence is not
    assert write.update.presence is None


def test_last_seen_counts_what_the_camera_sent_not_its_last_will() -> None:
    state = FleetState(min_interval_s=INTERVAL)
    state.observe(status(Presence.ONLINE), T0_MS)
    state.observe(motion(), T0_MS + 2000)
    state.observe(status(Presence.OFFLINE, "connection lost"), T0_MS + 9000)
    [write] = state.due(now=0.0)
    assert write.update.last_seen_ms == T0_MS + 2000


def test_the_last_motion_is_written_with_the_next_write_not_at_once() -> None:
    state = FleetState(min_interval_s=INTERVAL)
    state.observe(status(Presence.ONLINE), T0_MS)
    write_all(state, now=0.0)

    # The producer timestamp (the camera's clock, as its video), not when the bridge got it.
    assert state.observe(motion(at=T0_MS + 1000), T0_MS + 1500) is False
    assert state.due(now=1.0) == []
    [write] = state.due(now=INTERVAL)
    assert not write.urgent
    assert (write.update.last_motion_ms, write.update.last_seen_ms) == (T0_MS + 1000, T0_MS + 1500)
    state.written(write, now=INTERVAL)

    # An older motion delivered late (queued while the camera was offline) changes nothing.
    state.observe(motion(at=T0_MS + 500, sequence=0), T0_MS + 1500)
    assert state.due(now=2 * INTERVAL) == []

    # Urgent writes carry a newer motion along.
    state.observe(motion(at=T0_MS + 3000, sequence=2), T0_MS + 3000)
    state.observe(status(Presence.OFFLINE, "connection lost"), T0_MS + 4000)
    [urgent] = state.due(now=INTERVAL + 1)
    assert urgent.urgent and urgent.update.last_motion_ms == T0_MS + 3000


def test_an_older_health_delivered_late_is_ignored() -> None:
    state = FleetState(min_interval_s=INTERVAL)
    state.observe(health(at=T0_MS + 1000, fps=10.0), T0_MS)
    state.observe(health(at=T0_MS, fps=3.0), T0_MS)
    [write] = state.due(now=0.0)
    assert write.update.health is not None and write.update.health.fps == 10.0


def test_version_keys_the_written_health_had_are_listed_as_stale() -> None:
    state = FleetState(min_interval_s=INTERVAL)
    state.observe(health(versions={"agent": "1", "gstreamer": "1.22"}), T0_MS)
    write_all(state, now=0.0)
    state.observe(health(at=T0_MS + 1, versions={"agent": "2"}), T0_MS + 1)
    [write] = state.due(now=INTERVAL)
    assert set(write.update.stale_versions) >= {"gstreamer"}


def test_cameras_are_independent_and_urgent_writes_come_first() -> None:
    state = FleetState(min_interval_s=INTERVAL)
    state.observe(health(), T0_MS)
    write_all(state, now=0.0)
    state.observe(health(at=T0_MS + 1, motion_count=3), T0_MS + 1)  # throttled change
    other = StatusEvent(camera_id="garage", sent_at_ms=T0_MS, presence=Presence.ONLINE)
    state.observe(other, T0_MS)
    writes = state.due(now=INTERVAL)
    assert [w.camera_id for w in writes] == ["garage", CAM]
    assert state.cameras == 2


def test_a_camera_being_written_is_not_due_again_until_settled() -> None:
    state = FleetState(min_interval_s=INTERVAL)
    state.observe(status(Presence.ONLINE), T0_MS)
    [first] = state.due(now=0.0)
    # Offline arrives while the online write is under way: no second, racing write.
    assert state.observe(status(Presence.OFFLINE, "connection lost"), T0_MS + 10) is True
    assert state.due(now=0.0) == []
    assert state.next_due_in(now=0.0) is None
    state.written(first, now=0.1)
    assert state.next_due_in(now=0.1) == 0.0
    [second] = state.due(now=0.1)
    assert second.urgent and second.update.presence is not None
    assert second.update.presence.presence is Presence.OFFLINE


def test_a_failed_write_frees_the_camera_for_its_retry() -> None:
    state = FleetState(min_interval_s=INTERVAL, retry_min_s=1.0)
    state.observe(status(Presence.ONLINE), T0_MS)
    [write] = state.due(now=0.0)
    state.failed(write, now=0.0)
    assert state.next_due_in(now=0.0) == pytest.approx(1.0)
    assert len(state.due(now=1.0)) == 1


def test_a_limited_due_takes_urgent_writes_first_then_the_longest_due() -> None:
    state = FleetState(min_interval_s=INTERVAL)
    for camera in ("a", "b", "c"):
        state.observe(health_event(camera_id=camera, sent_at_ms=T0_MS), T0_MS)
    written = {w.camera_id: w for w in state.due(now=0.0)}
    state.written(written["a"], now=2.0)  # a's routine write is due at 17 s
    state.written(written["b"], now=1.0)  # b's at 16 s: due longer
    state.written(written["c"], now=3.0)
    for camera in ("a", "b"):
        state.observe(health_event(camera_id=camera, sent_at_ms=T0_MS + 1), T0_MS + 1)
    state.observe(
        health_event(camera_id="c", sent_at_ms=T0_MS + 1, pipeline=PipelineState.FAILED),
        T0_MS + 1,
    )
    assert [w.camera_id for w in state.due(now=20.0, limit=2)] == ["c", "b"]
    assert [w.camera_id for w in state.due(now=20.0, limit=2)] == ["a"]  # the one left over
    assert state.due(now=20.0, limit=2) == []


def test_many_cameras_heard_from_again_are_due_one_interval_after_their_write() -> None:
    state = FleetState(min_interval_s=INTERVAL)
    cameras = [f"cam-{i}" for i in range(50)]
    for camera in cameras:
        state.observe(health_event(camera_id=camera, sent_at_ms=T0_MS), T0_MS)
    for write in state.due(now=0.0):
        state.written(write, now=0.0)
    for camera in cameras:
        assert (
            state.observe(health_event(camera_id=camera, sent_at_ms=T0_MS + 1), T0_MS + 1) is False
        )
    assert state.due(now=INTERVAL - 0.1) == []
    assert state.next_due_in(now=5.0) == pytest.approx(INTERVAL - 5.0)
    assert len(state.due(now=INTERVAL)) == 50


def _walked_due(state: FleetState, now: float) -> set[str]:
    """Which cameras are due, by walking every camera (what `due` must agree with)."""
    return {
        camera_id
        for camera_id, camera in state._cameras.items()
        if not camera.writing and camera.due_at <= now and not camera.update().empty
    }


def _walked_next(state: FleetState, now: float) -> float | None:
    soonest = min((c.due_at for c in state._cameras.values() if not c.writing), default=math.inf)
    return None if soonest == math.inf else max(0.0, soonest - now)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["status", "health", "failed-health", "due", "settle", "wait"]),
            st.sampled_from(["a", "b", "c", "d"]),
            st.sampled_from(["written", "failed", "dropped"]),
        ),
        max_size=80,
    )
)
def test_due_agrees_with_a_walk_of_every_camera(steps: list[tuple[str, str, str]]) -> None:
    """The index `due` keeps (urgent cameras, a heap of routine ones) picks exactly the cameras
    a walk of the fleet finds due, and `next_due_in` the same time, whatever happened before."""
    state = FleetState(min_interval_s=INTERVAL, retry_min_s=1.0, retry_max_s=4.0)
    now, sent = 0.0, T0_MS
    pending: list[PendingWrite] = []
    for action, camera, outcome in steps:
        sent += 1
        if action == "status":
            presence = Presence.ONLINE if sent % 2 else Presence.OFFLINE
            event = StatusEvent(camera_id=camera, sent_at_ms=sent, presence=presence)
            state.observe(event, sent)
        elif action in ("health", "failed-health"):
            pipeline = PipelineState.FAILED if action == "failed-health" else PipelineState.RUNNING
            state.observe(health_event(camera_id=camera, sent_at_ms=sent, pipeline=pipeline), sent)
        elif action == "due":
            assert state.next_due_in(now) == _walked_next(state, now)
            expected = _walked_due(state, now)
            writes = state.due(now)
            assert {w.camera_id for w in writes} == expected
            pending += writes
        elif action == "settle" and pending:
            write = pending.pop(0)
            getattr(state, outcome)(write, now)
        elif action == "wait":
            now += 5.0
    assert state.next_due_in(now) == _walked_next(state, now)
