"""KVS GetDataEndpoint and GetImages on the local endpoint, over recorded video.

The video is recorded as the agent records it (`tests/support/scene_fragments.py`: H.264 in
Matroska, 2 s fragments) from scenes with known content: six seconds of flat colours, one a
second, and `stack/cameras/scenes.py`'s person and empty scenes. The fragments go into the
`video_endpoint`'s fragment store under the stream's name, named by producer timestamp; every
call is a boto3 call, at the data endpoint GetDataEndpoint answers.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import cv2
import numpy as np
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from stack.cameras.scenes import write_scene
from stack.endpoint.server import LocalEndpoint
from tests.support.endpoint_admin import (
    clear_faults,
    endpoint_client,
    inject_fault,
    last_seq,
    requests_since,
)
from tests.support.scene_fragments import record_fragments

if TYPE_CHECKING:
    from types_boto3_kinesis_video_archived_media import KinesisVideoArchivedMediaClient
    from types_boto3_kinesisvideo.literals import APINameType

# BGR, one second each, in this order.
COLOURS = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (255, 255, 255), (0, 255, 255), (255, 0, 255)]
FPS = 15
SIZE = (640, 480)


def archived_media(url: str, **config: Any) -> KinesisVideoArchivedMediaClient:
    return boto3.client(
        "kinesis-video-archived-media",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(**config) if config else None,
    )


def write_colours(path: Path) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS, SIZE)
    for colour in COLOURS:
        for _ in range(FPS):
            writer.write(np.full((SIZE[1], SIZE[0], 3), colour, np.uint8))
    writer.release()
    return path


@pytest.fixture(scope="module")
def colours(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Six seconds of colours as three 2 s fragments, named by their offset in ms."""
    root = tmp_path_factory.mktemp("colour-recordings")
    return record_fragments(write_colours(root / "colours.avi"), root / "colours", 0)


@pytest.fixture(scope="module")
def recordings(
    tmp_path_factory: pytest.TempPathFactory, colours: list[Path]
) -> dict[str, list[Path]]:
    """Each scene's fragments, named by their offset in ms from the scene's start."""
    root = tmp_path_factory.mktemp("recordings")
    return {
        "colours": colours,
        "person": record_fragments(
            write_scene("person", root / "person.avi", seconds=4), root / "person", 0
        ),
        "empty": record_fragments(
            write_scene("empty", root / "empty.avi", seconds=4), root / "empty", 0
        ),
    }


@dataclass
class Camera:
    endpoint: LocalEndpoint
    name: str
    arn: str

    @property
    def directory(self) -> Path:
        root = self.endpoint.config.fragment_root
        assert root is not None
        return root / self.name

    def place(self, fragments: list[Path], base_ms: int) -> list[Path]:
        """Put a recording's fragments in the store as starting at `base_ms`."""
        self.directory.mkdir(parents=True, exist_ok=True)
        placed = []
        for fragment in fragments:
            target = self.directory / f"{base_ms + int(fragment.stem)}.mkv"
            shutil.copyfile(fragment, target)
            placed.append(target)
        return placed

    def images_client(self) -> KinesisVideoArchivedMediaClient:
        return self.data_client("GET_IMAGES")

    def data_client(self, api: APINameType) -> KinesisVideoArchivedMediaClient:
        """A client at the data endpoint GetDataEndpoint gives for `api`, as a real one is made."""
        kvs = endpoint_client(self.endpoint.url, "kinesisvideo")
        url = kvs.get_data_endpoint(StreamName=self.name, APIName=api)["DataEndpoint"]
        return archived_media(url)


@pytest.fixture
def camera(video_endpoint: LocalEndpoint) -> Camera:
    name = f"cam-{uuid.uuid4().hex[:8]}"
    kvs = endpoint_client(video_endpoint.url, "kinesisvideo")
    arn = kvs.create_stream(StreamName=name, DataRetentionInHours=24)["StreamARN"]
    return Camera(video_endpoint, name, arn)


def recent_base_ms() -> int:
    return (int(time.time()) - 120) * 1000


