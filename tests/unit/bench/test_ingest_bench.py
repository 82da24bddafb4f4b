"""bench/ingest.py's pure parts: the message stream, the percentiles and the books."""

from __future__ import annotations

import pytest

from bench.ingest_core import (
    EVENT_HEALTH,
    EVENT_OFFLINE,
    Coalesced,
    Lag,
    Planned,
    Processed,
    Sent,
    StoredEvent,
    Stream,
    Written,
    event_lags,
    event_message_number,
    index_processed,
    offered_rate,
    overload_rate,
    percentiles,
    replica_cpus,
    step_books,
    sustained,
    under,
)
from device.messages import MotionEvent, PipelineState, Presence, TopicKind, decode, topic

T0 = 1_800_000_000_000


def test_each_camera_warms_up_then_flaps_sees_motion_and_restarts_once_a_cycle() -> None:
    stream = Stream(["a", "b"], cycle=10)
    messages = [stream.next() for _ in range(40)]
    a = [planned for index, planned in messages if index == 0]
    assert [m.n for m in a] == list(range(20))
    assert (a[0].kind, a[0].presence, a[0].change) == (TopicKind.STATUS, Presence.ONLINE, False)
    assert (a[1].kind, a[1].pipeline, a[1].change) == (
        TopicKind.HEALTH,
        PipelineState.RUNNING,
        False,
    )
    changes = [(m.n, m.presence or m.pipeline) for m in a if m.change]
    assert changes == [
        (5, PipelineState.RESTARTING),
        (6, PipelineState.RUNNING),
        (10, Presence.OFFLINE),
        (11, Presence.ONLINE),
        (15, PipelineState.RESTARTING),
        (16, PipelineState.RUNNING),
    ]
    # Camera b is one message ahead in its cycle: the changes are spread over the cameras.
    b_changes = [m.n for index, m in messages if index == 1 and m.change]
    assert b_changes == [4, 5, 9, 10, 14, 15, 19]
    # One motion a cycle (at a quarter of it), never a change.
    assert [m.n for m in a if m.kind is TopicKind.MOTION] == [2, 12]
    assert [m.n for index, m in messages if index == 1 and m.kind is TopicKind.MOTION] == [11]
    assert not any(m.change for _, m in messages if m.kind is TopicKind.MOTION)


def test_a_cycle_too_short_to_keep_changes_apart_is_refused() -> None:
    with pytest.raises(ValueError):
        Stream(["a"], cycle=7)


def test_stamps_are_unique_per_camera_even_within_a_millisecond() -> None:
    stream = Stream(["a", "b"])
    assert [stream.stamp(0, T0), stream.stamp(0, T0), stream.stamp(1, T0)] == [T0, T0 + 1, T0]


def test_payloads_follow_the_contract_and_name_their_message() -> None:
    status = Planned("cam-1", 7, TopicKind.STATUS, presence=Presence.OFFLINE)
    event = decode(topic("cam-1", TopicKind.STATUS), status.payload(T0))
    assert event.sent_at_ms == T0 and getattr(event, "reason", None) == "bench 7"
    health = Planned("cam-1", 8, TopicKind.HEALTH, pipeline=PipelineState.RESTARTING)
    decoded = decode(topic("cam-1", TopicKind.HEALTH), health.payload(T0 + 1))
    assert getattr(decoded, "uptime_seconds", None) == 8.0
    assert event_message_number(EVENT_OFFLINE, {"reason": "bench 7"}) == 7
    assert event_message_number(EVENT_HEALTH, {"uptime_seconds": 8.0}) == 8
    assert event_message_number(EVENT_OFFLINE, {"reason": "connection lost"}) is None
    motion = decode(
        topic("cam-1", TopicKind.MOTION), Planned("cam-1", 9, TopicKind.MOTION).payload(T0)
    )
    assert isinstance(motion, MotionEvent)
    assert (motion.sequence, motion.producer_timestamp_ms, motion.sent_at_ms) == (9, T0, T0)


def test_percentiles_are_nearest_rank_and_lower_bounds_propagate() -> None:
    stats = percentiles([Lag(float(v)) for v in range(1, 101)])
    assert (stats["p50_ms"], stats["p99_ms"], stats["max_ms"]) == (50, 99, 100)
    assert stats["samples"] == 100 and stats["late"] == 0
    bounded = percentiles([Lag(10), Lag(20), Lag(5, at_least=True)])
    assert bounded["p50_ms"] == 10 and bounded["p50_at_least"] is True  # rank 2 includes the 5
    assert under(stats, "p99", 100) and not under(stats, "p99", 99)
    assert not under(bounded, "p50", 1000)
    assert percentiles([])["p50_ms"] is None and not under(percentiles([]), "p50", 1)


