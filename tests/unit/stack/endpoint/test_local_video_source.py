"""Which local fragments hold the video of a session's window (pure selection)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.endpoint.rekognition.video_runner import stream_name
from stack.endpoint.rekognition.video_source import (
    Fragment,
    covering,
    first_fragment,
    list_fragments,
    next_fragment,
    parse_fragment_name,
)

# A camera that recorded 2 s fragments from t=10 s to t=18 s, then was off until t=30 s.
STORE = [Fragment(10_000), Fragment(12_000), Fragment(14_000), Fragment(16_000), Fragment(30_000)]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("1700000000000.mkv", Fragment(1_700_000_000_000)),
        ("1700000000000.mkv.partial", Fragment(1_700_000_000_000, partial=True)),
        ("00001.mkv", Fragment(1)),
        ("notes.txt", None),
        ("abc.mkv", None),
        ("12.mkv.tmp", None),
        (".incoming", None),
    ],
)
def test_fragment_names(name: str, expected: Fragment | None) -> None:
    assert parse_fragment_name(name) == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (10_000, 20_000, [10_000, 12_000, 14_000, 16_000]),  # from the first fragment
        (12_500, 15_000, [12_000, 14_000]),  # starts inside a fragment: that one first
        (14_000, 16_000, [14_000]),  # a fragment that starts at the end is not in it
        (5_000, 11_000, [10_000]),  # starts before any video: the first one inside
        (0, 5_000, []),  # no video at all
        (19_000, 25_000, [16_000]),  # in a gap: the one before may still hold its start
        (29_000, 40_000, [16_000, 30_000]),
        (31_000, 35_000, [30_000]),
    ],
)
def test_fragments_covering_a_window(start: int, end: int, expected: list[int]) -> None:
    assert [f.start_ms for f in covering(STORE, start, end)] == expected


def test_reading_on_follows_the_store_as_it_grows() -> None:
    store = [Fragment(10_000), Fragment(12_000, partial=True)]
    first = first_fragment(store, 11_000, 21_000)
    assert first == Fragment(10_000)
    assert next_fragment(store, 10_000, 21_000) == Fragment(12_000, partial=True)
    assert next_fragment(store, 12_000, 21_000) is None  # not recorded yet: wait for it
    later = [*store, Fragment(14_000, partial=True)]
    assert next_fragment(later, 12_000, 21_000) == Fragment(14_000, partial=True)
    assert next_fragment([*later, Fragment(22_000)], 14_000, 21_000) is None  # past the end


def test_a_live_start_waits_for_its_first_fragment() -> None:
    assert first_fragment([], 50_000, 60_000) is None
    assert first_fragment([Fragment(52_000, partial=True)], 50_000, 60_000) == Fragment(
        52_000, partial=True
    )


def test_listing_prefers_a_finished_fragment_and_ignores_the_rest(tmp_path: Path) -> None:
    for name in ("2000.mkv", "2000.mkv.partial", "4000.mkv.partial", "0.mkv", "x.mkv", "a.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / ".incoming" / "3").mkdir(parents=True)  # the agent's splitmuxsink run dirs
    assert list_fragments(tmp_path) == [
        Fragment(0),
        Fragment(2000),
        Fragment(4000, partial=True),
    ]
    assert list_fragments(tmp_path / "no-such-camera") == []


def test_a_fragment_is_named_by_its_producer_timestamp(tmp_path: Path) -> None:
    assert Fragment(1234).path(tmp_path) == tmp_path / "1234.mkv"
    assert Fragment(1234, partial=True).path(tmp_path) == tmp_path / "1234.mkv.partial"
    assert Fragment(1234).number == "1234"


@pytest.mark.parametrize(
    ("arn", "name"),
    [
        ("arn:aws:kinesisvideo:eu-west-1:123456789012:stream/porch/1700000000000", "porch"),
        ("arn:aws:kinesisvideo:us-east-1:123456789012:stream/front-door", "front-door"),
    ],
)
def test_the_stream_name_is_the_camera(arn: str, name: str) -> None:
    assert stream_name(arn) == name


@pytest.mark.parametrize(
    "arn",
    ["arn:aws:s3:::bucket", "arn:aws:kinesisvideo:eu-west-1:123456789012:stream/../1700000000000"],
)
def test_a_stream_arn_is_required(arn: str) -> None:
    with pytest.raises(ValueError, match="not a Kinesis video stream ARN"):
        stream_name(arn)
