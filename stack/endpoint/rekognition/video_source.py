"""Video of one camera from the local fragment store, by producer timestamp: GetMedia's stand-in.

The camera agent writes ``<fragment root>/<camera>/<producer timestamp ms>.mkv`` (Matroska,
H.264, about 2 s each), named ``.mkv.partial`` while it is being written (``device/fragments.py``).
A session reads the window ``[start_ms, end_ms)``: the fragment holding ``start_ms`` (the last
one that starts at or before it) and every later one that starts before ``end_ms``, frame by
frame, including a fragment still being written and fragments that appear while it reads: a
start at the moment of a motion is live, most of its video does not exist yet. It waits for
video until ``end_ms`` plus a grace period (wall clock, the producer's clock), then ends with
what it had.

A ``.partial`` fragment is read again whenever it grows, from its start (frames already taken
are skipped, not analysed again); its last frame is held back until the fragment is complete,
since it may be cut in the middle. Frame times are the fragment's start plus the frame's
timestamp in the file.

Not emulated: fragment numbers (a local fragment's number is its start in ms), server
timestamps (the file's modification time stands in), GetMedia's consumer limit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

SUFFIX = ".mkv"
PARTIAL_SUFFIX = ".mkv.partial"

Image = npt.NDArray[np.uint8]
Clock = Callable[[], int]  # wall clock, ms since the epoch


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, order=True)
class Fragment:
    start_ms: int
    partial: bool = False

    def path(self, directory: Path) -> Path:
        return directory / f"{self.start_ms}{PARTIAL_SUFFIX if self.partial else SUFFIX}"

    @property
    def number(self) -> str:
        """The local stand-in for a KVS fragment number."""
        return str(self.start_ms)


@dataclass(frozen=True)
class Frame:
    fragment: Fragment
    offset_ms: int  # from the fragment's start
    server_timestamp_ms: int
    image: Image

    @property
    def producer_ms(self) -> int:
        return self.fragment.start_ms + self.offset_ms


def parse_fragment_name(name: str) -> Fragment | None:
    for suffix, partial in ((PARTIAL_SUFFIX, True), (SUFFIX, False)):
        stem = name.removesuffix(suffix)
        if stem != name:
            return Fragment(int(stem), partial) if stem.isdigit() else None
    return None


def list_fragments(directory: Path) -> list[Fragment]:
    """The fragments in a camera's directory, oldest first; a finished one wins over its
    `.partial` name (seen both during the rename)."""
    found: dict[int, Fragment] = {}
    try:
        names = [entry.name for entry in directory.iterdir() if entry.is_file()]
    except FileNotFoundError:
        return []
    for name in names:
        fragment = parse_fragment_name(name)
        if fragment is None:
            continue
        known = found.get(fragment.start_ms)
        if known is None or (known.partial and not fragment.partial):
            found[fragment.start_ms] = fragment
    return [found[start] for start in sorted(found)]


def first_fragment(fragments: list[Fragment], start_ms: int, end_ms: int) -> Fragment | None:
    """The fragment a window starts in: the last one starting at or before `start_ms`, else
    the first one starting inside the window."""
    before = [f for f in fragments if f.start_ms <= start_ms]
    if before:
        return before[-1]
    return next((f for f in fragments if f.start_ms < end_ms), None)


def next_fragment(fragments: list[Fragment], after_ms: int, end_ms: int) -> Fragment | None:
    """The fragment after the one starting at `after_ms`, if it starts inside the window."""
    return next((f for f in fragments if after_ms < f.start_ms < end_ms), None)


def covering(fragments: list[Fragment], start_ms: int, end_ms: int) -> list[Fragment]:
    """Every fragment holding video of `[start_ms, end_ms)`, in order."""
    first = first_fragment(fragments, start_ms, end_ms)
    if first is None:
        return []
    return [f for f in fragments if first.start_ms <= f.start_ms < end_ms]


class VideoReadError(Exception):
    """A finished fragment that cannot be decoded."""


class VideoWindow:
    """Sampled frames of `[start_ms, end_ms)` of one camera, waiting for live video.

    `frames()` yields a frame at most every `sample_interval_ms` of video. Afterwards
    `frames_read` counts every frame of the window that was decoded, `processed_ms` is the
    video time they span, and `unreadable` names fragments that could not be decoded.
    """

    def __init__(
        self,
        directory: Path,
        start_ms: int,
        end_ms: int,
        *,
        sample_interval_ms: int,
        grace_ms: int,
        stop: threading.Event,
        clock: Clock = wall_clock_ms,
        poll_seconds: float = 0.25,
    ) -> None:
        self.directory = directory
        self.start_ms = start_ms
        self.end_ms = end_ms
        self._sample_interval_ms = sample_interval_ms
        self._deadline_ms = end_ms + grace_ms
        self._stop = stop
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._next_sample_ms = start_ms
        self._first_ms: int | None = None
        self._last_ms: int | None = None
        self._frame_ms = 0
        self._complete = False
        self.frames_read = 0
        self.unreadable: list[Path] = []

    @property
    def processed_ms(self) -> int:
        if self._first_ms is None or self._last_ms is None:
            return 0
        return min(self._last_ms + self._frame_ms, self.end_ms) - self._first_ms

    def frames(self) -> Iterator[Frame]:
        after: int | None = None  # start of the last fragment read to its end
        while not self._stop.is_set() and not self._complete:
            fragments = list_fragments(self.directory)
            current = (
                first_fragment(fragments, self.start_ms, self.end_ms)
                if after is None
                else next_fragment(fragments, after, self.end_ms)
            )
            if current is None:
                if self._past_deadline():
                    return
                self._stop.wait(self._poll_seconds)
                continue
            yield from self._read_fragment(current.start_ms)
            after = current.start_ms

    def _past_deadline(self) -> bool:
        return self._clock() >= self._deadline_ms

    def _read_fragment(self, start_ms: int) -> Iterator[Frame]:
        """Read one fragment to its end, following it while it is being written."""
        taken = 0  # frames of this fragment already handled
        seen_size = -1
        while not self._stop.is_set() and not self._complete:
            fragment = self._locate(start_ms) or self._locate(start_ms)  # twice: a rename
            if fragment is None:  # pruned
                return
            path = fragment.path(self.directory)
            final = not fragment.partial or self._past_deadline()
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue  # renamed just now
            if size != seen_size or final:
                seen_size = size
                try:
                    taken = yield from self._decode(fragment, path, taken, hold_last=not final)
                except FileNotFoundError:
                    continue  # renamed between the two looks: find it under its new name
                except VideoReadError as err:
                    if final:
                        logger.warning("cannot read fragment %s: %s", path, err)
                        self.unreadable.append(path)
                        return
            if final:
                return
            self._stop.wait(self._poll_seconds)

    def _locate(self, start_ms: int) -> Fragment | None:
        for fragment in (Fragment(start_ms), Fragment(start_ms, partial=True)):
            if fragment.path(self.directory).exists():
                return fragment
        return None

    def _decode(
        self, fragment: Fragment, path: Path, taken: int, hold_last: bool
    ) -> Generator[Frame, None, int]:
        """Decode `path` from its start and handle the frames after the first `taken`; return
        how many are handled now. With `hold_last` the last frame waits for a later pass.

        A frame is handled once the next one is grabbed (only then is it known not to be the
        last); a sampled frame is decoded at once, since the next grab replaces it.
        """
        stat = path.stat()  # FileNotFoundError: renamed since it was located
        if stat.st_size == 0:
            raise VideoReadError("empty file")
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not capture.isOpened():
            raise VideoReadError("not a readable video file")
        server_ms = stat.st_mtime_ns // 1_000_000
        pending: tuple[int, Image | None] | None = None  # (offset, image if sampled)
        index = 0
        try:
            while not self._complete and capture.grab():
                if pending is not None:
                    frame = self._take(fragment, *pending, server_ms)
                    pending, taken = None, index
                    if frame is not None:
                        yield frame
                    if self._complete:
                        break
                if index >= taken:
                    offset = round(capture.get(cv2.CAP_PROP_POS_MSEC))
                    image = _retrieve(capture) if self._wanted(fragment.start_ms + offset) else None
                    pending = (offset, image)
                index += 1
            if pending is not None and not hold_last:
                frame = self._take(fragment, *pending, server_ms)
                taken = index
                if frame is not None:
                    yield frame
        finally:
            capture.release()
        return taken

    def _wanted(self, producer_ms: int) -> bool:
        return self._next_sample_ms <= producer_ms < self.end_ms and producer_ms >= self.start_ms

    def _take(
        self, fragment: Fragment, offset_ms: int, image: Image | None, server_ms: int
    ) -> Frame | None:
        """Count a frame into the window; return it if it is a sample."""
        producer_ms = fragment.start_ms + offset_ms
        if producer_ms >= self.end_ms:
            self._complete = True
            return None
        if producer_ms < self.start_ms:
            return None
        self._count(producer_ms)
        if image is None:
            return None
        self._next_sample_ms = producer_ms + self._sample_interval_ms
        return Frame(fragment, offset_ms, server_ms, image)

    def _count(self, producer_ms: int) -> None:
        self.frames_read += 1
        if self._last_ms is not None and producer_ms > self._last_ms:
            step = producer_ms - self._last_ms
            self._frame_ms = step if self._frame_ms == 0 else min(self._frame_ms, step)
        self._first_ms = producer_ms if self._first_ms is None else min(self._first_ms, producer_ms)
        self._last_ms = producer_ms if self._last_ms is None else max(self._last_ms, producer_ms)


def _retrieve(capture: cv2.VideoCapture) -> Image | None:
    ok, image = capture.retrieve()
    return np.asarray(image, dtype=np.uint8) if ok else None
