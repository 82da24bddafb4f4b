"""Parsing what ConnectedHome stream processors publish, from the documentation's own messages
(quoted verbatim in `tests.support.results_messages`), as the guide renders them, wrapped by SNS
for an SQS subscription, and raw; and malformed ones, each refused with a clear reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.rekognition_messages import (
    LabelDetectedEvent,
    MalformedMessageError,
    StreamProcessingCompleteEvent,
    detection_records,
    epoch_ms_to_datetime,
    parse_notification,
    session_end_record,
)
from tests.support.results_messages import (
    DETECTED_AT,
    DOC_LABEL_DETECTED,
    DOC_STREAM_PROCESSING_COMPLETE,
    SESSION,
    VALUES,
    instantiate,
    sns_wrapped,
)


def label_message(**changes: Any) -> dict[str, Any]:
    message: dict[str, Any] = instantiate(DOC_LABEL_DETECTED)["Message"]
    message.update(changes)
    return message


def first_label(**changes: Any) -> dict[str, Any]:
    message = label_message()
    message["labels"][0].update(changes)
    return message


# The three shapes of the same message.


def test_the_documented_label_detected_message_as_the_guide_renders_it() -> None:
    parsed = parse_notification(json.dumps(instantiate(DOC_LABEL_DETECTED)))
    event = parsed.event
    assert isinstance(event, LabelDetectedEvent)
    assert event.processor == "camfleet-front-door"
    assert event.session_id == SESSION
    label = event.labels[0]
    assert label.name == "PERSON"
    assert label.frame_image_uri == VALUES["frameImageUri"]
    assert label.cropped_image_uri == VALUES["croppedImageUri"]
    assert label.detected_at() == DETECTED_AT
    assert label.confidence is None  # the guide's format has none
    assert parsed.sns_message_id is None


def test_the_documented_label_detected_message_wrapped_by_sns() -> None:
    parsed = parse_notification(sns_wrapped(label_message()))
    assert isinstance(parsed.event, LabelDetectedEvent)
    assert parsed.sns_message_id == "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"
    assert parsed.topic_arn == "arn:aws:sns:us-east-1:123456789012:camfleet-rekognition"
    assert parsed.published_at == datetime(2022, 6, 22, 20, 43, 45, tzinfo=UTC)
    assert parsed.event.labels[0].detected_at() == DETECTED_AT


def test_the_documented_label_detected_message_raw() -> None:
    parsed = parse_notification(json.dumps(label_message()).encode())
    assert isinstance(parsed.event, LabelDetectedEvent)
    assert parsed.topic_arn is None and parsed.published_at is None


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(instantiate(DOC_STREAM_PROCESSING_COMPLETE)),
        sns_wrapped(instantiate(DOC_STREAM_PROCESSING_COMPLETE)["Message"]),
        json.dumps(instantiate(DOC_STREAM_PROCESSING_COMPLETE)["Message"]),
    ],
    ids=["as-documented", "sns-wrapped", "raw"],
)
def test_the_documented_stream_processing_complete_message(body: str) -> None:
    event = parse_notification(body).event
    assert isinstance(event, StreamProcessingCompleteEvent)
    record = session_end_record(event, "front-door", DETECTED_AT)
    assert record.processed_ms == 30000
    assert record.message == "Stream processing completed."
    assert record.processor == "camfleet-front-door"
    assert record.session_id == SESSION


def test_a_detection_record_from_the_documented_message() -> None:
    event = parse_notification(sns_wrapped(first_label(confidence=97.4))).event
    assert isinstance(event, LabelDetectedEvent)
    (record,) = detection_records(event, "front-door", datetime(2030, 1, 1, tzinfo=UTC))
    assert record.camera_id == "front-door"
    assert record.label == "PERSON"
    assert record.confidence == 97.4
    assert record.detected_at == DETECTED_AT
    assert record.frame_uri == VALUES["frameImageUri"]
    assert record.crop_uri == VALUES["croppedImageUri"]
    assert record.box == (0.1, 0.2, 0.3, 0.5)
    assert record.key == f"2022-06-22T20:43:43.323Z#{SESSION}#PERSON"


def test_unknown_fields_aws_may_add_are_accepted() -> None:
    message = first_label(qualityScore=0.9, attributes={"new": True})
    message["streamProcessorInformation"] = {"status": "RUNNING"}
    message["inputInformation"]["kinesisVideo"]["fragmentNumber"] = "123"
    event = parse_notification(sns_wrapped(message, MessageAttributes={})).event
    assert isinstance(event, LabelDetectedEvent)
    assert event.labels[0].name == "PERSON"


def test_without_timestamps_the_time_comes_from_the_envelope_then_the_queue() -> None:
    message = first_label()
    del message["labels"][0]["videoMapping"]
    fallback = datetime(2031, 5, 4, 3, 2, 1, 987654, tzinfo=UTC)
    event = parse_notification(json.dumps(message)).event
    assert isinstance(event, LabelDetectedEvent)
    (record,) = detection_records(event, "front-door", fallback)
    assert record.detected_at == fallback.replace(microsecond=987000)


def test_the_processor_name_may_be_spelt_as_in_the_api() -> None:
    message = label_message(startStreamProcessorRequest={"Name": "camfleet-front-door"})
    assert parse_notification(json.dumps(message)).event.processor == "camfleet-front-door"


def test_seconds_are_read_as_seconds_and_milliseconds_as_milliseconds() -> None:
    assert epoch_ms_to_datetime(1655930623123) == epoch_ms_to_datetime(1655930623.123)
    assert epoch_ms_to_datetime(1655930623123) - DETECTED_AT == timedelta(milliseconds=-200)


# Malformed messages: a clear reason each.


def _wrapped_label(**changes: Any) -> str:
    return sns_wrapped(first_label(**changes))


MALFORMED = [
    ("not json", "the message body is not JSON"),
    ("[1, 2]", "the message body is not a JSON object but list"),
    ("{}", "no eventNamespace.type"),
    (
        json.dumps(label_message(eventNamespace={"type": "FACE_SEARCH"})),
        "unsupported eventNamespace.type 'FACE_SEARCH'",
    ),
    (json.dumps(label_message(labels=[])), "labels: List should have at least 1 item"),
    (_wrapped_label(frameImageUri="https://example.com/a.jpg"), "labels.0.frameImageUri"),
    (_wrapped_label(confidence=150), "labels.0.confidence"),
    (_wrapped_label(name="person"), "labels.0.name"),
    (json.dumps(label_message(sessionId="")), "sessionId"),
    (json.dumps(label_message(startStreamProcessorRequest={})), "startStreamProcessorRequest.name"),
    (json.dumps(label_message(inputInformation={})), "inputInformation.kinesisVideo"),
    (sns_wrapped(label_message(), Message="{"), "the SNS Message is not JSON"),
    (sns_wrapped(label_message(), Type="SubscriptionConfirmation"), "SNS envelope: Type"),
]


@pytest.mark.parametrize(("body", "reason"), MALFORMED)
def test_a_malformed_message_is_refused_with_a_reason(body: str, reason: str) -> None:
    with pytest.raises(MalformedMessageError) as caught:
        parse_notification(body)
    assert reason in caught.value.reason
    assert "\n" not in caught.value.reason


def test_an_implausible_timestamp_is_refused() -> None:
    message = first_label()
    message["labels"][0]["videoMapping"]["kinesisVideoMapping"]["producerTimestamp"] = 12
    with pytest.raises(MalformedMessageError, match="producerTimestamp"):
        parse_notification(json.dumps(message))


@given(st.text(max_size=200))
def test_any_text_parses_or_is_refused_with_a_reason(text: str) -> None:
    try:
        parse_notification(text)
    except MalformedMessageError as err:
        assert err.reason


@given(
    st.dictionaries(
        st.sampled_from(["Message", "eventNamespace", "labels", "sessionId", "Type", "x"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=10,
        ),
        max_size=5,
    )
)
def test_any_json_object_parses_or_is_refused_with_a_reason(document: dict[str, Any]) -> None:
    try:
        parse_notification(json.dumps(document))
    except MalformedMessageError as err:
        assert err.reason
