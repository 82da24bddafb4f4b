"""``GetImages`` (``POST /getImages``, rest-json) on the streams of moto's KVS backend.

The video is the local fragment store's (``frames``): ``<fragment root>/<stream name>/``. An
endpoint without a fragment store, or a stream that never received video, answers ``NO_MEDIA``
for every image. ``SERVER_TIMESTAMP`` is mapped onto the video through each fragment's
modification time (``timeline``); the images' ``TimeStamp`` is the requested time either way.

Errors: ``InvalidArgumentException`` (``request``, ``sampling``), ``ResourceNotFoundException``
(HTTP 404) for an unknown stream, ``NoDataRetentionException`` for a stream with a
``DataRetentionInHours`` of 0.

Not emulated: the retention period (fragments older than it stay readable while the store keeps
them), ``ClientLimitExceededException`` and the API's rate limits, audio-only media.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from stack.endpoint.archived_media import frames, images, sampling, timeline
from stack.endpoint.archived_media.request import GetImagesRequest, ImageSelector, parse_get_images
from stack.endpoint.exceptions import NoDataRetentionException
from stack.endpoint.kinesisvideo import StreamRef

logger = logging.getLogger(__name__)

FindStream = Callable[[str, str, Mapping[str, Any]], StreamRef]
DEFAULT_MAX_PARALLEL = 4


class ArchivedMedia:
    """Serves GetImages. `find_stream` looks a request's stream up (under the state lock)."""

    def __init__(
        self,
        fragment_root: Path | None,
        find_stream: FindStream,
        max_parallel: int = DEFAULT_MAX_PARALLEL,
    ) -> None:
        self.fragment_root = fragment_root
        self._find_stream = find_stream
        self._decoding = threading.BoundedSemaphore(max_parallel)  # decoding takes the CPU

    def get_images(self, account_id: str, region: str, body: Mapping[str, Any]) -> dict[str, Any]:
        request = parse_get_images(body)
        stream = self._find_stream(account_id, region, request.stream)
        if stream.retention_hours == 0:
            raise NoDataRetentionException(
                f"The stream {stream.name} does not retain data (DataRetentionInHours is 0)."
            )
        times = sampling.sample_times(request.start_ms, request.end_ms, request.sampling_ms or 0)
        key = sampling.window_key(
            stream.arn, request.selector, request.start_ms, request.end_ms, request.sampling_ms
        )
        page = sampling.page_of(times, request.max_results, request.next_token, key)
        with self._decoding:
            found = self._decode(stream, request, page.times)
        result: dict[str, Any] = {
            "Images": [self._image(t, found.get(t), request) for t in page.times]
        }
        if page.next_token:
            result["NextToken"] = page.next_token
        logger.debug(
            "GetImages %s: %d images from %d", stream.name, len(page.times), request.start_ms
        )
        return result

    def _directory(self, stream: StreamRef) -> Path | None:
        if self.fragment_root is None or stream.name in (".", ".."):
            return None
        return self.fragment_root / stream.name

    def _decode(
        self, stream: StreamRef, request: GetImagesRequest, times: list[int]
    ) -> dict[int, frames.Decoded]:
        directory = self._directory(stream)
        if directory is None or not times:
            return {}
        if request.selector is ImageSelector.PRODUCER_TIMESTAMP:
            return frames.images_at(directory, times)
        on_video = timeline.producer_times(frames.fragment_spans(directory), times)
        decoded = frames.images_at(directory, on_video.values())
        return {server: decoded[producer] for server, producer in on_video.items()}

    @staticmethod
    def _image(t: int, decoded: frames.Decoded | None, request: GetImagesRequest) -> dict[str, Any]:
        image: dict[str, Any] = {"TimeStamp": t / 1000}
        if decoded is None:
            image["Error"] = frames.ImageError.NO_MEDIA.value
        elif isinstance(decoded, frames.ImageError):
            image["Error"] = decoded.value
        else:
            try:
                image["ImageContent"] = images.encode(
                    decoded, request.format, request.jpeg_quality, request.width, request.height
                )
            except images.EncodingError as err:
                logger.warning("GetImages: %s", err)
                image["Error"] = frames.ImageError.MEDIA_ERROR.value
        return image
