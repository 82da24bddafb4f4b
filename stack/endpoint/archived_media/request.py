"""A GetImages request, checked as Kinesis Video Streams checks it.

botocore checks types, required members and the documented minimums and maximums on the
client; the service also refuses (``InvalidArgumentException``, a message naming the rule): a
request naming no stream; an ``EndTimestamp`` before the ``StartTimestamp`` or more than 300 s
after it; a ``SamplingInterval`` outside 200 to 20000 ms, or none (unverified: the model makes
it optional but documents no default); a ``FormatConfig`` other than ``JPEGQuality`` 1 to 100;
a selector or format outside their enums (botocore does not check enums).

Timestamps arrive as epoch seconds (rest-json) and are kept in milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from stack.endpoint.exceptions import InvalidArgumentException

MAX_RANGE_MS = 300_000
MIN_SAMPLING_MS = 200
MAX_SAMPLING_MS = 20_000
DEFAULT_JPEG_QUALITY = 80
JPEG_QUALITY_KEY = "JPEGQuality"


class ImageSelector(StrEnum):
    PRODUCER_TIMESTAMP = "PRODUCER_TIMESTAMP"
    SERVER_TIMESTAMP = "SERVER_TIMESTAMP"


class ImageFormat(StrEnum):
    JPEG = "JPEG"
    PNG = "PNG"


class GetImagesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stream_name: str | None = Field(None, alias="StreamName", min_length=1, max_length=256)
    stream_arn: str | None = Field(None, alias="StreamARN", min_length=1, max_length=1024)
    selector: ImageSelector = Field(alias="ImageSelectorType")
    start_ms: int = Field(alias="StartTimestamp")
    end_ms: int = Field(alias="EndTimestamp")
    sampling_ms: int | None = Field(None, alias="SamplingInterval")
    format: ImageFormat = Field(alias="Format")
    format_config: dict[str, str] | None = Field(None, alias="FormatConfig")
    width: int | None = Field(None, alias="WidthPixels", ge=1, le=3840)
    height: int | None = Field(None, alias="HeightPixels", ge=1, le=2160)
    max_results: int | None = Field(None, alias="MaxResults", ge=1, le=100)
    next_token: str | None = Field(None, alias="NextToken", min_length=1, max_length=4096)

    @field_validator("start_ms", "end_ms", mode="before")
    @classmethod
    def _seconds_to_ms(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return round(value * 1000)
        return value

    @property
    def jpeg_quality(self) -> int:
        return int((self.format_config or {}).get(JPEG_QUALITY_KEY, DEFAULT_JPEG_QUALITY))

    @property
    def stream(self) -> dict[str, str]:
        """The stream as the request names it."""
        named = {"StreamName": self.stream_name, "StreamARN": self.stream_arn}
        return {key: value for key, value in named.items() if value}


def parse_get_images(body: Mapping[str, Any]) -> GetImagesRequest:
    try:
        request = GetImagesRequest.model_validate(dict(body))
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "request"
        raise InvalidArgumentException(f"{where}: {first['msg']}") from err
    _check_rules(request)
    return request


def _check_rules(request: GetImagesRequest) -> None:
    if not request.stream:
        raise InvalidArgumentException("Either StreamName or StreamARN must be specified.")
    if request.end_ms < request.start_ms:
        raise InvalidArgumentException("EndTimestamp must not be before StartTimestamp.")
    if request.end_ms - request.start_ms > MAX_RANGE_MS:
        raise InvalidArgumentException(
            "The range between StartTimestamp and EndTimestamp must not exceed 300 seconds."
        )
    sampling = request.sampling_ms
    if sampling is None or not MIN_SAMPLING_MS <= sampling <= MAX_SAMPLING_MS:
        raise InvalidArgumentException(
            f"SamplingInterval must be between {MIN_SAMPLING_MS} and {MAX_SAMPLING_MS} "
            "milliseconds."
        )
    config = request.format_config
    if config is not None:
        quality = config.get(JPEG_QUALITY_KEY, "")
        if (
            set(config) != {JPEG_QUALITY_KEY}
            or not quality.isdigit()
            or not 1 <= int(quality) <= 100
        ):
            raise InvalidArgumentException(
                "FormatConfig takes one key, JPEGQuality, with an integer from 1 to 100."
            )
