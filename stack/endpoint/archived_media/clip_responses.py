"""``GetClip`` (``POST /getClip``, rest-json) from the local fragment store.

The answer is ``Content-Type: video/mp4`` and an MP4 file (``moov`` before ``mdat``, time from 0)
remuxed, not re-encoded, from the finished fragments that start within the range (``clip``: at
most 200 fragments or 100 MB). Errors: ``InvalidArgumentException`` (``clip_request``),
``ResourceNotFoundException`` (404) for an unknown stream or no fragment in the range (a
fragment older than the stream's retention is gone), ``NoDataRetentionException`` for a
retention of 0, ``UnsupportedStreamMediaTypeException`` when the first fragment's track is not
H.264, ``InvalidMediaFrameException`` when GStreamer cannot remux the fragments.

Not emulated: ``ClientLimitExceededException`` and the API's rate limits, H.265 and audio tracks,
codec private data checks beyond what the remux needs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from stack.endpoint.archived_media import clip, remux, store
from stack.endpoint.archived_media.clip_request import parse_get_clip
from stack.endpoint.archived_media.errors import (
    InvalidMediaFrameException,
    NoFragmentsException,
    UnsupportedStreamMediaTypeException,
)
from stack.endpoint.archived_media.media import MP4, Media, stream_directory
from stack.endpoint.exceptions import NoDataRetentionException
from stack.endpoint.kinesisvideo import StreamRef

logger = logging.getLogger(__name__)

FindStream = Callable[[str, str, Mapping[str, Any]], StreamRef]
Clock = Callable[[], int]  # wall clock, ms since the epoch
DEFAULT_MAX_PARALLEL = 2


def no_data(stream: StreamRef) -> NoDataRetentionException:
    return NoDataRetentionException(
        f"The stream {stream.name} does not retain data (DataRetentionInHours is 0)."
    )


def check_h264(first: store.StoredFragment) -> None:
    if not store.is_h264(first):
        raise UnsupportedStreamMediaTypeException(
            "The codec ID of track 1 of the first fragment is not V_MPEG4/ISO/AVC (H.264)."
        )


class Clips:
    """Serves GetClip. `find_stream` looks a request's stream up (under the state lock)."""

    def __init__(
        self,
        fragment_root: Path | None,
        find_stream: FindStream,
        clock: Clock,
        max_parallel: int = DEFAULT_MAX_PARALLEL,
    ) -> None:
        self.fragment_root = fragment_root
        self._find_stream = find_stream
        self._clock = clock
        self._remuxing = threading.BoundedSemaphore(max_parallel)

    def get_clip(self, account_id: str, region: str, body: Mapping[str, Any]) -> Media:
        now = self._clock()
        request = parse_get_clip(body, now)
        stream = self._find_stream(account_id, region, request.stream)
        if stream.retention_hours == 0:
            raise no_data(stream)
        directory = stream_directory(self.fragment_root, stream)
        kept = []
        if directory is not None:
            kept = store.retained(store.stored_fragments(directory), stream.retention_hours, now)
        window = request.fragments.range
        chosen = clip.clip_fragments(
            kept, request.fragments.selector, window.start_ms, window.end_ms
        )
        if not chosen:
            raise NoFragmentsException(
                "No fragments found in the stream for the requested timestamp range."
            )
        check_h264(chosen[0])
        with self._remuxing:
            try:
                data = remux.mp4_clip([f.path for f in chosen])
            except remux.RemuxError as err:
                logger.warning("GetClip %s: %s", stream.name, err)
                raise InvalidMediaFrameException(
                    "One or more frames in the requested clip could not be parsed."
                ) from err
        logger.debug("GetClip %s: %d fragments, %d bytes", stream.name, len(chosen), len(data))
        return Media(MP4, data)
