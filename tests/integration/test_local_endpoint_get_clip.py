"""KVS GetClip on the local endpoint, over recorded video.

The fragments are recorded as the agent records them (`tests/support/scene_fragments.py`: H.264
in Matroska, 2 s fragments) and placed in the `video_endpoint`'s store under the stream's name;
every call is a boto3 call at the data endpoint GetDataEndpoint answers for GET_CLIP.
"""

# ruff: noqa: F811  # the tests take test_local_endpoint_get_images' `camera` fixture by its name

from __future__ import annotations

import os
import struct
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import pytest
from botocore.exceptions import ClientError

from stack.endpoint.server import LocalEndpoint
from tests.integration.test_local_endpoint_get_images import (  # noqa: F401  # the fixtures
    Camera,
    archived_media,
    camera,
    colours,
    recent_base_ms,
    seconds,
)
from tests.support.endpoint_admin import endpoint_client

if TYPE_CHECKING:
    from types_boto3_kinesis_video_archived_media.type_defs import ClipFragmentSelectorTypeDef

FPS = 15


def selector(start_ms: int, end_ms: int, server: bool = False) -> ClipFragmentSelectorTypeDef:
    return {
        "FragmentSelectorType": "SERVER_TIMESTAMP" if server else "PRODUCER_TIMESTAMP",
        "TimestampRange": {"StartTimestamp": seconds(start_ms), "EndTimestamp": seconds(end_ms)},
    }


def top_level_boxes(data: bytes) -> list[bytes]:
    kinds, at = [], 0
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        if size == 1:
            size = struct.unpack(">Q", data[at + 8 : at + 16])[0]
        kinds.append(kind)
        at += size
    return kinds


def decoded(data: bytes, path: Path) -> tuple[int, float]:
    """(frames, ms of the last frame) of an MP4 file, decoded by OpenCV."""
    path.write_bytes(data)
    capture = cv2.VideoCapture(str(path))
    frames, last = 0, 0.0
    try:
        while capture.grab():
            frames += 1
            last = capture.get(cv2.CAP_PROP_POS_MSEC)
    finally:
        capture.release()
    return frames, last


def test_a_clip_is_a_faststart_mp4_of_the_fragments_in_the_range(
    camera: Camera, colours: list[Path], tmp_path: Path
) -> None:
    base = recent_base_ms()
    camera.place(colours, base)
    answer = camera.data_client("GET_CLIP").get_clip(
        StreamName=camera.name, ClipFragmentSelector=selector(base, base + 5000)
    )
    assert answer["ContentType"] == "video/mp4"
    data = answer["Payload"].read()
    boxes = top_level_boxes(data)
    assert boxes[0] == b"ftyp"
    assert boxes.index(b"moov") < boxes.index(b"mdat")
    frames, last_ms = decoded(data, tmp_path / "clip.mp4")
    assert frames == 6 * FPS  # the three fragments starting at 0, 2 and 4 s
    assert 6000 - 2 * 1000 / FPS <= last_ms < 6000


def test_only_fragments_starting_in_the_range_are_in_the_clip(
    camera: Camera, colours: list[Path], tmp_path: Path
) -> None:
    base = recent_base_ms()
    camera.place(colours, base)
    answer = camera.data_client("GET_CLIP").get_clip(
        StreamARN=camera.arn, ClipFragmentSelector=selector(base + 1000, base + 2000)
    )
    frames, _ = decoded(answer["Payload"].read(), tmp_path / "clip.mp4")
    assert frames == 2 * FPS  # only the fragment starting at 2 s: EndTimestamp is inclusive


def test_no_fragment_in_the_range_is_not_found(camera: Camera, colours: list[Path]) -> None:
    base = recent_base_ms()
    camera.place(colours, base)
    with pytest.raises(ClientError) as excinfo:
        camera.data_client("GET_CLIP").get_clip(
            StreamName=camera.name, ClipFragmentSelector=selector(base + 7000, base + 9000)
        )
    assert excinfo.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_fragments_older_than_the_retention_are_gone(
    video_endpoint: LocalEndpoint, colours: list[Path]
) -> None:
    name = f"cam-{uuid.uuid4().hex[:8]}"
    kvs = endpoint_client(video_endpoint.url, "kinesisvideo")
    arn = kvs.create_stream(StreamName=name, DataRetentionInHours=1)["StreamARN"]
    camera = Camera(video_endpoint, name, arn)
    base = recent_base_ms() - 2 * 3_600_000
    for placed in camera.place(colours, base):
        received_ns = (int(placed.stem) + 2000) * 1_000_000
        os.utime(placed, ns=(received_ns, received_ns))
    with pytest.raises(ClientError) as excinfo:
        camera.data_client("GET_CLIP").get_clip(
            StreamName=name, ClipFragmentSelector=selector(base, base + 5000)
        )
    assert excinfo.value.response["Error"]["Code"] == "ResourceNotFoundException"


@pytest.mark.parametrize(
    ("start_s", "end_s", "server"),
    [
        (10, 5, False),  # end before start
        (10, 10, False),  # end not later than start
        (0, 24 * 3600 + 1, False),  # more than 24 h
        (0, 3600 * 3, True),  # server end in the future
    ],
)
def test_bad_ranges_are_refused(camera: Camera, start_s: int, end_s: int, server: bool) -> None:
    base = recent_base_ms()
    with pytest.raises(ClientError) as excinfo:
        camera.data_client("GET_CLIP").get_clip(
            StreamName=camera.name,
            ClipFragmentSelector=selector(base + start_s * 1000, base + end_s * 1000, server),
        )
    assert excinfo.value.response["Error"]["Code"] == "InvalidArgumentException"


def test_a_stream_that_keeps_no_data_has_no_clip(video_endpoint: LocalEndpoint) -> None:
    name = f"cam-{uuid.uuid4().hex[:8]}"
    endpoint_client(video_endpoint.url, "kinesisvideo").create_stream(
        StreamName=name, DataRetentionInHours=0
    )
    base = recent_base_ms()
    with pytest.raises(ClientError) as excinfo:
        archived_media(video_endpoint.url).get_clip(
            StreamName=name, ClipFragmentSelector=selector(base, base + 1000)
        )
    assert excinfo.value.response["Error"]["Code"] == "NoDataRetentionException"


def test_a_stream_that_is_not_h264_is_unsupported(camera: Camera, tmp_path: Path) -> None:
    base = recent_base_ms()
    camera.directory.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(
        str(camera.directory / f"{base}.mkv"), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (64, 48)
    )
    for _ in range(FPS):
        writer.write(cv2.UMat(48, 64, cv2.CV_8UC3, (0, 0, 255)).get())
    writer.release()
    with pytest.raises(ClientError) as excinfo:
        camera.data_client("GET_CLIP").get_clip(
            StreamName=camera.name, ClipFragmentSelector=selector(base, base + 1000)
        )
    assert excinfo.value.response["Error"]["Code"] == "UnsupportedStreamMediaTypeException"


def test_an_unknown_stream_is_not_found(camera: Camera) -> None:
    base = recent_base_ms()
    with pytest.raises(ClientError) as excinfo:
        camera.data_client("GET_CLIP").get_clip(
            StreamName=f"{camera.name}-gone", ClipFragmentSelector=selector(base, base + 1000)
        )
    assert excinfo.value.response["Error"]["Code"] == "ResourceNotFoundException"
