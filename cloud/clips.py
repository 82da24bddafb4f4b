"""Event clips: an MP4 of a camera's video between two producer timestamps, by KVS `GetClip` at
the stream's GET_CLIP data endpoint.

GetClip packages at most 100 MB or 200 fragments from the start (KVS limits); the range is at
most 24 hours. Only fragments that start at or after the start are in the clip; the end is
compared with each fragment's start, so the last fragment may run past it.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Final

from cloud.archived_media import (
    MediaUnavailableError,
    check_range,
    data_endpoint,
    media_call,
    utc_clock,
)
from cloud.clients import AwsClients

log = logging.getLogger(__name__)

API: Final = "GET_CLIP"
TOO_LARGE: Final = "clip too large (over GetClip's 100 MB / 200 fragments): ask for less time"
_LIMIT_WORDS = re.compile(r"\b(limit|exceed\w*|too (large|big|many)|200 fragments|100 ?MB)\b", re.I)


class ClipUnavailableError(MediaUnavailableError):
    """No clip can be made of the range asked for; `reason` says why, `permanent` whether
    asking again can help."""


def _refusal(message: str) -> str:
    """GetClip's InvalidArgumentException: over its size limits, or another refusal."""
    return TOO_LARGE if _LIMIT_WORDS.search(message) else f"GetClip refused the range: {message}"


def get_clip(clients: AwsClients, stream_name: str, start: datetime, end: datetime) -> bytes:
    """The MP4 of `stream_name` from `start` to `end` (producer timestamps, timezone-aware).

    InvalidInputError for a range GetClip cannot take (checked before any call), NotFoundError
    for a stream that does not exist, ClipUnavailableError when no clip can be made,
    RetryableError when KVS throttles or fails.
    """
    check_range(f"clip of {stream_name}", start, end)
    what = f"clip of {stream_name} from {utc_clock(start)} to {utc_clock(end)}"
    endpoint = data_endpoint(clients, stream_name, API)
    client = clients.archived_media(endpoint)
    no_video = f"no video between {utc_clock(start)} and {utc_clock(end)}"
    with media_call(
        clients,
        stream_name,
        API,
        what,
        not_found=no_video,
        refused=_refusal,
        unavailable=ClipUnavailableError,
    ):
        answer = client.get_clip(
            StreamName=stream_name,
            ClipFragmentSelector={
                "FragmentSelectorType": "PRODUCER_TIMESTAMP",
                "TimestampRange": {"StartTimestamp": start, "EndTimestamp": end},
            },
        )
        body = answer["Payload"]
        try:
            clip = body.read()
        finally:
            body.close()
    if not clip:
        raise ClipUnavailableError(what, no_video, permanent=True)
    log.info("camera %s: clip %s (%d bytes)", stream_name, what, len(clip))
    return clip
