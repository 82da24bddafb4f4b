"""Live view and replay: HLS streaming session URLs of a camera's stream, by KVS
`GetHLSStreamingSessionURL` at the stream's GET_HLS_STREAMING_SESSION_URL data endpoint.

Both kinds are fragmented MP4 on producer timestamps (the camera's clock, the one `--at` times
and detections are in). A LIVE session plays the newest fragments and needs some in the last
30 seconds; an ON_DEMAND session plays what was recorded in a range of at most 24 hours. The URL
carries the session's token: anyone holding it can watch until it expires, and AWS throttles a
session that several players share.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Final

from cloud.archived_media import MediaUnavailableError, check_range, data_endpoint, media_call
from cloud.archived_media import utc_clock as _clock
from cloud.clients import AwsClients
from cloud.errors import InvalidInputError
from cloud.links import MediaLink

if TYPE_CHECKING:
    from types_boto3_kinesis_video_archived_media.type_defs import HLSFragmentSelectorTypeDef

log = logging.getLogger(__name__)

API: Final = "GET_HLS_STREAMING_SESSION_URL"
MIN_EXPIRES: Final = 300
MAX_EXPIRES: Final = 43_200
NO_LIVE_VIDEO: Final = "no video in the last 30 s: the camera is not streaming"


class PlaybackMode(StrEnum):
    LIVE = "LIVE"
    ON_DEMAND = "ON_DEMAND"


class PlaybackUnavailableError(MediaUnavailableError):
    """No HLS session can be made; `reason` says why, `permanent` whether asking again can
    help."""


def _now() -> datetime:
    return datetime.now(UTC)


def check_expires(expires_seconds: int) -> None:
    if not MIN_EXPIRES <= expires_seconds <= MAX_EXPIRES:
        raise InvalidInputError(
            f"an HLS session lasts {MIN_EXPIRES} to {MAX_EXPIRES} s, not {expires_seconds}"
        )


def live_url(
    clients: AwsClients,
    stream_name: str,
    expires_seconds: int,
    *,
    clock: Callable[[], datetime] = _now,
) -> MediaLink:
    """A LIVE session's master playlist URL, working for `expires_seconds` (300 to 43200)."""
    check_expires(expires_seconds)
    return _session_url(
        clients,
        stream_name,
        PlaybackMode.LIVE,
        {"FragmentSelectorType": "PRODUCER_TIMESTAMP"},
        expires_seconds,
        what=f"live view of {stream_name}",
        not_found=NO_LIVE_VIDEO,
        clock=clock,
    )


def on_demand_url(
    clients: AwsClients,
    stream_name: str,
    start: datetime,
    end: datetime,
    expires_seconds: int,
    *,
    clock: Callable[[], datetime] = _now,
) -> MediaLink:
    """An ON_DEMAND session's master playlist URL for the video from `start` to `end`
    (producer timestamps, timezone-aware, at most 24 h apart)."""
    check_range(f"replay of {stream_name}", start, end)
    what = f"replay of {stream_name} from {_clock(start)} to {_clock(end)}"
    check_expires(expires_seconds)
    return _session_url(
        clients,
        stream_name,
        PlaybackMode.ON_DEMAND,
        {
            "FragmentSelectorType": "PRODUCER_TIMESTAMP",
            "TimestampRange": {"StartTimestamp": start, "EndTimestamp": end},
        },
        expires_seconds,
        what=what,
        not_found=f"no video between {_clock(start)} and {_clock(end)}",
        clock=clock,
    )


def _session_url(
    clients: AwsClients,
    stream_name: str,
    mode: PlaybackMode,
    selector: HLSFragmentSelectorTypeDef,
    expires_seconds: int,
    *,
    what: str,
    not_found: str,
    clock: Callable[[], datetime],
) -> MediaLink:
    client = clients.archived_media(data_endpoint(clients, stream_name, API))
    asked = clock()  # the session's lifetime counts from the request
    with media_call(
        clients,
        stream_name,
        API,
        what,
        not_found=not_found,
        unavailable=PlaybackUnavailableError,
    ):
        url = client.get_hls_streaming_session_url(
            StreamName=stream_name,
            PlaybackMode=mode.value,
            HLSFragmentSelector=selector,
            ContainerFormat="FRAGMENTED_MP4",
            Expires=expires_seconds,
        )["HLSStreamingSessionURL"]
    log.info("camera %s: %s HLS session for %d s", stream_name, mode.value, expires_seconds)
    return MediaLink(url=url, expires_at=asked + timedelta(seconds=expires_seconds))
