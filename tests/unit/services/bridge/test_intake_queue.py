"""The bridge's intake queue: arrival order kept, a waiting health replaced by its camera's newer
one (counted and reported), motion and status never replaced, drained after close."""

from __future__ import annotations

import threading

from hypothesis import given
from hypothesis import strategies as st

from services.bridge.intake_queue import IntakeQueue, Received, health_camera


def test_health_camera_is_read_from_health_topics_only() -> None:
    assert health_camera("fleet/front-door/health") == "front-door"
    assert health_camera("fleet/front-door/motion") is None
    assert health_camera("fleet/front-door/status") is None
    assert health_camera("fleet//health") is None
    assert health_camera("other/front-door/health") is None
    assert health_camera("fleet/a/b/health") is None


def test_a_waiting_health_is_replaced_in_place_by_its_cameras_newer_one() -> None:
    replaced: list[Received] = []
    queue = IntakeQueue(replaced.append, coalesce_at=0)
    queue.put("fleet/a/health", b"a1", 1)
    queue.put("fleet/a/motion", b"m1", 2)
    queue.put("fleet/b/health", b"b1", 3)
    queue.put("fleet/a/health", b"a2", 4)
    queue.put("fleet/a/status", b"s1", 5)
    queue.put("fleet/a/health", b"a3", 6)

    taken = queue.take()
    assert [(m.topic, m.payload, m.received_ms) for m in taken] == [
        ("fleet/a/health", b"a3", 6),
        ("fleet/a/motion", b"m1", 2),
        ("fleet/b/health", b"b1", 3),
        ("fleet/a/status", b"s1", 5),
    ]
    assert [(m.payload, m.received_ms) for m in replaced] == [(b"a1", 1), (b"a2", 4)]
    assert queue.coalesced == 2
    assert queue.high_water == 4


def test_a_health_taken_already_is_not_replaced() -> None:
    queue = IntakeQueue(coalesce_at=0)
    queue.put("fleet/a/health", b"a1", 1)
    assert [m.payload for m in queue.take()] == [b"a1"]
    queue.put("fleet/a/health", b"a2", 2)
    assert [m.payload for m in queue.take()] == [b"a2"]
    assert queue.coalesced == 0


def test_below_the_backlog_limit_every_health_is_kept() -> None:
    """A burst from one camera while the handler is a moment behind is handled whole."""
    queue = IntakeQueue(coalesce_at=3)
    for payload in (b"bad json", b"h1", b"h2", b"h3", b"h4"):
        queue.put("fleet/a/health", payload, 1)
    # The first three queue as they come; from the third waiting on, the newest replaces the
    # latest waiting one.
    assert [m.payload for m in queue.take(timeout_s=0)] == [b"bad json", b"h1", b"h4"]
    assert queue.coalesced == 2


def test_take_returns_at_most_its_limit_in_order() -> None:
    queue = IntakeQueue()
    for i in range(5):
        queue.put(f"fleet/c{i}/motion", b"", i)
    assert [m.received_ms for m in queue.take(limit=3)] == [0, 1, 2]
    assert [m.received_ms for m in queue.take(limit=3)] == [3, 4]
    assert len(queue) == 0


def test_take_waits_for_a_message_and_close_drains() -> None:
    queue = IntakeQueue()
    got: list[list[Received]] = []
    waiter = threading.Thread(target=lambda: got.append(queue.take(timeout_s=30)))
    waiter.start()
    queue.put("fleet/a/motion", b"m", 1)
    waiter.join(30)
    assert [m.payload for m in got[0]] == [b"m"]

    queue.put("fleet/a/status", b"s", 2)
    queue.close()
    assert not queue.drained
    assert [m.payload for m in queue.take(timeout_s=30)] == [b"s"]
    assert queue.drained
    assert queue.take(timeout_s=30) == []


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]), st.sampled_from(["health", "motion", "status"])
        ),
        max_size=60,
    ),
    st.sampled_from([0, 3, 1000]),
)
def test_nothing_but_health_is_ever_lost(messages: list[tuple[str, str]], coalesce_at: int) -> None:
    """Every non-health message comes out once, in order; each camera's latest health comes out;
    what is missing is exactly what was coalesced."""
    coalesced: list[Received] = []
    queue = IntakeQueue(coalesced.append, coalesce_at=coalesce_at)
    sent = [
        (f"fleet/{camera}/{kind}", str(i).encode()) for i, (camera, kind) in enumerate(messages)
    ]
    taken: list[Received] = []
    for at, (topic, payload) in enumerate(sent):
        queue.put(topic, payload, at)
        if at % 7 == 6:  # the handler catches up now and then
            taken += queue.take()
    taken += queue.take(limit=len(sent) + 1, timeout_s=0)
    out = [(m.topic, m.payload) for m in taken]
    assert [m for m in out if not m[0].endswith("/health")] == [
        m for m in sent if not m[0].endswith("/health")
    ]
    assert sorted(out + [(m.topic, m.payload) for m in coalesced]) == sorted(sent)
    assert len(coalesced) == queue.coalesced
    for camera in "abc":
        healths = [m for m in sent if m[0] == f"fleet/{camera}/health"]
        if healths:
            assert healths[-1] in out
