"""An account without Rekognition Streaming Video: the admin switch and `--no-streaming-video`.

Closed, CreateStreamProcessor fails with AccessDeniedException naming the reason; processors
that exist keep working; opened again, processors can be created again.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stack.endpoint.__main__ import parse_args
from stack.endpoint.server import LocalEndpoint, start_local_endpoint
from tests.support.endpoint_admin import endpoint_client

ACCOUNT = "123456789012"


def set_streaming_video(url: str, available: bool) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/_fleet/streaming-video",
        data=json.dumps({"available": available}).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_fleet/health", timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[LocalEndpoint]:
    """An endpoint of its own: closing streaming video is for its accounts only."""
    with start_local_endpoint(tmp_path / "aws") as started:
        yield started


def create_processor(endpoint: LocalEndpoint, name: str | None = None) -> str:
    name = name or f"cam-{uuid.uuid4().hex[:8]}"
    stream_arn = endpoint_client(endpoint.url, "kinesisvideo").create_stream(
        StreamName=name, DataRetentionInHours=24
    )["StreamARN"]
    endpoint_client(endpoint.url, "rekognition").create_stream_processor(
        Name=name,
        Input={"KinesisVideoStream": {"Arn": stream_arn}},
        Output={"S3Destination": {"Bucket": "fleet-frames", "KeyPrefix": "frames"}},
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/fleet-rekognition-{name}",
        Settings={"ConnectedHome": {"Labels": ["PERSON"], "MinConfidence": 60}},
        NotificationChannel={"SNSTopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:fleet-{name}"},
    )
    return name


def refusal(endpoint: LocalEndpoint) -> dict[str, Any]:
    with pytest.raises(ClientError) as excinfo:
        create_processor(endpoint)
    return dict(excinfo.value.response["Error"])


def test_closed_refuses_new_processors_and_keeps_the_existing_ones(
    endpoint: LocalEndpoint,
) -> None:
    existing = create_processor(endpoint)
    assert set_streaming_video(endpoint.url, False) == {"streaming_video_available": False}
    assert health(endpoint.url)["streaming_video_available"] is False

    error = refusal(endpoint)
    assert error["Code"] == "AccessDeniedException"
    assert "no longer available to new customers" in error["Message"]
    assert "Streaming Video" in error["Message"]

    rekognition = endpoint_client(endpoint.url, "rekognition")
    rekognition.start_stream_processor(
        Name=existing,
        StartSelector={"KVSStreamStartSelector": {"ProducerTimestamp": 1_700_000_000_000}},
        StopSelector={"MaxDurationInSeconds": 5},
    )
    assert rekognition.describe_stream_processor(Name=existing)["Status"] == "STARTING"
    rekognition.stop_stream_processor(Name=existing)
    rekognition.update_stream_processor(
        Name=existing,
        SettingsForUpdate={"ConnectedHomeForUpdate": {"MinConfidence": 80}},
    )
    listed = rekognition.list_stream_processors()["StreamProcessors"]
    assert existing in [p["Name"] for p in listed]
    rekognition.delete_stream_processor(Name=existing)


def test_the_refusal_comes_before_any_check_of_the_request(endpoint: LocalEndpoint) -> None:
    set_streaming_video(endpoint.url, False)
    with pytest.raises(ClientError) as excinfo:
        endpoint_client(endpoint.url, "rekognition").create_stream_processor(
            Name="no-stream-at-all",
            Input={"KinesisVideoStream": {"Arn": "not-an-arn"}},
            Output={"S3Destination": {"Bucket": "fleet-frames"}},
            RoleArn="not-a-role",
            Settings={"ConnectedHome": {"Labels": ["PERSON"]}},
        )
    assert excinfo.value.response["Error"]["Code"] == "AccessDeniedException"


def test_opened_again_processors_can_be_created(endpoint: LocalEndpoint) -> None:
    set_streaming_video(endpoint.url, False)
    assert refusal(endpoint)["Code"] == "AccessDeniedException"
    set_streaming_video(endpoint.url, True)
    create_processor(endpoint)


def test_other_rekognition_features_are_unaffected(endpoint: LocalEndpoint) -> None:
    set_streaming_video(endpoint.url, False)
    rekognition = endpoint_client(endpoint.url, "rekognition")
    collection = f"faces-{uuid.uuid4().hex[:8]}"
    rekognition.create_collection(CollectionId=collection)
    assert collection in rekognition.list_collections()["CollectionIds"]


def test_a_bad_switch_is_refused(endpoint: LocalEndpoint) -> None:
    request = urllib.request.Request(
        f"{endpoint.url}/_fleet/streaming-video",
        data=json.dumps({"availble": False}).encode(),
        method="PUT",
    )
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=10)
    assert excinfo.value.code == 400
    assert health(endpoint.url)["streaming_video_available"] is True


def test_an_endpoint_started_closed(tmp_path: Path) -> None:
    config = parse_args(["--port", "0", "--state-dir", str(tmp_path), "--no-streaming-video"])
    assert config.streaming_video is False
    assert parse_args(["--port", "0", "--state-dir", str(tmp_path)]).streaming_video is True
    with start_local_endpoint(tmp_path / "aws", streaming_video=False) as closed:
        assert refusal(closed)["Code"] == "AccessDeniedException"
