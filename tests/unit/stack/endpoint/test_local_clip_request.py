"""GetClip requests checked as KVS checks them, and which fragments a clip holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stack.endpoint.archived_media.clip import MAX_BYTES, MAX_FRAGMENTS, clip_fragments
from stack.endpoint.archived_media.clip_request import parse_get_clip
from stack.endpoint.archived_media.selectors import FragmentSelectorType
from stack.endpoint.archived_media.store import StoredFragment
from stack.endpoint.exceptions import InvalidArgumentException

NOW_MS = 1_800_000_000_000
HOUR_S = 3600


def request(
    start_s: float, end_s: float, kind: str = "PRODUCER_TIMESTAMP", **more: Any
) -> dict[str, Any]:
    return {
        "StreamName": "cam",
        "ClipFragmentSelector": {
            "FragmentSelectorType": kind,
            "TimestampRange": {"StartTimestamp": start_s, "EndTimestamp": end_s},
        },
        **more,
    }


def test_timestamps_arrive_in_seconds_and_are_kept_in_ms() -> None:
    parsed = parse_get_clip(request(1_700_000_000.5, 1_700_000_010.25), NOW_MS)
    assert parsed.fragments.range.start_ms == 1_700_000_000_500
    assert parsed.fragments.range.end_ms == 1_700_000_010_250
    assert parsed.stream == {"StreamName": "cam"}


@pytest.mark.parametrize(
    "body",
    [
        request(10, 10),
        request(10, 9),
        request(0, 24 * HOUR_S + 1),
        request(NOW_MS / 1000 - 10, NOW_MS / 1000 + 10, "SERVER_TIMESTAMP"),
        request(0, 10, "ARRIVAL_TIMESTAMP"),
        {"ClipFragmentSelector": request(0, 10)["ClipFragmentSelector"]},
        request(0, 10, Extra=1),
    ],
)
def test_refused(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentException):
        parse_get_clip(body, NOW_MS)


def test_a_full_day_is_allowed() -> None:
    parse_get_clip(request(0, 24 * HOUR_S), NOW_MS)


def fragment(start_ms: int, size: int = 1000, received_ms: int | None = None) -> StoredFragment:
    received = start_ms + 2000 if received_ms is None else received_ms
    return StoredFragment(Path(f"{start_ms}.mkv"), start_ms, 2000, received, size)


def test_only_fragments_starting_in_the_inclusive_range() -> None:
    fragments = [fragment(t) for t in (0, 2000, 4000, 6000)]
    chosen = clip_fragments(fragments, FragmentSelectorType.PRODUCER_TIMESTAMP, 1000, 4000)
    assert [f.producer_ms for f in chosen] == [2000, 4000]


def test_server_timestamps_select_by_arrival() -> None:
    late = fragment(0, received_ms=60_000)  # its video arrived a minute later
    chosen = clip_fragments([late], FragmentSelectorType.SERVER_TIMESTAMP, 57_000, 59_000)
    assert chosen == [late]
    assert clip_fragments([late], FragmentSelectorType.SERVER_TIMESTAMP, 0, 2000) == []


def test_a_clip_stops_at_200_fragments_or_100_mb() -> None:
    many = [fragment(2000 * i) for i in range(MAX_FRAGMENTS + 10)]
    chosen = clip_fragments(many, FragmentSelectorType.PRODUCER_TIMESTAMP, 0, 10**9)
    assert len(chosen) == MAX_FRAGMENTS
    big = [fragment(2000 * i, size=MAX_BYTES // 3) for i in range(5)]
    chosen = clip_fragments(big, FragmentSelectorType.PRODUCER_TIMESTAMP, 0, 10**9)
    assert len(chosen) == 3
