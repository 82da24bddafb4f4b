"""Still images of a camera's video: KVS `GetImages` at the stream's data endpoint.

`GetDataEndpoint` (APIName GET_IMAGES) allows 5 calls a second per stream, so each stream's
endpoint is asked once and kept; an endpoint that cannot be reached is forgotten and asked for
again. `GetImages` is read page by page (25 images a page): each image is its producer
timestamp and either its JPEG or why there is none, NO_MEDIA (nothing ingested for that time,
yet or at all) or MEDIA_ERROR (no image can be made from the media there).

Only `WidthPixels` is sent: the height follows the video's aspect ratio (the API reference says
so of `ImageGenerationConfiguration` and of `HeightPixels`; its text for GetImages'
`WidthPixels` alone says a lone width is refused, which is then the endpoint's error to report).
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final

from pydantic import Field

from cloud.clients import AwsClients
from cloud.errors import InvalidInputError, UnavailableError, aws_call
from cloud.models import Model

log = logging.getLogger(__name__)

MIN_SAMPLING_MS: Final = 200
MAX_SPAN_MS: Final = 300_000  # EndTimestamp at most 300 s after StartTimestamp
PAGE_SIZE: Final = 25


class ImageError(StrEnum):
    NO_MEDIA = "NO_MEDIA"
    MEDIA_ERROR = "MEDIA_ERROR"


class StreamImage(Model):
    """One sampled image: its JPEG, or the error KVS gave for its timestamp."""

    timestamp_ms: int
    content: bytes | None = None
    error: ImageError | None = None


class ImageFormat(Model):
    width: int = Field(1280, ge=1, le=3840)
    jpeg_quality: int = Field(80, ge=1, le=100)


def _ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _image(timestamp_ms: int, content: str | None, error: str | None) -> StreamImage:
    if error is not None:
        return StreamImage(timestamp_ms=timestamp_ms, error=ImageError(error))
    try:
        data = base64.b64decode(content or "", validate=True)
    except (binascii.Error, ValueError):
        data = b""
    if not data:
        return StreamImage(timestamp_ms=timestamp_ms, error=ImageError.MEDIA_ERROR)
    return StreamImage(timestamp_ms=timestamp_ms, content=data)


class StreamImages:
    """GetImages for any stream of the account; one per process (the endpoints are shared)."""

    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients
        self._lock = threading.Lock()
        self._endpoints: dict[str, str] = {}

    def data_endpoint(self, stream_arn: str) -> str:
        with self._lock:
            known = self._endpoints.get(stream_arn)
        if known is not None:
            return known
        with aws_call(f"get the GET_IMAGES data endpoint of {stream_arn}"):
            endpoint = self._clients.kvs.get_data_endpoint(
                StreamARN=stream_arn, APIName="GET_IMAGES"
            )["DataEndpoint"]
        with self._lock:
            self._endpoints[stream_arn] = endpoint
        return endpoint

    def forget(self, stream_arn: str) -> None:
        with self._lock:
            self._endpoints.pop(stream_arn, None)

    def get_images(
        self,
        stream_arn: str,
        start_ms: int,
        end_ms: int,
        sampling_ms: int,
        image_format: ImageFormat,
    ) -> list[StreamImage]:
        """Images every `sampling_ms` from `start_ms` to `end_ms` (producer timestamps, both
        within the range), in timestamp order."""
        if sampling_ms < MIN_SAMPLING_MS:
            raise InvalidInputError(
                f"GetImages of {stream_arn}: a sampling interval of {sampling_ms} ms is under "
                f"the least, {MIN_SAMPLING_MS} ms"
            )
        if not 0 <= end_ms - start_ms <= MAX_SPAN_MS:
            raise InvalidInputError(
                f"GetImages of {stream_arn}: {start_ms}..{end_ms} is not a range of at most "
                f"{MAX_SPAN_MS} ms"
            )
        endpoint = self.data_endpoint(stream_arn)
        client = self._clients.archived_media(endpoint)
        pages = client.get_paginator("get_images").paginate(
            StreamARN=stream_arn,
            ImageSelectorType="PRODUCER_TIMESTAMP",
            StartTimestamp=_moment(start_ms),
            EndTimestamp=_moment(end_ms),
            SamplingInterval=sampling_ms,
            Format="JPEG",
            FormatConfig={"JPEGQuality": str(image_format.jpeg_quality)},
            WidthPixels=image_format.width,
            PaginationConfig={"PageSize": PAGE_SIZE},
        )
        images: list[StreamImage] = []
        try:
            with aws_call(f"get images of {stream_arn} from {start_ms} to {end_ms}"):
                for page in pages:
                    for raw in page.get("Images", []):
                        stamp = raw.get("TimeStamp")
                        if stamp is None:
                            continue
                        images.append(_image(_ms(stamp), raw.get("ImageContent"), raw.get("Error")))
        except UnavailableError:
            self.forget(stream_arn)
            raise
        images.sort(key=lambda image: image.timestamp_ms)
        log.debug("%s: %d images from %d to %d", stream_arn, len(images), start_ms, end_ms)
        return images