def seconds(ms: int) -> dt.datetime:
    """A producer timestamp in ms as the datetime boto3 takes."""
    return dt.datetime.fromtimestamp(ms // 1000, dt.UTC) + dt.timedelta(milliseconds=ms % 1000)


def ms_of(timestamp: dt.datetime) -> int:
    return round(timestamp.timestamp() * 1000)


def decoded(image: dict[str, Any]) -> np.ndarray[Any, Any]:
    data = base64.b64decode(image["ImageContent"])
    picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None
    return np.asarray(picture)


def colour_of(image: dict[str, Any]) -> tuple[int, int, int]:
    """The nearest of COLOURS to the image's mean colour."""
    mean = decoded(image).reshape(-1, 3).mean(axis=0)
    return min(COLOURS, key=lambda c: float(np.abs(mean - np.array(c)).sum()))


def all_images(client: KinesisVideoArchivedMediaClient, **request: Any) -> list[dict[str, Any]]:
    paginator = client.get_paginator("get_images")
    return [dict(image) for page in paginator.paginate(**request) for image in page["Images"]]


def test_get_data_endpoint_answers_the_address_the_request_came_to(
    camera: Camera,
) -> None:
    kvs = endpoint_client(camera.endpoint.url, "kinesisvideo")
    for api_name in ("GET_IMAGES", "GET_CLIP", "GET_MEDIA", "LIST_FRAGMENTS"):
        answer = kvs.get_data_endpoint(StreamARN=camera.arn, APIName=api_name)
        assert answer["DataEndpoint"] == camera.endpoint.url
    by_hostname = endpoint_client(f"http://localhost:{camera.endpoint.port}", "kinesisvideo")
    answer = by_hostname.get_data_endpoint(StreamName=camera.name, APIName="GET_IMAGES")
    assert answer["DataEndpoint"] == f"http://localhost:{camera.endpoint.port}"


def test_get_data_endpoint_of_an_unknown_stream_is_not_found(camera: Camera) -> None:
    kvs = endpoint_client(camera.endpoint.url, "kinesisvideo")
    with pytest.raises(ClientError) as excinfo:
        kvs.get_data_endpoint(StreamName=f"{camera.name}-gone", APIName="GET_IMAGES")
    assert excinfo.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_images_show_the_video_at_their_producer_timestamps(
    camera: Camera, recordings: dict[str, list[Path]]
) -> None:
    base = recent_base_ms()
    camera.place(recordings["colours"], base)
    images = all_images(
        camera.images_client(),
        StreamName=camera.name,
        ImageSelectorType="PRODUCER_TIMESTAMP",
        StartTimestamp=seconds(base - 1000),
        EndTimestamp=seconds(base + 7000),
        SamplingInterval=500,
        Format="JPEG",
    )
    assert [ms_of(i["TimeStamp"]) - base for i in images] == list(range(-1000, 7001, 500))
    by_offset = {ms_of(i["TimeStamp"]) - base: i for i in images}
    for offset, image in by_offset.items():
        if 0 <= offset < 6000:
            assert colour_of(image) == COLOURS[offset // 1000], offset
            assert decoded(image).shape == (480, 640, 3)
        else:  # before the first fragment, after the last frame
            assert image == {"TimeStamp": image["TimeStamp"], "Error": "NO_MEDIA"}, offset


def test_pages_hold_25_images_and_the_paginator_walks_them(
    camera: Camera, recordings: dict[str, list[Path]]
) -> None:
    base = recent_base_ms()
    camera.place(recordings["colours"], base)
    client = camera.images_client()
    request: dict[str, Any] = {
        "StreamName": camera.name,
        "ImageSelectorType": "PRODUCER_TIMESTAMP",
        "StartTimestamp": seconds(base),
        "EndTimestamp": seconds(base + 5800),
        "SamplingInterval": 200,
        "Format": "JPEG",
        "WidthPixels": 64,
    }
    first = client.get_images(**request, MaxResults=100)
    assert len(first["Images"]) == 25
    second = client.get_images(**request, MaxResults=100, NextToken=first["NextToken"])
    assert [ms_of(i["TimeStamp"]) - base for i in second["Images"]] == list(range(5000, 5801, 200))
    assert "NextToken" not in second
    small = client.get_images(**request, MaxResults=10)
    assert len(small["Images"]) == 10
    walked = all_images(client, **request)
    assert len(walked) == 30
    assert [colour_of(i) for i in walked[::5]] == COLOURS


def test_size_and_format_of_the_images(camera: Camera, recordings: dict[str, list[Path]]) -> None:
    base = recent_base_ms()
    camera.place(recordings["colours"], base)
    client = camera.images_client()

    def one(**options: Any) -> dict[str, Any]:
        answer = client.get_images(
            StreamName=camera.name,
            ImageSelectorType="PRODUCER_TIMESTAMP",
            StartTimestamp=seconds(base + 2500),
            EndTimestamp=seconds(base + 2500),
            SamplingInterval=1000,
            **options,
        )
        assert len(answer["Images"]) == 1
        return dict(answer["Images"][0])

    assert decoded(one(Format="JPEG", WidthPixels=320)).shape == (240, 320, 3)
    assert decoded(one(Format="JPEG", HeightPixels=120)).shape == (120, 160, 3)
    assert decoded(one(Format="JPEG", WidthPixels=100, HeightPixels=300)).shape == (300, 100, 3)
    png = one(Format="PNG")
    assert base64.b64decode(png["ImageContent"]).startswith(b"\x89PNG\r\n\x1a\n")
    assert colour_of(png) == COLOURS[2]
    worst = one(Format="JPEG", FormatConfig={"JPEGQuality": "1"})
    best = one(Format="JPEG", FormatConfig={"JPEGQuality": "100"})
    assert len(worst["ImageContent"]) < len(best["ImageContent"])


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"EndTimestamp": 301.0}, "InvalidArgumentException"),
        ({"EndTimestamp": -1.0}, "InvalidArgumentException"),
        ({"SamplingInterval": 199}, "InvalidArgumentException"),
        ({"SamplingInterval": 20_001}, "InvalidArgumentException"),
        ({"FormatConfig": {"JPEGQuality": "0"}}, "InvalidArgumentException"),
        ({"NextToken": "bm8="}, "InvalidArgumentException"),
        ({"StreamName": "no-such-camera"}, "ResourceNotFoundException"),
    ],
)
def test_requests_refused_as_aws_refuses_them(
    camera: Camera, overrides: dict[str, Any], code: str
) -> None:
    start = seconds(recent_base_ms())
    request: dict[str, Any] = {
        "StreamName": camera.name,
        "ImageSelectorType": "PRODUCER_TIMESTAMP",
        "StartTimestamp": start,
        "EndTimestamp": start + dt.timedelta(seconds=10),
        "SamplingInterval": 1000,
        "Format": "JPEG",
    }
    for key, value in overrides.items():
        request[key] = start + dt.timedelta(seconds=value) if key == "EndTimestamp" else value
    with pytest.raises(ClientError) as excinfo:
        camera.images_client().get_images(**request)
    assert excinfo.value.response["Error"]["Code"] == code


