"""The finished fragments of one camera in the local fragment store, with their times.

A fragment is ``<producer ms>.mkv``; one still named ``.mkv.partial`` is still being written and,
like a fragment KVS has not finished ingesting, is not served. A fragment's producer span is its
name plus its duration (from the container, cached by file name, size and modification time); its
server timestamp is when its last byte arrived (the file's modification time) minus its duration,
as ``timeline`` takes it.

Retention: a fragment whose server timestamp is older than ``DataRetentionInHours`` is gone, as
KVS deletes it, even while the local store still keeps the file.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import cv2

from stack.endpoint.rekognition.video_source import list_fragments

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class StoredFragment:
    path: Path
    producer_ms: int  # start of its video on the producer clock
    duration_ms: int
    received_ms: int  # when its last byte arrived (server clock)
    size: int

    @property
    def server_ms(self) -> int:
        """The server timestamp of its start."""
        return self.received_ms - self.duration_ms

    @property
    def number(self) -> str:
        """The local stand-in for a KVS fragment number: its producer start in ms."""
        return str(self.producer_ms)


def stored_fragments(directory: Path) -> list[StoredFragment]:
    """The finished fragments, oldest producer timestamp first."""
    found = []
    for fragment in list_fragments(directory):
        if fragment.partial:
            continue
        path = fragment.path(directory)
        try:
            stat = os.stat(path)
        except FileNotFoundError:  # pruned since it was listed
            continue
        duration = _duration_ms(str(path), stat.st_size, stat.st_mtime_ns)
        found.append(
            StoredFragment(
                path, fragment.start_ms, duration, stat.st_mtime_ns // 1_000_000, stat.st_size
            )
        )
    return found


def retained(
    fragments: list[StoredFragment], retention_hours: int, now_ms: int
) -> list[StoredFragment]:
    """The fragments the stream's retention still keeps."""
    oldest = now_ms - retention_hours * HOUR_MS
    return [f for f in fragments if f.received_ms >= oldest]


@functools.lru_cache(maxsize=4096)
def _duration_ms(path: str, size: int, mtime_ns: int) -> int:
    """The duration a Matroska fragment's container gives (frames / frame rate); 0 if unknown.
    `size` and `mtime_ns` key the cache: a rewritten file is measured again."""
    capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    try:
        fps = capture.get(cv2.CAP_PROP_FPS)
        frames = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        return round(frames * 1000 / fps) if fps > 0 and frames > 0 else 0
    finally:
        capture.release()


H264_CODEC_ID = b"V_MPEG4/ISO/AVC"
_HEADER_BYTES = 8192  # the Matroska header with its Tracks element fits in this


def is_h264(fragment: StoredFragment) -> bool:
    """Whether the fragment's track is H.264 (Matroska codec ID ``V_MPEG4/ISO/AVC``)."""
    try:
        with open(fragment.path, "rb") as file:
            return H264_CODEC_ID in file.read(_HEADER_BYTES)
    except FileNotFoundError:
        return True  # pruned: nothing to judge it by
