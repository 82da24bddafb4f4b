"""What GetClip and the HLS session URLs share: a stream's data endpoint, the time ranges they
take, and the one translation of their errors.

`GetDataEndpoint` allows 5 calls a second per stream, so each (stream, API) endpoint is asked
once per `AwsClients` and kept; an endpoint that cannot be reached is forgotten and asked for
again on the next call.

Errors: what no retry can change (nothing recorded in the range, a stream that keeps no video,
media GetClip or HLS cannot package, a refused range) is a `MediaUnavailableError` with
`permanent=True` and a reason a user reads; throttling (`ClientLimitExceededException`) and
service faults are `RetryableError`; a caller without permission is `AccessDeniedError`.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

from botocore.exceptions import ClientError

from cloud.clients import AwsClients
from cloud.errors import (
    AccessDeniedError,
    FleetError,
    InvalidInputError,
    RetryableError,
    UnavailableError,
    aws_call,
    error_code,
    translate,
)

if TYPE_CHECKING:
    from types_boto3_kinesisvideo.literals import APINameType

MAX_SPAN: Final = timedelta(hours=24)
# Turns the message of an InvalidArgumentException into the reason a user reads.
Refusal = Callable[[str], str] | None  # EndTimestamp within 24 h of StartTimestamp

NO_RETENTION: Final = "the stream keeps no video (retention 0)"
UNSUPPORTED_MEDIA: Final = "the stream's media is not H.264/H.265 video (with AAC audio)"
NO_CODEC_DATA: Final = "the stream's video has no codec private data (SPS/PPS) to play it from"
BAD_CODEC_DATA: Final = "the stream's video has codec private data that cannot be used"
BAD_FRAMES: Final = "the video in this range has frames that cannot be parsed"


class MediaUnavailableError(FleetError):
    """The video asked for cannot be had. `reason` is one line for a user; `permanent` says
    whether asking again the same way can ever succeed."""

    def __init__(self, what: str, reason: str, *, permanent: bool) -> None:
        super().__init__(f"{what}: {reason}")
        self.reason = reason
        self.permanent = permanent


def utc_clock(moment: datetime) -> str:
    """18:04:01 UTC (to the second)."""
    return moment.astimezone(UTC).strftime("%H:%M:%S UTC")


def check_range(what: str, start: datetime, end: datetime) -> None:
    """A producer-timestamp range GetClip and ON_DEMAND HLS take: aware datetimes, the end after
    the start, at most 24 hours apart."""
    for name, moment in (("start", start), ("end", end)):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise InvalidInputError(
                f"{what}: the {name} {moment.isoformat()} has no timezone (give UTC or an offset)"
            )
    if end <= start:
        raise InvalidInputError(
            f"{what}: the end {end.isoformat()} is not after the start {start.isoformat()}"
        )
    if end - start > MAX_SPAN:
        raise InvalidInputError(
            f"{what}: {start.isoformat()} to {end.isoformat()} is longer than "
            f"{MAX_SPAN.total_seconds() / 3600:g} hours"
        )


_ENDPOINTS: weakref.WeakKeyDictionary[AwsClients, dict[tuple[str, str], str]] = (
    weakref.WeakKeyDictionary()
)
_ENDPOINTS_LOCK = threading.Lock()


def data_endpoint(clients: AwsClients, stream_name: str, api: APINameType) -> str:
    """The stream's data endpoint for `api`, asked once and kept. NotFoundError if the stream
    does not exist."""
    with _ENDPOINTS_LOCK:
        known = _ENDPOINTS.get(clients, {}).get((stream_name, api))
    if known is not None:
        return known
    with aws_call(f"get the {api} data endpoint of KVS stream {stream_name}"):
        endpoint = clients.kvs.get_data_endpoint(StreamName=stream_name, APIName=api)[
            "DataEndpoint"
        ]
    with _ENDPOINTS_LOCK:
        _ENDPOINTS.setdefault(clients, {})[(stream_name, api)] = endpoint
    return endpoint


def forget_endpoint(clients: AwsClients, stream_name: str, api: str) -> None:
    with _ENDPOINTS_LOCK:
        _ENDPOINTS.get(clients, {}).pop((stream_name, api), None)


# Codes that no retry changes, with the reason a user reads.
_PERMANENT: Final = {
    "NoDataRetentionException": NO_RETENTION,
    "UnsupportedStreamMediaTypeException": UNSUPPORTED_MEDIA,
    "MissingCodecPrivateDataException": NO_CODEC_DATA,
    "InvalidCodecPrivateDataException": BAD_CODEC_DATA,
    "InvalidMediaFrameException": BAD_FRAMES,
}
_RETRYABLE: Final = {"ClientLimitExceededException"}
_DENIED: Final = {"NotAuthorizedException"}


def media_error(
    err: ClientError,
    what: str,
    *,
    not_found: str,
    refused: Refusal = None,
    unavailable: type[MediaUnavailableError] = MediaUnavailableError,
) -> FleetError:
    """The project's error for an archived-media `ClientError`. `not_found` is the reason for
    ResourceNotFoundException (no fragments where asked); `refused` turns the message of an
    InvalidArgumentException into the reason (by default, the message itself); `unavailable` is
    the caller's own kind of MediaUnavailableError."""
    code = error_code(err)
    message = str(err.response.get("Error", {}).get("Message", "") or code)
    status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code == "ResourceNotFoundException":
        return unavailable(what, not_found, permanent=True)
    if code == "InvalidArgumentException":
        reason = refused(message) if refused is not None else f"refused: {message}"
        return unavailable(what, reason, permanent=True)
    if code in _PERMANENT:
        return unavailable(what, _PERMANENT[code], permanent=True)
    if code in _RETRYABLE or status >= 500:
        return RetryableError(f"{what}: {code}: {message}")
    if code in _DENIED:
        return AccessDeniedError(f"{what}: {code}: {message}")
    return translate(err, what)


@contextmanager
def media_call(
    clients: AwsClients,
    stream_name: str,
    api: str,
    what: str,
    *,
    not_found: str,
    refused: Refusal = None,
    unavailable: type[MediaUnavailableError] = MediaUnavailableError,
) -> Iterator[None]:
    """Translate the errors of one archived-media call (see `media_error`); forget the data
    endpoint when it cannot be reached."""
    try:
        with aws_call(what):
            try:
                yield
            except ClientError as err:
                raise media_error(
                    err, what, not_found=not_found, refused=refused, unavailable=unavailable
                ) from err
    except UnavailableError:
        forget_endpoint(clients, stream_name, api)
        raise
