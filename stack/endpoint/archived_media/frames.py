"""The camera's video at given producer times, decoded from the local fragment store.

The store is ``<fragment root>/<stream name>/<producer ms>.mkv`` (``.mkv.partial`` while the
agent writes it; ``rekognition/video_source.py`` lists it). The image at a time ``t`` is the
frame on show at ``t``: the last frame at or before ``t`` of the fragment holding ``t`` (the last
one that starts at or before it), provided ``t`` is within one frame's duration of that frame.
Anything else is ``NO_MEDIA``: before the first fragment, in a gap between fragments, after the
last frame ingested so far (a fragment still being written has only some of its video).
``MEDIA_ERROR``: a finished fragment that cannot be decoded, for the times it holds (up to the
next fragment, and at most ``MAX_FRAGMENT_MS`` after its start).
"""

from __future__ import annotations

import bisect
import os
from collections import defaultdict
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from stack.endpoint.archived_media.timeline import FragmentSpan
from stack.endpoint.rekognition.video_source import Fragment, Image, list_fragments

MAX_FRAGMENT_MS = 20_000  # the longest a fragment is taken to last when its video is unknown


class ImageError(StrEnum):
    NO_MEDIA = "NO_MEDIA"
    MEDIA_ERROR = "MEDIA_ERROR"


Decoded = Image | ImageError


def images_at(directory: Path, times_ms: Iterable[int]) -> dict[int, Decoded]:
    """The image (or why there is none) at each producer time, from one camera's fragments."""
    fragments = list_fragments(directory)
    starts = [f.start_ms for f in fragments]
    wanted: dict[int, list[int]] = defaultdict(list)
    found: dict[int, Decoded] = {}
    for t in sorted(set(times_ms)):
        index = bisect.bisect_right(starts, t) - 1
        if index < 0:
            found[t] = ImageError.NO_MEDIA
        else:
            wanted[index].append(t)
    for index, times in wanted.items():
        following = starts[index + 1] if index + 1 < len(starts) else None
        found.update(_read(directory, fragments[index], times, following))
    return found


def _located(directory: Path, fragment: Fragment) -> Fragment | None:
    """The fragment under its name now: it may have been renamed since it was listed."""
    for candidate in (fragment, Fragment(fragment.start_ms, partial=not fragment.partial)):
        if candidate.path(directory).exists():
            return candidate
    return None


def _read(
    directory: Path, listed: Fragment, times: list[int], following_ms: int | None
) -> dict[int, Decoded]:
    fragment = _located(directory, listed)
    if fragment is None:  # pruned since it was listed
        return dict.fromkeys(times, ImageError.NO_MEDIA)
    capture = cv2.VideoCapture(str(fragment.path(directory)), cv2.CAP_FFMPEG)
    try:
        found, decoded = _decode(capture, fragment.start_ms, times)
    finally:
        capture.release()
    if decoded == 0:
        return {t: _undecodable(fragment, t, following_ms) for t in times}
    return found


def _undecodable(fragment: Fragment, t: int, following_ms: int | None) -> ImageError:
    if fragment.partial:  # not enough of it written yet
        return ImageError.NO_MEDIA
    end = fragment.start_ms + MAX_FRAGMENT_MS
    if following_ms is not None:
        end = min(end, following_ms)
    return ImageError.MEDIA_ERROR if t < end else ImageError.NO_MEDIA


def _decode(
    capture: cv2.VideoCapture, start_ms: int, times: list[int]
) -> tuple[dict[int, Decoded], int]:
    """Decode frames until every time is answered; returns the answers and the frames decoded.

    A time is answered by the newest frame at or before it once a later frame shows up; the
    times after the last frame by that frame if they are within a frame's duration of it.
    """
    found: dict[int, Decoded] = {}
    pending = list(times)
    shown: tuple[int, Image] | None = None
    step = 0
    decoded = 0
    while pending and capture.isOpened() and capture.grab():
        at = start_ms + round(capture.get(cv2.CAP_PROP_POS_MSEC))
        if shown is not None and at > shown[0]:
            step = at - shown[0] if step == 0 else min(step, at - shown[0])
        while pending and pending[0] < at:
            found[pending.pop(0)] = shown[1] if shown is not None else ImageError.NO_MEDIA
        decoded += 1
        if pending:
            ok, image = capture.retrieve()
            if ok:
                shown = (at, np.asarray(image, dtype=np.uint8))
    if step == 0:
        fps = capture.get(cv2.CAP_PROP_FPS) if capture.isOpened() else 0.0
        step = round(1000 / fps) if fps > 0 else 1
    for t in pending:
        held = shown is not None and t < shown[0] + step
        found[t] = shown[1] if shown is not None and held else ImageError.NO_MEDIA
    return found, decoded


def fragment_spans(directory: Path) -> list[FragmentSpan]:
    """Each fragment's producer span and the time it was last written, for server timestamps."""
    fragments = list_fragments(directory)
    spans = []
    for index, listed in enumerate(fragments):
        fragment = _located(directory, listed)
        if fragment is None:
            continue
        path = fragment.path(directory)
        try:
            received_ms = os.stat(path).st_mtime_ns // 1_000_000
        except FileNotFoundError:
            continue
        if index + 1 < len(fragments):
            end_ms = fragments[index + 1].start_ms
        else:
            end_ms = fragment.start_ms + _duration_ms(path, decode=fragment.partial)
        spans.append(FragmentSpan(fragment.start_ms, end_ms, received_ms))
    return spans


def _duration_ms(path: Path, decode: bool) -> int:
    """A video file's duration: from its container (frames / frame rate), or, with `decode`
    (a file still being written, whose header may not say yet), up to its last decodable
    frame. 0 if unknown."""
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        fps = capture.get(cv2.CAP_PROP_FPS)
        step = 1000 / fps if fps > 0 else 0.0
        if not decode:
            frames = capture.get(cv2.CAP_PROP_FRAME_COUNT)
            return round(frames * step) if frames > 0 else 0
        last = None
        while capture.isOpened() and capture.grab():
            last = capture.get(cv2.CAP_PROP_POS_MSEC)
        return 0 if last is None else round(last + step)
    finally:
        capture.release()