def _sent(
    camera: str, n: int, at: int, kind: TopicKind, change: bool = False, **state: object
) -> Sent:
    planned = Planned(camera, n, kind, change=change, **state)  # type: ignore[arg-type]
    return Sent(0, planned, at, acked=True)


def test_the_books_count_loss_duplicates_and_time_each_message() -> None:
    sent = [
        _sent("a", 2, T0, TopicKind.HEALTH, pipeline=PipelineState.RUNNING),
        _sent("a", 3, T0 + 10, TopicKind.HEALTH, pipeline=PipelineState.RUNNING),
        _sent("b", 2, T0 + 20, TopicKind.HEALTH, pipeline=PipelineState.RUNNING),
    ]
    processed = index_processed(
        [
            Processed("a", T0, T0 + 5, T0 + 6),
            Processed("a", T0, T0 + 40, T0 + 41),  # redelivered
            Processed("a", T0 + 10, T0 + 12, T0 + 13),
        ]
    )
    writes = [Written("a", T0 + 15_000, None, None, T0 + 10, "running")]
    books = step_books(sent, processed, writes, read_at_ms=T0 + 20_000)
    assert (books.published, books.acked, books.processed) == (3, 3, 2)
    assert books.duplicates == 1 and books.lost == [("b", T0 + 20)]
    assert books.intake["p50_ms"] == 3 and books.intake["max_ms"] == 6
    # One write brought the shadow up to both healths: the newer one, written itself.
    assert books.routine_written == 1
    assert books.routine_to_shadow["samples"] == 2 and books.routine_to_shadow["max_ms"] == 15_000
    assert books.changes == 0 and books.change_to_shadow["samples"] == 0


def test_loss_is_counted_per_kind_and_a_coalesced_health_is_not_lost() -> None:
    motion = _sent("a", 2, T0, TopicKind.MOTION)
    offline = _sent("a", 3, T0 + 10, TopicKind.STATUS, change=True, presence=Presence.OFFLINE)
    routine = _sent("a", 4, T0 + 20, TopicKind.HEALTH, pipeline=PipelineState.RUNNING)
    restart = _sent(
        "a", 5, T0 + 30, TopicKind.HEALTH, change=True, pipeline=PipelineState.RESTARTING
    )
    newest = _sent("a", 6, T0 + 40, TopicKind.HEALTH, pipeline=PipelineState.RUNNING)
    lost_health = _sent("b", 4, T0 + 20, TopicKind.HEALTH, pipeline=PipelineState.RUNNING)
    sent = [motion, offline, routine, restart, newest, lost_health]
    processed = index_processed([Processed("a", T0 + 40, T0 + 41, T0 + 42)])
    coalesced = {Coalesced("a", T0 + 20, T0 + 21).key, Coalesced("a", T0 + 30, T0 + 31).key}
    books = step_books(sent, processed, [], T0 + 9000, coalesced=coalesced).as_dict()
    assert books["lost_by_kind"] == {"motion": 1, "status": 1, "health": 1}
    assert books["coalesced_by_kind"] == {"motion": 0, "status": 0, "health": 2}
    assert books["lost"] == 3 and books["processed"] == 1 and books["changes_coalesced"] == 1
    assert not sustained(books, 1000)
    # Nothing lost, but healths coalesced: the bridge did not keep up.
    only_coalesced = step_books(
        [routine, restart, newest], processed, [], T0 + 9000, coalesced=coalesced
    ).as_dict()
    assert only_coalesced["lost"] == 0 and not sustained(only_coalesced, 1000)
    kept_up = step_books([newest], processed, [], T0 + 9000).as_dict()
    assert sustained(kept_up, 1000) and not sustained(kept_up, 2)  # intake lag 2 ms


def test_the_overload_step_doubles_the_highest_sustained_rate() -> None:
    assert overload_rate([(1000, True), (2000, True), (3000, False)]) == 4000
    assert overload_rate([(1000, True), (2000, False), (3000, True)]) == 6000
    assert overload_rate([(1000, False)]) is None
    # What the publishers made, when they fell short of what was asked.
    assert offered_rate(1000, 20_000, 20.5) == 1000
    assert offered_rate(4000, 60_000, 20.0) == 3000


