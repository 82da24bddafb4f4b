"""The video of a fragment store at given producer times: images, NO_MEDIA, MEDIA_ERROR.

The fragments are small Matroska files written with OpenCV (Motion JPEG, 10 frames a second),
each frame a flat grey whose level says which frame it is.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from stack.endpoint.archived_media.frames import (
    ImageError,
    fragment_spans,
    images_at,
)

FPS = 10
FRAME_MS = 1000 // FPS


def write_fragment(path: Path, first_level: int, frames: int = 10) -> None:
    """`path` must end in .mkv (OpenCV picks the container by it); see `partial`."""
    writer = cv2.VideoWriter(
        str(path), cv2.CAP_FFMPEG, cv2.VideoWriter.fourcc(*"MJPG"), FPS, (96, 96)
    )
    assert writer.isOpened()
    for index in range(frames):
        writer.write(np.full((96, 96, 3), first_level + 10 * index, np.uint8))
    writer.release()


def partial(path: Path) -> None:
    """Name a fragment as the agent names one it is still writing."""
    path.rename(path.with_name(path.name + ".partial"))


def level(found: object) -> int:
    """The frame's grey level, to the nearest 10 (JPEG moves it by a few)."""
    assert isinstance(found, np.ndarray), found
    return 10 * round(float(found.mean()) / 10)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Two 1 s fragments back to back at 10 s and 11 s, a gap, one at 20 s."""
    write_fragment(tmp_path / "10000.mkv", 0)
    write_fragment(tmp_path / "11000.mkv", 100)
    write_fragment(tmp_path / "20000.mkv", 0, frames=5)
    return tmp_path


def test_each_time_gets_the_frame_on_show_then(store: Path) -> None:
    found = images_at(store, [10_000, 10_050, 10_100, 10_950, 11_000, 11_420, 20_450])
    assert level(found[10_000]) == 0
    assert level(found[10_050]) == 0  # between frames: the earlier one is on show
    assert level(found[10_100]) == 10
    assert level(found[10_950]) == 90  # the last frame of a fragment, within its duration
    assert level(found[11_000]) == 100  # the next fragment
    assert level(found[11_420]) == 140
    assert level(found[20_450]) == 40


def test_no_video_is_no_media(store: Path) -> None:
    found = images_at(store, [9_999, 12_000, 15_000, 20_500, 40_000])
    assert found == dict.fromkeys([9_999, 12_000, 15_000, 20_500, 40_000], ImageError.NO_MEDIA)


def test_an_empty_or_missing_store_is_no_media(tmp_path: Path) -> None:
    assert images_at(tmp_path / "never-recorded", [1, 2]) == {
        1: ImageError.NO_MEDIA,
        2: ImageError.NO_MEDIA,
    }


def test_a_fragment_that_cannot_be_decoded_is_a_media_error(store: Path) -> None:
    (store / "13000.mkv").write_bytes(b"\x1a\x45\xdf\xa3 not really matroska" * 10)
    found = images_at(store, [11_500, 13_000, 19_999, 20_000, 34_000])
    assert level(found[11_500]) == 150
    assert found[13_000] == ImageError.MEDIA_ERROR
    assert found[19_999] == ImageError.MEDIA_ERROR  # up to the next fragment
    assert level(found[20_000]) == 0


def test_a_fragment_still_being_written_has_only_what_is_written(tmp_path: Path) -> None:
    write_fragment(tmp_path / "30000.mkv", 0, frames=4)
    partial(tmp_path / "30000.mkv")
    (tmp_path / "32000.mkv.partial").write_bytes(b"")  # just opened by the agent
    found = images_at(tmp_path, [30_100, 30_350, 30_900, 32_000])
    assert level(found[30_100]) == 10
    assert level(found[30_350]) == 30
    assert found[30_900] == ImageError.NO_MEDIA  # not ingested yet
    assert found[32_000] == ImageError.NO_MEDIA


def test_fragment_spans_end_at_the_next_fragment_and_were_received_at_their_mtime(
    store: Path,
) -> None:
    for name, mtime_ms in (("10000.mkv", 50_000), ("11000.mkv", 51_000), ("20000.mkv", 62_000)):
        os.utime(store / name, ns=(mtime_ms * 1_000_000, mtime_ms * 1_000_000))
    spans = fragment_spans(store)
    assert [(s.start_ms, s.end_ms, s.received_ms) for s in spans] == [
        (10_000, 11_000, 50_000),
        (11_000, 20_000, 51_000),
        (20_000, 20_500, 62_000),  # the last one lasts as long as its video
    ]


def test_a_fragment_still_being_written_lasts_as_far_as_it_decodes(tmp_path: Path) -> None:
    write_fragment(tmp_path / "30000.mkv", 0, frames=10)
    data = (tmp_path / "30000.mkv").read_bytes()
    (tmp_path / "30000.mkv").write_bytes(data[: len(data) // 2])  # its header still says 1 s
    partial(tmp_path / "30000.mkv")
    [span] = fragment_spans(tmp_path)
    assert 30_100 <= span.end_ms < 31_000