def test_a_stream_that_keeps_no_data_has_no_images(video_endpoint: LocalEndpoint) -> None:
    name = f"cam-{uuid.uuid4().hex[:8]}"
    endpoint_client(video_endpoint.url, "kinesisvideo").create_stream(
        StreamName=name, DataRetentionInHours=0
    )
    start = seconds(recent_base_ms())
    with pytest.raises(ClientError) as excinfo:
        archived_media(video_endpoint.url).get_images(
            StreamName=name,
            ImageSelectorType="PRODUCER_TIMESTAMP",
            StartTimestamp=start,
            EndTimestamp=start + dt.timedelta(seconds=1),
            SamplingInterval=1000,
            Format="JPEG",
        )
    assert excinfo.value.response["Error"]["Code"] == "NoDataRetentionException"


def test_a_fragment_that_cannot_be_decoded_is_a_media_error(
    camera: Camera, recordings: dict[str, list[Path]]
) -> None:
    base = recent_base_ms()
    placed = camera.place(recordings["colours"], base)
    placed[1].write_bytes(placed[1].read_bytes()[:100])  # the fragment from 2 s to 4 s
    images = all_images(
        camera.images_client(),
        StreamARN=camera.arn,
        ImageSelectorType="PRODUCER_TIMESTAMP",
        StartTimestamp=seconds(base + 1000),
        EndTimestamp=seconds(base + 4000),
        SamplingInterval=1000,
        Format="JPEG",
    )
    assert colour_of(images[0]) == COLOURS[1]
    assert [i.get("Error") for i in images[1:3]] == ["MEDIA_ERROR", "MEDIA_ERROR"]
    assert colour_of(images[3]) == COLOURS[4]


