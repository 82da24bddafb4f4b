"""A GetClip request, checked as Kinesis Video Streams checks it.

botocore checks types, required members and lengths on the client; the service also refuses
(``InvalidArgumentException``): a request naming no stream, a selector type outside its enum,
and a range ``selectors.check_range`` refuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from stack.endpoint.archived_media.selectors import (
    FragmentSelectorType,
    check_range,
    invalid,
    seconds_to_ms,
)
from stack.endpoint.exceptions import InvalidArgumentException


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClipTimestampRange(_Model):
    start_ms: int = Field(alias="StartTimestamp")
    end_ms: int = Field(alias="EndTimestamp")

    @field_validator("start_ms", "end_ms", mode="before")
    @classmethod
    def _ms(cls, value: Any) -> Any:
        return seconds_to_ms(value)


class ClipFragmentSelector(_Model):
    selector: FragmentSelectorType = Field(alias="FragmentSelectorType")
    range: ClipTimestampRange = Field(alias="TimestampRange")


class GetClipRequest(_Model):
    stream_name: str | None = Field(None, alias="StreamName", min_length=1, max_length=256)
    stream_arn: str | None = Field(None, alias="StreamARN", min_length=1, max_length=1024)
    fragments: ClipFragmentSelector = Field(alias="ClipFragmentSelector")

    @property
    def stream(self) -> dict[str, str]:
        """The stream as the request names it."""
        named = {"StreamName": self.stream_name, "StreamARN": self.stream_arn}
        return {key: value for key, value in named.items() if value}


def parse_get_clip(body: Mapping[str, Any], now_ms: int) -> GetClipRequest:
    try:
        request = GetClipRequest.model_validate(dict(body))
    except ValidationError as err:
        raise invalid(err) from err
    if not request.stream:
        raise InvalidArgumentException("Either StreamName or StreamARN must be specified.")
    selector = request.fragments
    check_range(selector.selector, selector.range.start_ms, selector.range.end_ms, now_ms)
    return request
