"""KVS control-plane calls moto 5.2.5 lacks, applied to moto's own streams.

- ``UpdateDataRetention``: changes ``DataRetentionInHours`` of a stream in
  moto's kinesisvideo backend, checking ``CurrentVersion`` and giving the
  stream a new version, as AWS does.

- ``ListTagsForStream``, ``TagStream``, ``UntagStream``: the tags moto keeps from
  ``CreateStream`` (the fleet's ownership markers), read and changed.

- ``GetDataEndpoint``: the address the request came to, for every ``APIName``. This endpoint is
  the only one there is, and it serves the data-plane APIs it emulates (``GetImages``,
  ``GetClip``, ``GetHLSStreamingSessionURL`` and its HLS URLs) itself; moto's answer is a
  made-up ``amazonaws.com`` host no client can reach. The others (GetMedia, DASH,
  ListFragments) are not served: a client that calls them here gets
  ``UnknownOperationException`` saying so.

Not emulated: the asynchronous ``UPDATING`` status (the change is immediate); tag pagination
(a stream has at most 50 tags); GetDataEndpoint's limits (300 TPS per account, 5 per stream).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from moto.backends import get_backend

from stack.endpoint.exceptions import (
    InvalidArgumentException,
    LocalAwsError,
    StreamNotFoundException,
)

MAX_RETENTION_HOURS = 87_600
API_NAMES = frozenset(
    {
        "PUT_MEDIA",
        "GET_MEDIA",
        "LIST_FRAGMENTS",
        "GET_MEDIA_FOR_FRAGMENT_LIST",
        "GET_HLS_STREAMING_SESSION_URL",
        "GET_DASH_STREAMING_SESSION_URL",
        "GET_CLIP",
        "GET_IMAGES",
    }
)


class VersionMismatchException(LocalAwsError):
    code = "VersionMismatchException"


@dataclass(frozen=True)
class StreamRef:
    """What the data plane needs of a stream in moto's backend."""

    name: str
    arn: str
    retention_hours: int


def _stream(account_id: str, region: str, request: Mapping[str, Any]) -> Any:
    name, arn = request.get("StreamName"), request.get("StreamARN")
    if not name and not arn:
        raise InvalidArgumentException("Either StreamName or StreamARN must be specified.")
    backend = get_backend("kinesisvideo")[account_id][region]
    for stream in list(backend.streams.values()):
        if (arn and stream.arn == arn) or (name and stream.stream_name == name):
            return stream
    raise StreamNotFoundException("The requested stream is not found or not active.")


def find_stream(account_id: str, region: str, request: Mapping[str, Any]) -> StreamRef:
    """The stream a data-plane request names (``StreamName`` or ``StreamARN``)."""
    stream = _stream(account_id, region, request)
    return StreamRef(stream.stream_name, stream.arn, int(stream.data_retention_in_hours or 0))


def get_data_endpoint(
    account_id: str, region: str, request: dict[str, Any], endpoint_url: str
) -> dict[str, Any]:
    """``endpoint_url``: the address the request came to."""
    api_name = request.get("APIName")
    if api_name not in API_NAMES:
        raise InvalidArgumentException(
            f"APIName must be one of {', '.join(sorted(API_NAMES))}, not {api_name!r}."
        )
    _stream(account_id, region, request)
    return {"DataEndpoint": endpoint_url}


def update_data_retention(account_id: str, region: str, request: dict[str, Any]) -> dict[str, Any]:
    stream = _stream(account_id, region, request)
    if request.get("CurrentVersion") != stream.version:
        raise VersionMismatchException("The stream version does not match CurrentVersion.")
    change = request.get("DataRetentionChangeInHours")
    if not isinstance(change, int) or change < 1:
        raise InvalidArgumentException("DataRetentionChangeInHours must be at least 1.")
    operation = request.get("Operation")
    if operation == "INCREASE_DATA_RETENTION":
        hours = stream.data_retention_in_hours + change
    elif operation == "DECREASE_DATA_RETENTION":
        hours = stream.data_retention_in_hours - change
    else:
        raise InvalidArgumentException(f"Unknown Operation {operation!r}.")
    if not 0 <= hours <= MAX_RETENTION_HOURS:
        raise InvalidArgumentException(f"Data retention must stay within 0..{MAX_RETENTION_HOURS}.")
    stream.data_retention_in_hours = hours
    stream.version = uuid.uuid4().hex[:20]
    return {}


MAX_TAGS = 50


def list_tags_for_stream(account_id: str, region: str, request: dict[str, Any]) -> dict[str, Any]:
    return {"Tags": dict(_stream(account_id, region, request).tags or {})}


def tag_stream(account_id: str, region: str, request: dict[str, Any]) -> dict[str, Any]:
    stream = _stream(account_id, region, request)
    tags = {**(stream.tags or {}), **dict(request.get("Tags") or {})}
    if len(tags) > MAX_TAGS:
        raise InvalidArgumentException(f"A stream has at most {MAX_TAGS} tags.")
    stream.tags = tags
    return {}


def untag_stream(account_id: str, region: str, request: dict[str, Any]) -> dict[str, Any]:
    stream = _stream(account_id, region, request)
    removed = set(request.get("TagKeyList") or [])
    stream.tags = {k: v for k, v in (stream.tags or {}).items() if k not in removed}
    return {}


OPERATIONS = {
    "UpdateDataRetention": update_data_retention,
    "ListTagsForStream": list_tags_for_stream,
    "TagStream": tag_stream,
    "UntagStream": untag_stream,
}