def test_server_timestamps_follow_when_the_fragments_arrived(
    camera: Camera, recordings: dict[str, list[Path]]
) -> None:
    base = recent_base_ms()
    delay = 1500  # every fragment finished arriving 1.5 s after its video ended
    for fragment in camera.place(recordings["colours"], base):
        end_ms = int(fragment.stem) + 2000
        received_ns = (end_ms + delay) * 1_000_000
        os.utime(fragment, ns=(received_ns, received_ns))
    images = all_images(
        camera.images_client(),
        StreamName=camera.name,
        ImageSelectorType="SERVER_TIMESTAMP",
        StartTimestamp=seconds(base + delay + 500),
        EndTimestamp=seconds(base + delay + 5500),
        SamplingInterval=1000,
        Format="JPEG",
    )
    assert [ms_of(i["TimeStamp"]) - base - delay for i in images] == list(range(500, 5501, 1000))
    assert [colour_of(i) for i in images] == COLOURS


def test_images_of_a_person_are_labelled_by_detect_labels(
    camera: Camera, recordings: dict[str, list[Path]]
) -> None:
    """The frames analyzer's chain: GetImages, then DetectLabels on each image."""
    rekognition = endpoint_client(camera.endpoint.url, "rekognition")
    base = recent_base_ms()
    for scene, offset in (("person", 0), ("empty", 10_000)):
        camera.place(recordings[scene], base + offset)
    found = {}
    for scene, offset in (("person", 0), ("empty", 10_000)):
        images = all_images(
            camera.images_client(),
            StreamName=camera.name,
            ImageSelectorType="PRODUCER_TIMESTAMP",
            StartTimestamp=seconds(base + offset + 500),
            EndTimestamp=seconds(base + offset + 3500),
            SamplingInterval=1000,
            Format="JPEG",
            WidthPixels=640,
        )
        labels = [
            rekognition.detect_labels(
                Image={"Bytes": base64.b64decode(i["ImageContent"])}, MinConfidence=50
            )["Labels"]
            for i in images
        ]
        found[scene] = {label["Name"] for found_labels in labels for label in found_labels}
    assert found == {"person": {"Person"}, "empty": set()}


def test_injected_faults_apply_to_get_images(camera: Camera) -> None:
    url = camera.endpoint.url
    since = last_seq(url)
    inject_fault(url, "kinesis-video-archived-media", "GetImages", "ClientLimitExceededException")
    client = archived_media(url, retries={"total_max_attempts": 1})
    start = seconds(recent_base_ms())
    try:
        with pytest.raises(ClientError) as excinfo:
            client.get_images(
                StreamName=camera.name,
                ImageSelectorType="PRODUCER_TIMESTAMP",
                StartTimestamp=start,
                EndTimestamp=start,
                SamplingInterval=1000,
                Format="JPEG",
            )
    finally:
        clear_faults(url)
    assert excinfo.value.response["Error"]["Code"] == "ClientLimitExceededException"
    logged = [r for r in requests_since(url, since) if r["operation"] == "GetImages"]
    assert [(r["error_code"], r["injected"]) for r in logged] == [
        ("ClientLimitExceededException", True)
    ]


def test_media_apis_not_emulated_say_so(camera: Camera) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    with pytest.raises(ClientError) as excinfo:
        camera.images_client().list_fragments(
            StreamName=camera.name,
            FragmentSelector={
                "FragmentSelectorType": "PRODUCER_TIMESTAMP",
                "TimestampRange": {
                    "StartTimestamp": start,
                    "EndTimestamp": start + dt.timedelta(seconds=5),
                },
            },
        )
    error = excinfo.value.response["Error"]
    assert error["Code"] == "UnknownOperationException"
    assert "ListFragments" in error["Message"]
