"""GetClip as botocore checks it (Stubber: the request must have the real API's shape), its
data endpoint asked once per stream, and its errors read into the product's."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone

import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from cloud.clients import AwsClients
from cloud.clips import TOO_LARGE, ClipUnavailableError, get_clip
from cloud.errors import AccessDeniedError, InvalidInputError, NotFoundError, RetryableError
from tests.support.kvs_stubs import DATA_ENDPOINT

STREAM = "front-door"
START = datetime(2026, 12, 7, 18, 4, 1, tzinfo=UTC)
END = START + timedelta(seconds=30)
MP4 = b"\x00\x00\x00\x20ftypisom" + b"\x00" * 64


def expect_endpoint(kvs: Stubber) -> None:
    kvs.add_response(
        "get_data_endpoint",
        {"DataEndpoint": DATA_ENDPOINT},
        {"StreamName": STREAM, "APIName": "GET_CLIP"},
    )


def clip_request(start: datetime = START, end: datetime = END) -> dict[str, object]:
    return {
        "StreamName": STREAM,
        "ClipFragmentSelector": {
            "FragmentSelectorType": "PRODUCER_TIMESTAMP",
            "TimestampRange": {"StartTimestamp": start, "EndTimestamp": end},
        },
    }


def clip_answer(data: bytes) -> dict[str, object]:
    return {"ContentType": "video/mp4", "Payload": StreamingBody(io.BytesIO(data), len(data))}


def test_a_clip_is_read_whole_and_the_endpoint_asked_once(
    clients: AwsClients, media_stubs: tuple[Stubber, Stubber]
) -> None:
    kvs, media = media_stubs
    expect_endpoint(kvs)
    media.add_response("get_clip", clip_answer(MP4), clip_request())
    later = START + timedelta(minutes=5)
    media.add_response("get_clip", clip_answer(MP4 * 2), clip_request(later, later + timedelta(1)))

    assert get_clip(clients, STREAM, START, END) == MP4
    assert get_clip(clients, STREAM, later, later + timedelta(1)) == MP4 * 2


def test_a_range_with_an_offset_is_sent_as_the_same_moment(
    clients: AwsClients, media_stubs: tuple[Stubber, Stubber]
) -> None:
    kvs, media = media_stubs
    expect_endpoint(kvs)
    media.add_response("get_clip", clip_answer(MP4), clip_request())
    paris = timezone(timedelta(hours=1))

    assert get_clip(clients, STREAM, START.astimezone(paris), END.astimezone(paris)) == MP4


@pytest.mark.parametrize(
    ("start", "end", "problem"),
    [
        (START.replace(tzinfo=None), END, "has no timezone"),
        (START, END.replace(tzinfo=None), "has no timezone"),
        (START, START, "is not after the start"),
        (END, START, "is not after the start"),
        (START, START + timedelta(hours=24, seconds=1), "longer than 24 hours"),
    ],
)
def test_a_range_getclip_cannot_take_is_refused_before_any_call(
    clients: AwsClients,
    media_stubs: tuple[Stubber, Stubber],
    start: datetime,
    end: datetime,
    problem: str,
) -> None:
    with pytest.raises(InvalidInputError, match=problem):
        get_clip(clients, STREAM, start, end)


def test_24_hours_is_the_longest_range(
    clients: AwsClients, media_stubs: tuple[Stubber, Stubber]
) -> None:
    kvs, media = media_stubs
    expect_endpoint(kvs)
    end = START + timedelta(hours=24)
    media.add_response("get_clip", clip_answer(MP4), clip_request(START, end))
    assert get_clip(clients, STREAM, START, end) == MP4


@pytest.mark.parametrize(
    ("code", "message", "reason"),
    [
        (
            "ResourceNotFoundException",
            "No fragments found in the requested time range.",
            "no video between 18:04:01 UTC and 18:04:31 UTC",
        ),
        ("NoDataRetentionException", "Stream has no retention", "the stream keeps no video"),
        (
            "InvalidArgumentException",
            "The requested clip exceeds the limit of 200 fragments.",
            TOO_LARGE,
        ),
        (
            "InvalidArgumentException",
            "StartTimestamp must be before EndTimestamp.",
            "GetClip refused the range: StartTimestamp must be before EndTimestamp.",
        ),
        ("UnsupportedStreamMediaTypeException", "codec V_MJPEG", "not H.264/H.265"),
        ("MissingCodecPrivateDataException", "no CPD", "no codec private data"),
        ("InvalidCodecPrivateDataException", "bad CPD", "codec private data that cannot be used"),
        ("InvalidMediaFrameException", "bad frame", "frames that cannot be parsed"),
    ],
)
def test_what_no_retry_changes_is_a_permanent_clip_error_with_its_reason(
    clients: AwsClients,
    media_stubs: tuple[Stubber, Stubber],
    code: str,
    message: str,
    reason: str,
) -> None:
    kvs, media = media_stubs
    expect_endpoint(kvs)
    media.add_client_error("get_clip", code, message, http_status_code=400)
    with pytest.raises(ClipUnavailableError) as raised:
        get_clip(clients, STREAM, START, END)
    assert raised.value.permanent
    assert reason in raised.value.reason
    assert str(raised.value).startswith("clip of front-door from 18:04:01 UTC to 18:04:31 UTC: ")


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ClientLimitExceededException", 400),
        ("InternalFailure", 500),
        ("SomethingNew", 503),
    ],
)
def test_throttling_and_service_faults_are_retryable(
    clients: AwsClients, media_stubs: tuple[Stubber, Stubber], code: str, status: int
) -> None:
    kvs, media = media_stubs
    expect_endpoint(kvs)
    media.add_client_error("get_clip", code, "try later", http_status_code=status)
    with pytest.raises(RetryableError, match=code):
        get_clip(clients, STREAM, START, END)


def test_a_caller_without_permission_is_denied(
    clients: AwsClients, media_stubs: tuple[Stubber, Stubber]
) -> None:
    kvs, media = media_stubs
    expect_endpoint(kvs)
    media.add_client_error("get_clip", "NotAuthorizedException", "no", http_status_code=401)
    with pytest.raises(AccessDeniedError):
        get_clip(clients, STREAM, START, END)


def test_an_empty_answer_is_no_video(
    clients: AwsClients, media_stubs: tuple[Stubber, Stubber]
) -> None:
    kvs, media = media_stubs
    expect_endpoint(kvs)
    media.add_response("get_clip", clip_answer(b""), clip_request())
    with pytest.raises(ClipUnavailableError, match="no video between") as raised:
        get_clip(clients, STREAM, START, END)
    assert raised.value.permanent


def test_a_stream_that_does_not_exist_is_not_found(
    clients: AwsClients, media_stubs: tuple[Stubber, Stubber]
) -> None:
    kvs, _ = media_stubs
    kvs.add_client_error(
        "get_data_endpoint", "ResourceNotFoundException", "Stream not found", http_status_code=404
    )
    with pytest.raises(NotFoundError, match="GET_CLIP data endpoint of KVS stream front-door"):
        get_clip(clients, STREAM, START, END)
