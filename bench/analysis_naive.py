"""The baseline: a frames analyzer as "extract frames and call the image APIs" is usually first
written. For a session's window it asks KVS for the data endpoint, takes one image a second for
the whole window with GetImages (page by page), sends every image to DetectLabels and counts the
first image with a person as the detection: no confirmation in consecutive images, no early stop,
no label filter (it reads `Person` out of the answer).

It replays the windows of the frames analyzer's sessions after they ran, against the same local
endpoint and the same video (the fragment store keeps it): its requests are counted from its own
calls and carry the user agent `app/bench-naive`, so the endpoint's request log tells them apart.
It times nothing: the video it reads is all ingested by then.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from bench.analysis_core import NaiveSession, RequestCount

if TYPE_CHECKING:
    from types_boto3_kinesis_video_archived_media import KinesisVideoArchivedMediaClient
    from types_boto3_kinesisvideo import KinesisVideoClient
    from types_boto3_rekognition import RekognitionClient

APP_ID = "bench-naive"
SAMPLING_MS = 1000
WIDTH = 1280  # what the frames analyzer asks for, so both analyse the same images
JPEG_QUALITY = "80"


@dataclass(frozen=True)
class Window:
    camera_id: str  # the KVS stream's name
    session_id: str
    start_ms: int
    end_ms: int
    min_confidence: float


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class NaiveAnalyzer:
    def __init__(self, endpoint: str, region: str) -> None:
        # `user_agent_appid` is botocore's (1.31 on); the stubs do not know it yet.
        self._config = Config(user_agent_appid=APP_ID, retries={"mode": "standard"})  # type: ignore[call-arg]
        self._region = region
        self._kvs: KinesisVideoClient = self._client("kinesisvideo", endpoint)
        self._rekognition: RekognitionClient = self._client("rekognition", endpoint)
        self._media: dict[str, KinesisVideoArchivedMediaClient] = {}

    def _client(self, service: str, endpoint: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=endpoint,
            region_name=self._region,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=self._config,
        )

    def analyse(self, window: Window) -> NaiveSession:
        data_endpoint = self._kvs.get_data_endpoint(
            StreamName=window.camera_id, APIName="GET_IMAGES"
        )["DataEndpoint"]
        media = self._media.get(data_endpoint)
        if media is None:
            media = self._media[data_endpoint] = self._client(
                "kinesis-video-archived-media", data_endpoint
            )
        pages, images, detect_calls, found = 0, 0, 0, None
        request: dict[str, Any] = {
            "StreamName": window.camera_id,
            "ImageSelectorType": "PRODUCER_TIMESTAMP",
            "StartTimestamp": _moment(window.start_ms),
            "EndTimestamp": _moment(window.end_ms),
            "SamplingInterval": SAMPLING_MS,
            "Format": "JPEG",
            "FormatConfig": {"JPEGQuality": JPEG_QUALITY},
            "WidthPixels": WIDTH,
            "MaxResults": 25,
        }
        while True:
            page = media.get_images(**request)
            pages += 1
            for image in page.get("Images", []):
                content = image.get("ImageContent")
                if not content:
                    continue
                images += 1
                answer = self._rekognition.detect_labels(
                    Image={"Bytes": base64.b64decode(content)},
                    MinConfidence=window.min_confidence,
                )
                detect_calls += 1
                if found is None and any(
                    label.get("Name") == "Person" for label in answer.get("Labels", [])
                ):
                    found = round(image["TimeStamp"].timestamp() * 1000)
            if not page.get("NextToken"):
                break
            request["NextToken"] = page["NextToken"]
        return NaiveSession(
            camera_id=window.camera_id,
            session_id=window.session_id,
            requests=RequestCount(
                get_data_endpoint=1, get_images=pages, detect_labels=detect_calls
            ),
            images=images,
            person_frame_ms=found,
        )
