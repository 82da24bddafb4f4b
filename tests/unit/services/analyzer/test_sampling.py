"""Which images a session asks for, and when: a table of answers in, steps out (fake clock)."""

from __future__ import annotations

import pytest

from cloud.analysis.images import ImageError, StreamImage
from services.analyzer.sampling import Fetch, Finished, Sampler, Wait, Window

T0 = 1_900_000_000_000


def content(ts: int) -> StreamImage:
    return StreamImage(timestamp_ms=ts, content=b"\xff\xd8" + ts.to_bytes(8, "big"))


def no_media(ts: int) -> StreamImage:
    return StreamImage(timestamp_ms=ts, error=ImageError.NO_MEDIA)


def media_error(ts: int) -> StreamImage:
    return StreamImage(timestamp_ms=ts, error=ImageError.MEDIA_ERROR)


def window(seconds: int = 10, **changes: int) -> Window:
    values = {"interval_ms": 1000, "grace_ms": 5000, "retry_ms": 1000, "max_images": 25}
    values.update(changes)
    return Window(start_ms=T0, end_ms=T0 + seconds * 1000, **values)


def test_in_real_time_it_asks_only_for_what_should_be_ingested_by_now() -> None:
    sampler = Sampler(window())
    assert sampler.next_step(T0 - 500) == Wait(T0)
    assert sampler.next_step(T0 + 3400) == Fetch(T0, T0 + 3400, 1000)


def test_it_never_asks_past_the_window_nor_more_than_a_page() -> None:
    sampler = Sampler(window(seconds=100, max_images=25))
    assert sampler.next_step(T0 + 500_000) == Fetch(T0, T0 + 24_000, 1000)
    sampler = Sampler(window(seconds=10))
    assert sampler.next_step(T0 + 500_000) == Fetch(T0, T0 + 10_000, 1000)


def test_an_answer_moves_the_cursor_past_its_last_image() -> None:
    sampler = Sampler(window())
    fetch = sampler.next_step(T0 + 2000)
    assert isinstance(fetch, Fetch)
    got = sampler.observe(fetch, [content(T0), content(T0 + 1000), content(T0 + 2000)], T0 + 2000)
    assert [i.timestamp_ms for i in got] == [T0, T0 + 1000, T0 + 2000]
    assert sampler.next_step(T0 + 2000) == Wait(T0 + 3000)
    assert sampler.next_step(T0 + 3000) == Fetch(T0 + 3000, T0 + 3001, 1000)


def test_video_not_ingested_yet_is_asked_for_again_after_the_retry_delay() -> None:
    sampler = Sampler(window())
    fetch = Fetch(T0, T0 + 4000, 1000)
    answer = [content(T0), content(T0 + 1000), no_media(T0 + 2000), no_media(T0 + 3000)]
    got = sampler.observe(fetch, answer, T0 + 4000)
    assert [i.timestamp_ms for i in got] == [T0, T0 + 1000]
    assert sampler.next_step(T0 + 4500) == Wait(T0 + 5000)
    assert sampler.next_step(T0 + 5000) == Fetch(T0 + 2000, T0 + 5000, 1000)
    assert sampler.retries == 1


def test_no_media_before_video_is_a_gap_and_is_not_asked_for_again() -> None:
    sampler = Sampler(window())
    answer = [no_media(T0), no_media(T0 + 1000), content(T0 + 2000)]
    got = sampler.observe(Fetch(T0, T0 + 2000, 1000), answer, T0 + 2000)
    assert [i.timestamp_ms for i in got] == [T0 + 2000]
    assert sampler.gaps == 2
    assert sampler.cursor_ms == T0 + 3000


def test_a_media_error_is_settled_and_not_analysed() -> None:
    sampler = Sampler(window())
    got = sampler.observe(
        Fetch(T0, T0 + 1000, 1000), [content(T0), media_error(T0 + 1000)], T0 + 1000
    )
    assert [i.timestamp_ms for i in got] == [T0]
    assert (sampler.media_errors, sampler.cursor_ms) == (1, T0 + 2000)


def test_an_empty_answer_is_asked_for_again() -> None:
    sampler = Sampler(window())
    assert sampler.observe(Fetch(T0, T0 + 1000, 1000), [], T0 + 1000) == []
    assert sampler.next_step(T0 + 1000) == Wait(T0 + 2000)
    assert sampler.cursor_ms == T0


def test_after_the_deadline_an_answer_is_final() -> None:
    sampler = Sampler(window(seconds=10, grace_ms=5000))
    deadline = T0 + 15_000
    fetch = sampler.next_step(deadline)
    assert fetch == Fetch(T0, T0 + 10_000, 1000)
    answer = [content(T0 + i * 1000) for i in range(4)] + [
        no_media(T0 + i * 1000) for i in range(4, 11)
    ]
    got = sampler.observe(fetch, answer, deadline)
    assert len(got) == 4 and sampler.gaps == 7
    assert sampler.finished and sampler.next_step(deadline) == Finished()


def test_a_late_session_walks_the_window_page_by_page_asking_each_time_once() -> None:
    sampler = Sampler(window(seconds=60, max_images=25))
    now = T0 + 3_600_000
    asked: list[int] = []
    while not isinstance(step := sampler.next_step(now), Finished):
        assert isinstance(step, Fetch)
        stamps = list(range(step.start_ms, step.end_ms + 1, 1000))
        asked += stamps
        sampler.observe(step, [no_media(ts) for ts in stamps], now)
    assert asked == [T0 + i * 1000 for i in range(61)]


def test_images_outside_the_window_or_before_the_cursor_are_ignored() -> None:
    sampler = Sampler(window(seconds=2))
    sampler.cursor_ms = T0 + 1000
    got = sampler.observe(
        Fetch(T0 + 1000, T0 + 3000, 1000),
        [content(T0), content(T0 + 1000), content(T0 + 3000)],
        T0 + 3000,
    )
    assert [i.timestamp_ms for i in got] == [T0 + 1000]


@pytest.mark.parametrize(
    "changes",
    [{"interval_ms": 0}, {"max_images": 0}],
)
def test_a_window_must_make_sense(changes: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        window(**changes)
    with pytest.raises(ValueError):
        Window(start_ms=T0, end_ms=T0 - 1, interval_ms=1000, grace_ms=0)


@pytest.mark.parametrize(
    ("first_ms", "grid_start"),
    [(2000, 2000), (7000, 1000), (0, 0), (None, 0), (-1000, 0), (11_000, 0)],
)
def test_the_grid_goes_through_the_motions_moment_when_it_is_in_the_window(
    first_ms: int | None, grid_start: int
) -> None:
    first = None if first_ms is None else T0 + first_ms
    sampler = Sampler(window(interval_ms=3000, first_ms=first))  # type: ignore[arg-type]
    assert sampler.next_step(T0 + 20_000) == Fetch(T0 + grid_start, T0 + 10_000, 3000)


def test_resuming_at_another_interval_asks_again_after_the_image_it_resumes_from() -> None:
    sampler = Sampler(window(interval_ms=3000))
    fetch = sampler.next_step(T0 + 20_000)
    assert isinstance(fetch, Fetch)
    answer = [content(T0 + i * 3000) for i in range(4)]
    assert len(sampler.observe(fetch, answer, T0 + 20_000)) == 4
    sampler.resume(T0 + 3000, 1000)
    assert sampler.next_step(T0 + 20_000) == Fetch(T0 + 4000, T0 + 10_000, 1000)
    with pytest.raises(ValueError):
        sampler.resume(T0 + 3000, 0)
