"""What GetClip and GetHLSStreamingSessionURL share: the fragment selector and its range rules.

A range is refused (``InvalidArgumentException``) when its end is not later than its start, when
it spans more than 24 hours, or, for server timestamps, when its end is in the future (the API
reference of ``ClipTimestampRange`` and ``HLSTimestampRange``). Timestamps arrive as epoch seconds
(rest-json) and are kept in milliseconds.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from stack.endpoint.exceptions import InvalidArgumentException

MAX_RANGE_MS = 24 * 3_600_000


class FragmentSelectorType(StrEnum):
    PRODUCER_TIMESTAMP = "PRODUCER_TIMESTAMP"
    SERVER_TIMESTAMP = "SERVER_TIMESTAMP"


def seconds_to_ms(value: Any) -> Any:
    """An epoch-seconds number as milliseconds; anything else as it is, for pydantic to judge."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return round(value * 1000)
    return value


def check_range(selector: FragmentSelectorType, start_ms: int, end_ms: int, now_ms: int) -> None:
    if end_ms <= start_ms:
        raise InvalidArgumentException("EndTimestamp must be later than StartTimestamp.")
    if end_ms - start_ms > MAX_RANGE_MS:
        raise InvalidArgumentException(
            "EndTimestamp must be within 24 hours of the specified StartTimestamp."
        )
    if selector is FragmentSelectorType.SERVER_TIMESTAMP and end_ms > now_ms:
        raise InvalidArgumentException(
            "EndTimestamp must be in the past when FragmentSelectorType is SERVER_TIMESTAMP."
        )


def invalid(err: ValidationError) -> InvalidArgumentException:
    """The first problem pydantic found, as KVS's invalid-input error."""
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "request"
    return InvalidArgumentException(f"{where}: {first['msg']}")
