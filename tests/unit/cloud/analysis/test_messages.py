"""The frames analyzer's messages are a stream processor's: the results consumer's parser reads
them, and the S3 keys are the ones the local stream processor writes."""

from __future__ import annotations

import datetime as dt
import json
from datetime import UTC, datetime

from cloud.analysis import messages
from cloud.analysis.regions import Box
from cloud.naming import FleetNames
from cloud.rekognition_messages import (
    LabelDetectedEvent,
    StreamProcessingCompleteEvent,
    detection_records,
    parse_notification,
    session_end_record,
)
from services.results_consumer.decisions import EndSession, StoreDetections, triage
from stack.endpoint.rekognition import notifications as local
from stack.endpoint.rekognition.sessions import SessionContext

NAMES = FleetNames("camfleet", "123456789012", "us-east-1")
CAMERA = "front-door"
START_MS = 1_719_089_000_000
STREAM_ARN = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/front-door/1719000000000"
SESSION = messages.SessionRef(
    processor=NAMES.processor(CAMERA),
    session_id="7d0c7c3e-2f55-4c2e-9f55-0a3a1c1e9e10",
    stream_arn=STREAM_ARN,
    start_ms=START_MS,
    duration_s=30,
    tags={"camera-fleet:fleet": "camfleet", "camera-fleet:camera": CAMERA},
)
BUCKET = NAMES.results_bucket


PERSON_BOX = Box(left=0.4, top=0.2, width=0.2, height=0.6)


def detection(box: Box | None = PERSON_BOX) -> messages.Detection:
    frame_key, crop_key = messages.image_keys(
        NAMES.results_prefix(CAMERA), SESSION.processor, SESSION.session_id, "PERSON", "l-1"
    )
    return messages.Detection(
        label_id="l-1",
        name="PERSON",
        confidence=97.123456,
        box=box,
        producer_ms=START_MS + 4000,
        frame_uri=messages.s3_uri(BUCKET, frame_key),
        crop_uri=messages.s3_uri(BUCKET, crop_key) if box else None,
    )


def sns(message: dict[str, object]) -> str:
    """As SNS delivers it to the results queue (no raw delivery)."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "m-1",
            "TopicArn": NAMES.topic_arn(),
            "Subject": messages.SUBJECT,
            "Message": json.dumps(message),
            "Timestamp": "2024-06-22T20:43:45.000Z",
        }
    )


def test_label_detected_parses_into_the_detection_the_consumer_stores() -> None:
    body = sns(messages.label_detected(SESSION, "e-1", detection()))
    decision = triage(body, NAMES, datetime.now(UTC))
    assert isinstance(decision, StoreDetections) and decision.camera_id == CAMERA
    (record,) = decision.records
    assert record.label == "PERSON" and record.confidence == 97.123
    assert record.session_id == SESSION.session_id and record.processor == "camfleet-front-door"
    assert record.detected_at == datetime.fromtimestamp((START_MS + 4000) / 1000, tz=UTC)
    assert record.box == (0.4, 0.2, 0.2, 0.6)
    assert record.frame_uri.endswith("/PERSON-l-1/frame.jpg")
    assert record.crop_uri is not None and record.crop_uri.endswith("/PERSON-l-1/cropped.jpg")


def test_a_detection_without_a_box_has_neither_box_nor_crop() -> None:
    event = parse_notification(json.dumps(messages.label_detected(SESSION, "e", detection(None))))
    assert isinstance(event.event, LabelDetectedEvent)
    (record,) = detection_records(event.event, CAMERA, datetime.now(UTC))
    assert record.box is None and record.crop_uri is None


def test_the_completion_parses_with_the_video_analysed_and_its_message() -> None:
    text = f"No video in stream {CAMERA} from producer timestamp {START_MS} for 30 s."
    body = sns(messages.processing_complete(SESSION, "e-2", 0, text))
    decision = triage(body, NAMES, datetime.now(UTC))
    assert isinstance(decision, EndSession)
    assert decision.record.processed_ms == 0 and decision.record.message == text
    event = parse_notification(body).event
    assert isinstance(event, StreamProcessingCompleteEvent)
    record = session_end_record(event, CAMERA, datetime.now(UTC))
    assert record.session_id == SESSION.session_id


def test_the_messages_have_the_local_stream_processors_shape() -> None:
    context = SessionContext(
        session_id=SESSION.session_id,
        processor_name=SESSION.processor,
        processor_arn=NAMES.processor_arn(CAMERA),
        account_id="123456789012",
        region="us-east-1",
        kvs_stream_arn=STREAM_ARN,
        producer_timestamp_ms=START_MS,
        fragment_number=None,
        max_duration_seconds=30,
        started_at=dt.datetime.now(UTC),
        output={"S3Destination": {"Bucket": BUCKET, "KeyPrefix": NAMES.results_prefix(CAMERA)}},
        tags=SESSION.tags,
    )
    ours = messages.image_keys(
        NAMES.results_prefix(CAMERA), SESSION.processor, SESSION.session_id, "PERSON", "l-1"
    )
    assert ours == local.image_keys(context, "PERSON", "l-1")
    theirs = local.processing_complete(context, "e-3", 1234, "done")
    assert messages.processing_complete(SESSION, "e-3", 1234, "done") == theirs
    assert messages.start_request(SESSION) == local.start_request(context)


def test_the_completions_event_id_is_the_sessions() -> None:
    one = messages.complete_event_id("s-1")
    assert one == messages.complete_event_id("s-1") != messages.complete_event_id("s-2")
