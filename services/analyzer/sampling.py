"""Which images of a session's window to ask KVS for next, and when the session is done. Pure: the
clock is passed in.

A session samples its window `[start_ms, end_ms]` every `interval_ms` of producer time, on a grid
through `first_ms` (the motion's moment, looked at first: it is where something moved), in near
real time: it asks GetImages from the next wanted timestamp (the cursor) up to what should be
ingested by now (at most `max_images` at a time, one page), and waits when the cursor is ahead of
the clock. The session may change the interval after any image it analysed (`resume`): the rest of
that answer is then not wanted, and sampling goes on from that image at the new interval. An answer
resolves every timestamp up to its last image that has content (or a MEDIA_ERROR, which no retry
mends); NO_MEDIA images before that one are gaps in the video and are skipped, while NO_MEDIA
images after it are video not ingested yet: they are asked for again `retry_ms` later, until the
window's end plus `grace_ms` (the deadline). An answer given after the deadline is final: what it
lacks is never asked for again. So a session worked late (a queue backlog, a redelivery) asks for
each timestamp once, but for the rest of a page it resumes from at another interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cloud.analysis.images import ImageError, StreamImage


@dataclass(frozen=True)
class Window:
    start_ms: int
    end_ms: int
    interval_ms: int
    grace_ms: int
    retry_ms: int = 1000
    max_images: int = 25
    first_ms: int | None = None

    def __post_init__(self) -> None:
        if self.end_ms < self.start_ms or self.interval_ms <= 0 or self.max_images < 1:
            raise ValueError(f"not a sampling window: {self}")

    @property
    def grid_start_ms(self) -> int:
        """The first sampling timestamp: on the grid through `first_ms` when it is in the window."""
        first = self.first_ms
        if first is None or not self.start_ms <= first <= self.end_ms:
            return self.start_ms
        return first - (first - self.start_ms) // self.interval_ms * self.interval_ms

    @property
    def deadline_ms(self) -> int:
        return self.end_ms + self.grace_ms


@dataclass(frozen=True)
class Fetch:
    """Ask GetImages for `[start_ms, end_ms]`, an image every `interval_ms`."""

    start_ms: int
    end_ms: int
    interval_ms: int


@dataclass(frozen=True)
class Wait:
    """Nothing to ask for before `until_ms` (wall clock, milliseconds)."""

    until_ms: int


@dataclass(frozen=True)
class Finished:
    """Every timestamp of the window was resolved or given up."""


Step = Fetch | Wait | Finished


class Sampler:
    """One session's sampling: `next_step(now)`, then `observe` the answer of each Fetch."""

    def __init__(self, window: Window) -> None:
        self.window = window
        self.interval_ms = window.interval_ms
        self.cursor_ms = window.grid_start_ms
        self._retry_at_ms: int | None = None
        self.images_with_content = 0
        self.media_errors = 0
        self.gaps = 0  # timestamps without video, given up
        self.retries = 0  # fetches answered with video not ingested yet

    @property
    def finished(self) -> bool:
        return self.cursor_ms > self.window.end_ms

    def next_step(self, now_ms: int) -> Step:
        window = self.window
        if self.finished:
            return Finished()
        if self._retry_at_ms is not None and now_ms < self._retry_at_ms:
            return Wait(self._retry_at_ms)
        available = min(window.end_ms, now_ms)
        if available < self.cursor_ms:
            return Wait(self.cursor_ms)
        last = self.cursor_ms + (window.max_images - 1) * self.interval_ms
        return Fetch(
            self.cursor_ms, max(self.cursor_ms + 1, min(available, last)), self.interval_ms
        )

    def resume(self, after_ms: int, interval_ms: int) -> None:
        """Sample every `interval_ms` from the image at `after_ms` on; what the last answer had
        after it is asked for again on the new grid."""
        if interval_ms <= 0:
            raise ValueError(f"not a sampling interval: {interval_ms}")
        self.interval_ms = interval_ms
        self.cursor_ms = after_ms + interval_ms
        self._retry_at_ms = None

    def observe(
        self, fetch: Fetch, images: Sequence[StreamImage], now_ms: int
    ) -> list[StreamImage]:
        """The images of this answer to analyse, in timestamp order; moves the cursor."""
        window = self.window
        answered = sorted(
            (i for i in images if self.cursor_ms <= i.timestamp_ms <= window.end_ms),
            key=lambda i: i.timestamp_ms,
        )
        resolved_through = max(
            (i.timestamp_ms for i in answered if i.content is not None or _is_media_error(i)),
            default=None,
        )
        final = now_ms >= window.deadline_ms
        through = fetch.end_ms if final else resolved_through
        self._retry_at_ms = None
        if through is None:  # nothing ingested yet from the cursor on
            self.retries += 1
            self._retry_at_ms = now_ms + window.retry_ms
            return []
        settled = [i for i in answered if i.timestamp_ms <= through]
        usable = [i for i in settled if i.content is not None]
        self.images_with_content += len(usable)
        self.media_errors += sum(1 for i in settled if _is_media_error(i))
        self.gaps += sum(1 for i in settled if i.content is None and not _is_media_error(i))
        if final:
            self.cursor_ms = self._after(fetch.end_ms)
        else:
            self.cursor_ms = through + self.interval_ms
            if any(i.timestamp_ms > through for i in answered):  # the ingestion edge
                self.retries += 1
                self._retry_at_ms = now_ms + window.retry_ms
        return usable

    def _after(self, ms: int) -> int:
        """The first sampling timestamp after `ms`, on the cursor's grid."""
        interval = self.interval_ms
        return self.cursor_ms + ((ms - self.cursor_ms) // interval + 1) * interval


def _is_media_error(image: StreamImage) -> bool:
    return image.content is None and image.error is ImageError.MEDIA_ERROR