def test_a_change_counts_until_the_shadow_shows_the_cameras_state_again() -> None:
    offline = _sent("a", 10, T0, TopicKind.STATUS, change=True, presence=Presence.OFFLINE)
    online = _sent("a", 11, T0 + 1000, TopicKind.STATUS, change=True, presence=Presence.ONLINE)
    restart = _sent("b", 5, T0, TopicKind.HEALTH, change=True, pipeline=PipelineState.RESTARTING)
    running = _sent("b", 6, T0 + 500, TopicKind.HEALTH, change=True, pipeline=PipelineState.RUNNING)
    routine = _sent("b", 7, T0 + 900, TopicKind.HEALTH, pipeline=PipelineState.RUNNING)
    never = _sent("c", 10, T0, TopicKind.STATUS, change=True, presence=Presence.OFFLINE)
    processed = index_processed(
        [
            Processed("a", T0, T0 + 2, T0 + 3),
            Processed("a", T0 + 1000, T0 + 1002, T0 + 1003),
            Processed("b", T0, T0 + 1, T0 + 2),
            Processed("b", T0 + 500, T0 + 501, T0 + 502),
            Processed("b", T0 + 900, T0 + 901, T0 + 902),
            Processed("c", T0, T0 + 1, T0 + 2),
        ]
    )
    writes = [
        # Before the step, every shadow shows the camera online and running.
        Written("a", T0 - 1000, T0 - 2000, "online", None, None),
        Written("b", T0 - 1000, None, None, T0 - 2000, "running"),
        Written("c", T0 - 1000, T0 - 2000, "online", None, None),
        # a went offline and back before a write: the shadow, online all along, agreed again as
        # soon as the bridge had the online; that online went out later, as routine news.
        Written("a", T0 + 20_000, T0 + 1002, "online", None, None),
        Written("b", T0 + 80, None, None, T0, "restarting"),
        # b's `running` went out with the newer routine health of the same state.
        Written("b", T0 + 1200, None, None, T0 + 900, "running"),
    ]
    books = step_books(
        [offline, online, restart, running, routine, never], processed, writes, T0 + 5000
    )
    assert (books.changes, books.changes_never_shown, books.changes_unwritten) == (5, 1, 1)
    stats = books.change_to_shadow  # offline 1003, online 3, restart 80, running 700, c >= 5000
    assert (stats["samples"], stats["late"]) == (5, 1)
    assert stats["p50_ms"] == 700 and not stats["p50_at_least"]
    assert stats["max_ms"] == 5000 and stats["max_at_least"]
    assert books.routine_written == 1 and books.routine_to_shadow["max_ms"] == 300


def test_the_camera_state_comes_from_the_whole_run_not_just_the_step() -> None:
    earlier = _sent("a", 10, T0, TopicKind.STATUS, change=True, presence=Presence.OFFLINE)
    step = _sent("a", 11, T0 + 1000, TopicKind.STATUS, change=True, presence=Presence.ONLINE)
    processed = index_processed(
        [Processed("a", T0, T0 + 1, T0 + 2), Processed("a", T0 + 1000, T0 + 1001, T0 + 1002)]
    )
    writes = [Written("a", T0 + 500, T0 + 1, "offline", None, None)]
    books = step_books([step], processed, writes, T0 + 9000, history=[earlier, step])
    assert books.changes_unwritten == 1  # the shadow still shows offline
    late = step_books(
        [step],
        processed,
        [*writes, Written("a", T0 + 1400, T0 + 1001, "online", None, None)],
        T0 + 9000,
        history=[earlier, step],
    )
    assert late.change_to_shadow["max_ms"] == 400 and late.changes_never_shown == 0


def test_events_are_timed_per_message_and_missing_ones_counted() -> None:
    offline = _sent("a", 10, T0, TopicKind.STATUS, change=True, presence=Presence.OFFLINE)
    routine = _sent("a", 12, T0 + 2000, TopicKind.HEALTH, pipeline=PipelineState.RUNNING)
    online = _sent("b", 11, T0, TopicKind.STATUS, change=True, presence=Presence.ONLINE)
    elsewhere = _sent("c", 11, T0, TopicKind.STATUS, change=True, presence=Presence.ONLINE)
    events = [StoredEvent("a", EVENT_OFFLINE, 10, T0 + 40)]
    stats, missing = event_lags(
        [offline, routine, online, elsewhere], events, {"a", "b"}, False, T0 + 9000
    )
    assert missing == 1  # b's change; a's routine health owes no event, c is not sampled
    assert stats["samples"] == 2 and stats["p50_ms"] == 40 and stats["max_at_least"]
    _, every = event_lags([offline, routine], events, {"a"}, True, T0 + 9000)
    assert every == 1  # the naive way owes one per message


def test_replicas_get_a_cpu_each_beside_the_stacks_or_share_the_last() -> None:
    assert replica_cpus(1, 2) == [1]
    assert replica_cpus(2, 4) == [2, 3]
    assert replica_cpus(2, 2) == [1]
