"""A GetHLSStreamingSessionURL request, checked as Kinesis Video Streams checks it.

The API reference's rules, refused with ``InvalidArgumentException``: a request naming no stream;
values outside their enums; ``Expires`` outside 300..43200 s and ``MaxMediaPlaylistFragmentResults``
outside 1..5000 (botocore checks these too); ``ON_DEMAND`` and ``LIVE_REPLAY`` without an
``HLSFragmentSelector`` holding a selector type and a ``TimestampRange`` with a
``StartTimestamp``; ``ON_DEMAND`` without an ``EndTimestamp``; ``LIVE`` with a ``TimestampRange``;
a range ``selectors.check_range`` refuses.

Defaults (the API reference): ``PlaybackMode`` LIVE, ``FragmentSelectorType`` SERVER_TIMESTAMP,
``ContainerFormat`` FRAGMENTED_MP4, ``DiscontinuityMode`` ALWAYS for server timestamps and NEVER
for producer timestamps, ``DisplayFragmentTimestamp`` NEVER, ``Expires`` 300 s,
``MaxMediaPlaylistFragmentResults`` 5 (LIVE, LIVE_REPLAY) or 1,000 (ON_DEMAND).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from stack.endpoint.archived_media.selectors import (
    FragmentSelectorType,
    check_range,
    invalid,
    seconds_to_ms,
)
from stack.endpoint.exceptions import InvalidArgumentException

DEFAULT_EXPIRES_S = 300
LIVE_FRAGMENTS = 5
ON_DEMAND_FRAGMENTS = 1_000


class PlaybackMode(StrEnum):
    LIVE = "LIVE"
    LIVE_REPLAY = "LIVE_REPLAY"
    ON_DEMAND = "ON_DEMAND"


class ContainerFormat(StrEnum):
    FRAGMENTED_MP4 = "FRAGMENTED_MP4"
    MPEG_TS = "MPEG_TS"


class DiscontinuityMode(StrEnum):
    ALWAYS = "ALWAYS"
    NEVER = "NEVER"
    ON_DISCONTINUITY = "ON_DISCONTINUITY"


class DisplayFragmentTimestamp(StrEnum):
    ALWAYS = "ALWAYS"
    NEVER = "NEVER"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HLSTimestampRange(_Model):
    start_ms: int | None = Field(None, alias="StartTimestamp")
    end_ms: int | None = Field(None, alias="EndTimestamp")

    @field_validator("start_ms", "end_ms", mode="before")
    @classmethod
    def _ms(cls, value: Any) -> Any:
        return seconds_to_ms(value)


class HLSFragmentSelector(_Model):
    selector: FragmentSelectorType | None = Field(None, alias="FragmentSelectorType")
    range: HLSTimestampRange | None = Field(None, alias="TimestampRange")


class GetHLSStreamingSessionURLRequest(_Model):
    stream_name: str | None = Field(None, alias="StreamName", min_length=1, max_length=256)
    stream_arn: str | None = Field(None, alias="StreamARN", min_length=1, max_length=1024)
    mode: PlaybackMode = Field(PlaybackMode.LIVE, alias="PlaybackMode")
    fragments: HLSFragmentSelector | None = Field(None, alias="HLSFragmentSelector")
    container: ContainerFormat = Field(ContainerFormat.FRAGMENTED_MP4, alias="ContainerFormat")
    discontinuity: DiscontinuityMode | None = Field(None, alias="DiscontinuityMode")
    display_timestamp: DisplayFragmentTimestamp = Field(
        DisplayFragmentTimestamp.NEVER, alias="DisplayFragmentTimestamp"
    )
    expires_s: int = Field(DEFAULT_EXPIRES_S, alias="Expires", ge=300, le=43_200)
    max_results: int | None = Field(None, alias="MaxMediaPlaylistFragmentResults", ge=1, le=5_000)

    @property
    def stream(self) -> dict[str, str]:
        named = {"StreamName": self.stream_name, "StreamARN": self.stream_arn}
        return {key: value for key, value in named.items() if value}


@dataclass(frozen=True)
class HlsSessionSpec:
    """What a checked request asks of a session, defaults applied."""

    mode: PlaybackMode
    selector: FragmentSelectorType
    start_ms: int | None
    end_ms: int | None
    container: ContainerFormat
    discontinuity: DiscontinuityMode
    display_timestamp: bool
    expires_s: int
    max_results: int


def parse_get_hls_url(
    body: Mapping[str, Any], now_ms: int
) -> tuple[GetHLSStreamingSessionURLRequest, HlsSessionSpec]:
    try:
        request = GetHLSStreamingSessionURLRequest.model_validate(dict(body))
    except ValidationError as err:
        raise invalid(err) from err
    if not request.stream:
        raise InvalidArgumentException("Either StreamName or StreamARN must be specified.")
    return request, _spec(request, now_ms)


def _spec(request: GetHLSStreamingSessionURLRequest, now_ms: int) -> HlsSessionSpec:
    chosen = request.fragments or HLSFragmentSelector()
    window = chosen.range
    if request.mode is PlaybackMode.LIVE:
        if window is not None:
            raise InvalidArgumentException(
                "TimestampRange must not be set when PlaybackMode is LIVE."
            )
    else:
        if chosen.selector is None or window is None or window.start_ms is None:
            raise InvalidArgumentException(
                f"HLSFragmentSelector with FragmentSelectorType and a TimestampRange with a "
                f"StartTimestamp is required when PlaybackMode is {request.mode.value}."
            )
        if request.mode is PlaybackMode.ON_DEMAND and window.end_ms is None:
            raise InvalidArgumentException(
                "EndTimestamp is required when PlaybackMode is ON_DEMAND."
            )
    selector = chosen.selector or FragmentSelectorType.SERVER_TIMESTAMP
    start = window.start_ms if window else None
    end = window.end_ms if window else None
    if start is not None and end is not None:
        check_range(selector, start, end, now_ms)
    default_discontinuity = (
        DiscontinuityMode.ALWAYS
        if selector is FragmentSelectorType.SERVER_TIMESTAMP
        else DiscontinuityMode.NEVER
    )
    default_max = ON_DEMAND_FRAGMENTS if request.mode is PlaybackMode.ON_DEMAND else LIVE_FRAGMENTS
    return HlsSessionSpec(
        mode=request.mode,
        selector=selector,
        start_ms=start,
        end_ms=end,
        container=request.container,
        discontinuity=request.discontinuity or default_discontinuity,
        display_timestamp=request.display_timestamp is DisplayFragmentTimestamp.ALWAYS,
        expires_s=request.expires_s,
        max_results=request.max_results or default_max,
    )
