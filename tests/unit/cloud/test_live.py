"""HLS session URLs as botocore checks the requests (Stubber), when they expire, and their
errors read into the product's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import Stubber

from cloud.clients import AwsClients
from cloud.errors import InvalidInputError, RetryableError
from cloud.live import NO_LIVE_VIDEO, PlaybackUnavailableError, live_url, on_demand_url
from tests.support.kvs_stubs import DATA_ENDPOINT

STREAM = "front-door"
URL = f"{DATA_ENDPOINT}/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken=CiAbc"
NOW = datetime(2026, 12, 7, 18, 10, tzinfo=UTC)
START = datetime(2026, 12, 7, 18, 4, 1, tzinfo=UTC)
END = START + timedelta(seconds=30)


def clock() -> datetime:
    return NOW


def expect_endpoint(kvs: Stubber) -> None:
    kvs.add_response(
        "get_data_endpoint",
        {"DataEndpoint": DATA_ENDPOINT},
        {"StreamName": STREAM, "APIName": "GET_HLS_STREAMING_SESSION_URL"},
    )


def live_request(expires: int) -> dict[str, object]:
    return {
        "StreamName": STREAM,
        "PlaybackMode": "LIVE",
        "HLSFragmentSelector": {"FragmentSelectorType": "PRODUCER_TIMESTAMP"},
        "ContainerFormat": "FRAGMENTED_MP4",
        "Expires": expires,
    }


def on_demand_request(expires: int) -> dict[str, object]:
    return {
        "StreamName": STREAM,
        "PlaybackMode": "ON_DEMAND",
        "HLSFragmentSelector": {
            "FragmentSelectorType": "PRODUCER_TIMESTAMP",
            "TimestampRange": {"StartTimestamp": START, "EndTimestamp": END},
        },
        "ContainerFormat": "FRAGMENTED_MP4",
        "Expires": expires,
    }


def test_a_live_url_expires_when_its_session_does(
    clients: AwsClients, media_stubs: tuple[Stubber, Stubber]
) -> None:
    kvs, media = media_stubs
    expect_endpoint(kvs)
    media.add_response(
        "get_hls_streaming_session_url", {"HLSStreamingSessionURL": URL}, live_request(300)
    )
    media.add_response(
        "get_hls_streaming_session_url", {"HLSStreamingSessionURL": URL}, live_request(43_200)
    )

    link = live_url(clients, STREAM, 300, clock=clock)
    assert (link.url, link.expires_at) == (URL, NOW + timedelta(seconds=300))
    longest = live_url(clients, STREAM, 43_200, clock=clock)  # the endpoint is asked once
    assert longest.expires_at == NOW + timedelta(hours=12)


def test_an_on_demand_url_covers_the_range_asked_for(
    clients: AwsClients, media_stubs: tuple[Stubber, Stubber]
) -> None:
    kvs, media = media_stubs
    expect_endpoint(kvs)
    media.add_response(
        "get_hls_streaming_session_url", {"HLSStreamingSessionURL": URL}, on_demand_request(3600)
    )
    link = on_demand_url(clients, STREAM, START, END, 3600, clock=clock)
    assert (link.url, link.expires_at) == (URL, NOW + timedelta(hours=1))


@pytest.mark.parametrize("expires", [0, 299, 43_201])
def test_a_lifetime_outside_300_to_43200_is_refused_before_any_call(
    clients: AwsClients, media_stubs: tuple[Stubber, Stubber], expires: int
) -> None:
    with pytest.raises(InvalidInputError, match=f"300 to 43200 s, not {expires}"):
        live_url(clients, STREAM, expires)
    with pytest.raises(InvalidInputError, match=f"300 to 43200 s, not {expires}"):
        on_demand_url(clients, STREAM, START, END, expires)


@pytest.mark.parametrize(
    ("start", "end", "problem"),
    [
        (START.replace(tzinfo=None), END, "has no timezone"),
        (START, START - timedelta(seconds=1), "is not after the start"),
        (START, START + timedelta(days=2), "longer than 24 hours"),
    ],
)
def test_an_on_demand_range_hls_cannot_take_is_refused_before_any_call(
    clients: AwsClients,
    media_stubs: tuple[Stubber, Stubber],
    start: datetime,
    end: datetime,
    problem: str,
) -> None:
    with pytest.raises(InvalidInputError, match=problem):
        on_demand_url(clients, STREAM, start, end, 3600)


def test_live_without_recent_video_says_the_camera_is_not_streaming(
    clients: AwsClients, media_stubs: tuple[Stubber, Stubber]
) -> None:
    kvs, media = media_stubs
    expect_endpoint(kvs)
    media.add_client_error(
        "get_hls_streaming_session_url",
        "ResourceNotFoundException",
        "No fragments found in the stream for the streaming request.",
        http_status_code=404,
    )
    with pytest.raises(PlaybackUnavailableError) as raised:
        live_url(clients, STREAM, 300)
    assert (raised.value.reason, raised.value.permanent) == (NO_LIVE_VIDEO, True)


def test_on_demand_without_video_in_the_range_names_the_range(
    clients: AwsClients, media_stubs: tuple[Stubber, Stubber]
) -> None:
    kvs, media = media_stubs
    expect_endpoint(kvs)
    media.add_client_error(
        "get_hls_streaming_session_url", "ResourceNotFoundException", "none", http_status_code=404
    )
    with pytest.raises(PlaybackUnavailableError) as raised:
        on_demand_url(clients, STREAM, START, END, 3600)
    assert raised.value.reason == "no video between 18:04:01 UTC and 18:04:31 UTC"


def test_a_stream_that_keeps_no_video_is_permanent(
    clients: AwsClients, media_stubs: tuple[Stubber, Stubber]
) -> None:
    kvs, media = media_stubs
    expect_endpoint(kvs)
    media.add_client_error(
        "get_hls_streaming_session_url", "NoDataRetentionException", "0 h", http_status_code=400
    )
    with pytest.raises(PlaybackUnavailableError) as raised:
        live_url(clients, STREAM, 300)
    assert raised.value.permanent
    assert "retention 0" in raised.value.reason


def test_throttling_is_retryable(clients: AwsClients, media_stubs: tuple[Stubber, Stubber]) -> None:
    kvs, media = media_stubs
    expect_endpoint(kvs)
    media.add_client_error(
        "get_hls_streaming_session_url",
        "ClientLimitExceededException",
        "slow down",
        http_status_code=400,
    )
    with pytest.raises(RetryableError):
        live_url(clients, STREAM, 300)
