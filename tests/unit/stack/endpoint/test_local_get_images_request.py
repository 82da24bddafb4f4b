"""GetImages requests: the service-side rules, the sampled times and their pages (pure)."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest

from stack.endpoint.archived_media.images import output_size
from stack.endpoint.archived_media.request import (
    GetImagesRequest,
    ImageFormat,
    ImageSelector,
    parse_get_images,
)
from stack.endpoint.archived_media.sampling import (
    MAX_PAGE,
    encode_token,
    page_of,
    sample_times,
    window_key,
)
from stack.endpoint.archived_media.timeline import FragmentSpan, producer_times
from stack.endpoint.exceptions import InvalidArgumentException

START = 1_700_000_000.0  # epoch seconds, as rest-json carries timestamps


def request(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "StreamName": "cam-1",
        "ImageSelectorType": "PRODUCER_TIMESTAMP",
        "StartTimestamp": START,
        "EndTimestamp": START + 10,
        "SamplingInterval": 1000,
        "Format": "JPEG",
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def test_a_valid_request_is_read_in_milliseconds() -> None:
    parsed = parse_get_images(
        request(StartTimestamp=START + 0.25, FormatConfig={"JPEGQuality": "55"}, WidthPixels=320)
    )
    assert parsed.start_ms == 1_700_000_000_250
    assert parsed.end_ms == 1_700_000_010_000
    assert parsed.selector is ImageSelector.PRODUCER_TIMESTAMP
    assert parsed.format is ImageFormat.JPEG
    assert parsed.jpeg_quality == 55
    assert parsed.stream == {"StreamName": "cam-1"}


def test_jpeg_quality_defaults_to_80() -> None:
    assert parse_get_images(request()).jpeg_quality == 80


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"StreamName": None}, "StreamName or StreamARN"),
        ({"EndTimestamp": START - 1}, "before StartTimestamp"),
        ({"EndTimestamp": START + 300.001}, "300 seconds"),
        ({"SamplingInterval": 199}, "SamplingInterval"),
        ({"SamplingInterval": 20_001}, "SamplingInterval"),
        ({"SamplingInterval": None}, "SamplingInterval"),
        ({"FormatConfig": {"JPEGQuality": "0"}}, "JPEGQuality"),
        ({"FormatConfig": {"JPEGQuality": "101"}}, "JPEGQuality"),
        ({"FormatConfig": {"JPEGQuality": "high"}}, "JPEGQuality"),
        ({"FormatConfig": {"Quality": "50"}}, "JPEGQuality"),
        ({"Format": "GIF"}, "Format"),
        ({"ImageSelectorType": "ARRIVAL"}, "ImageSelectorType"),
        ({"MaxResults": 101}, "MaxResults"),
        ({"WidthPixels": 3841}, "WidthPixels"),
        ({"HeightPixels": 2161}, "HeightPixels"),
    ],
)
def test_requests_the_service_refuses(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidArgumentException) as excinfo:
        parse_get_images(request(**overrides))
    assert fragment in excinfo.value.message


def test_the_limits_themselves_are_allowed() -> None:
    parsed = parse_get_images(
        request(EndTimestamp=START + 300, SamplingInterval=200, MaxResults=100)
    )
    assert parsed.end_ms - parsed.start_ms == 300_000
    assert parse_get_images(request(SamplingInterval=20_000)).sampling_ms == 20_000


@pytest.mark.parametrize(
    ("start", "end", "interval", "expected"),
    [
        (0, 1000, 500, [0, 500, 1000]),  # both ends included
        (0, 999, 500, [0, 500]),
        (0, 100, 500, [0]),  # shorter than the interval: the image at the start
        (0, 0, 200, [0]),
    ],
)
def test_sample_times(start: int, end: int, interval: int, expected: list[int]) -> None:
    assert sample_times(start, end, interval) == expected


def test_pages_hold_25_images_and_the_token_walks_the_window() -> None:
    times = sample_times(0, 300_000, 200)
    assert len(times) == 1501
    key = window_key("arn", "PRODUCER_TIMESTAMP", 0, 300_000, 200)
    seen: list[int] = []
    token = None
    pages = 0
    while True:
        page = page_of(times, 100, token, key)
        assert len(page.times) <= MAX_PAGE
        seen.extend(page.times)
        pages += 1
        token = page.next_token
        if token is None:
            break
    assert seen == times
    assert pages == 61


def test_max_results_below_25_makes_smaller_pages() -> None:
    times = sample_times(0, 10_000, 1000)
    key = window_key("w")
    first = page_of(times, 4, None, key)
    assert first.times == [0, 1000, 2000, 3000]
    assert page_of(times, 4, first.next_token, key).times == [4000, 5000, 6000, 7000]


def test_a_token_of_another_window_or_garbage_is_refused() -> None:
    times = sample_times(0, 10_000, 1000)
    token = page_of(times, 2, None, window_key("one")).next_token
    assert token is not None
    with pytest.raises(InvalidArgumentException):
        page_of(times, 2, token, window_key("other"))
    with pytest.raises(InvalidArgumentException):
        page_of(times, 2, "bm90IGpzb24=", window_key("one"))
    with pytest.raises(InvalidArgumentException):
        page_of(times, 2, encode_token(-1, window_key("one")), window_key("one"))


@pytest.mark.parametrize(
    ("want", "expected"),
    [
        ((None, None), (640, 480)),
        ((320, None), (320, 240)),  # width alone keeps the aspect ratio
        ((None, 120), (160, 120)),  # so does height alone
        ((100, 100), (100, 100)),  # both stretch
    ],
)
def test_output_size(want: tuple[int | None, int | None], expected: tuple[int, int]) -> None:
    assert output_size(640, 480, *want) == expected


def test_server_times_map_onto_the_fragment_received_then() -> None:
    # Fragments of 2 s each, every one finished arriving 300 ms after its video ended; then a
    # fragment that arrived late (a camera that caught up after a network outage).
    spans = [
        FragmentSpan(10_000, 12_000, 12_300),
        FragmentSpan(12_000, 14_000, 14_300),
        FragmentSpan(20_000, 22_000, 25_000),
    ]
    mapped = producer_times(spans, [10_300, 12_299, 12_300, 14_299, 14_300, 23_000, 24_999])
    assert mapped == {
        10_300: 10_000,
        12_299: 11_999,
        12_300: 12_000,
        14_299: 13_999,
        23_000: 20_000,
        24_999: 21_999,
    }


def test_the_request_model_has_every_member_of_the_api_model() -> None:
    model = botocore.session.get_session().get_service_model("kinesis-video-archived-media")
    shape = model.operation_model("GetImages").input_shape
    assert shape is not None
    members = set(shape.members)
    assert {f.alias for f in GetImagesRequest.model_fields.values()} == members
