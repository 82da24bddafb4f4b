"""The local stream processor's SNS messages against the Rekognition developer guide.

The two documented formats below are copied from the guide ("Label detection operations for
streaming video events", section "Analyzing label detection results"); the guide writes types
where values go (`string`, `number`, `object`), here the values are of those types.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from stack.endpoint.rekognition import notifications
from stack.endpoint.rekognition.sessions import SessionContext

# {"Subject": "Rekognition Stream Processing Event", "Message": {...}}: LABEL_DETECTED
DOCUMENTED_LABEL_DETECTED: dict[str, Any] = {
    "Subject": "Rekognition Stream Processing Event",
    "Message": {
        "inputInformation": {"kinesisVideo": {"streamArn": "string"}},
        "eventNamespace": {"type": "LABEL_DETECTED"},
        "labels": [
            {
                "id": "string",
                "name": "PERSON",
                "frameImageUri": "string",
                "croppedImageUri": "string",
                "videoMapping": {
                    "kinesisVideoMapping": {
                        "fragmentNumber": "string",
                        "serverTimestamp": 0,
                        "producerTimestamp": 0,
                        "frameOffsetMillis": 0,
                    }
                },
                "boundingBox": {"left": 0.0, "top": 0.0, "height": 0.0, "width": 0.0},
            }
        ],
        "eventId": "string",
        "tags": {"string": "string"},
        "sessionId": "string",
        "startStreamProcessorRequest": {},
    },
}

# ... and STREAM_PROCESSING_COMPLETE, the end-of-session summary.
DOCUMENTED_COMPLETE: dict[str, Any] = {
    "Subject": "Rekognition Stream Processing Event",
    "Message": {
        "inputInformation": {
            "kinesisVideo": {"streamArn": "string", "processedVideoDurationMillis": 0}
        },
        "eventNamespace": {"type": "STREAM_PROCESSING_COMPLETE"},
        "streamProcessingResults": {"message": "string"},
        "eventId": "string",
        "tags": {"string": "string"},
        "sessionId": "string",
        "startStreamProcessorRequest": {},
    },
}

# Objects whose keys are the caller's, not the format's.
FREE_FORM = {"tags", "startStreamProcessorRequest"}
# The guide's prose: "Notifications include ... the type of label detected, the confidence".
UNLISTED_BUT_DOCUMENTED = {"confidence"}

STREAM_ARN = "arn:aws:kinesisvideo:eu-west-1:123456789012:stream/porch/1700000000000"


def context(**overrides: Any) -> SessionContext:
    values: dict[str, Any] = {
        "session_id": "0f3a2b9c-6d1e-4f5a-8b7c-9d0e1f2a3b4c",
        "processor_name": "camfleet-porch",
        "processor_arn": "arn:aws:rekognition:eu-west-1:123456789012:streamprocessor/camfleet-porch",
        "account_id": "123456789012",
        "region": "eu-west-1",
        "kvs_stream_arn": STREAM_ARN,
        "producer_timestamp_ms": 1_700_000_123_456,
        "fragment_number": None,
        "max_duration_seconds": 10,
        "started_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "output": {"S3Destination": {"Bucket": "camfleet-results", "KeyPrefix": "cameras/porch"}},
        "notification_channel": {"SNSTopicArn": "arn:aws:sns:eu-west-1:123456789012:camfleet"},
        "tags": {"fleet": "camfleet", "camera": "porch"},
    }
    values.update(overrides)
    return SessionContext(**values)


def notice() -> notifications.LabelNotice:
    return notifications.LabelNotice(
        label_id="5b1c0f2e-0000-4000-8000-000000000001",
        name="PERSON",
        confidence=87.5,
        box=notifications.Box(left=0.25, top=0.1, width=0.3, height=0.6),
        frame=notifications.FrameRef(
            fragment_number="1700000122000",
            server_timestamp_ms=1_700_000_124_100,
            producer_timestamp_ms=1_700_000_122_000,
            frame_offset_ms=1533,
        ),
        frame_image_uri="s3://camfleet-results/cameras/porch/camfleet-porch/s/PERSON-x/frame.jpg",
        cropped_image_uri="s3://camfleet-results/cameras/porch/camfleet-porch/s/PERSON-x/cropped.jpg",
    )


def assert_same_shape(ours: Any, documented: Any, path: str = "") -> None:
    """Same keys at every level (but free-form objects), and values of the documented types."""
    if isinstance(documented, dict):
        assert isinstance(ours, dict), f"{path}: {ours!r} is not an object"
        if path.rsplit(".", 1)[-1] in FREE_FORM:
            return
        extra = set(ours) - set(documented) - UNLISTED_BUT_DOCUMENTED
        assert set(documented) <= set(ours), f"{path}: missing {set(documented) - set(ours)}"
        assert not extra, f"{path}: undocumented {extra}"
        for key, value in documented.items():
            assert_same_shape(ours[key], value, f"{path}.{key}")
    elif isinstance(documented, list):
        assert isinstance(ours, list) and ours, f"{path}: not a non-empty list"
        for item in ours:
            assert_same_shape(item, documented[0], f"{path}[]")
    elif isinstance(documented, str):
        assert isinstance(ours, str), f"{path}: {ours!r} is not a string"
    else:
        assert isinstance(ours, int | float) and not isinstance(ours, bool), f"{path}: {ours!r}"


def test_label_detected_has_the_documented_shape() -> None:
    message = notifications.label_detected(context(), "e-1", notice())
    sent = json.loads(json.dumps(notifications.notification(message)))  # as it goes over SNS
    assert_same_shape(sent, DOCUMENTED_LABEL_DETECTED)
    assert sent["Message"]["eventNamespace"] == {"type": "LABEL_DETECTED"}


def test_label_detected_carries_the_detection() -> None:
    message = notifications.label_detected(context(), "e-1", notice())
    label = message["labels"][0]
    assert label["name"] == "PERSON"
    assert label["confidence"] == 87.5
    assert label["boundingBox"] == {"left": 0.25, "top": 0.1, "height": 0.6, "width": 0.3}
    assert label["videoMapping"]["kinesisVideoMapping"] == {
        "fragmentNumber": "1700000122000",
        "serverTimestamp": 1_700_000_124_100,
        "producerTimestamp": 1_700_000_122_000,
        "frameOffsetMillis": 1533,
    }
    assert message["inputInformation"]["kinesisVideo"]["streamArn"] == STREAM_ARN
    assert message["eventId"] == "e-1"
    assert message["tags"] == {"fleet": "camfleet", "camera": "porch"}


def test_stream_processing_complete_has_the_documented_shape() -> None:
    message = notifications.processing_complete(context(), "e-2", 9_933, "Processed 9933 ms.")
    sent = json.loads(json.dumps(notifications.notification(message)))
    assert_same_shape(sent, DOCUMENTED_COMPLETE)
    assert sent["Message"]["inputInformation"]["kinesisVideo"] == {
        "streamArn": STREAM_ARN,
        "processedVideoDurationMillis": 9_933,
    }
    assert sent["Message"]["streamProcessingResults"] == {"message": "Processed 9933 ms."}


def test_the_processor_name_is_in_the_start_request() -> None:
    message = notifications.processing_complete(context(), "e-3", 0, "")
    assert message["startStreamProcessorRequest"] == {
        "name": "camfleet-porch",
        "startSelector": {"kvsStreamStartSelector": {"producerTimestamp": 1_700_000_123_456}},
        "stopSelector": {"maxDurationInSeconds": 10},
    }
    assert "streamProcessorArn" not in message


def test_a_start_by_fragment_number_is_repeated_as_such() -> None:
    started = context(producer_timestamp_ms=None, fragment_number="1700000122000")
    selector = notifications.start_request(started)["startSelector"]["kvsStreamStartSelector"]
    assert selector == {"fragmentNumber": "1700000122000"}


def test_a_message_that_drifts_from_the_guide_is_caught() -> None:
    message = notifications.label_detected(context(), "e-1", notice())
    del message["labels"][0]["croppedImageUri"]
    with pytest.raises(AssertionError, match="missing"):
        assert_same_shape(message, DOCUMENTED_LABEL_DETECTED["Message"])


@pytest.mark.parametrize(
    ("key_prefix", "expected"),
    [
        ("cameras/porch", "cameras/porch/camfleet-porch/sess"),
        ("cameras/porch/", "cameras/porch/camfleet-porch/sess"),
        ("", "camfleet-porch/sess"),
        (None, "camfleet-porch/sess"),
    ],
)
def test_frames_go_under_prefix_processor_and_session(
    key_prefix: str | None, expected: str
) -> None:
    destination: dict[str, Any] = {"Bucket": "b"}
    if key_prefix is not None:
        destination["KeyPrefix"] = key_prefix
    session = context(session_id="sess", output={"S3Destination": destination})
    assert notifications.session_prefix(session) == expected
    frame, crop = notifications.image_keys(session, "PERSON", "id-1")
    assert frame == f"{expected}/PERSON-id-1/frame.jpg"
    assert crop == f"{expected}/PERSON-id-1/cropped.jpg"
    assert notifications.s3_uri("b", frame) == f"s3://b/{frame}"
