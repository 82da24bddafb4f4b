"""The results consumer's pure decisions: triage, idempotence, the notification cooldown, texts;
and the webhook sender's retries (with a fake poster: no network)."""

from __future__ import annotations

import json
import threading
import urllib.error
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.naming import FleetNames
from cloud.rekognition_messages import CooldownState, DetectionRecord, NotificationState
from services.results_consumer.decisions import (
    EndSession,
    Notify,
    Reject,
    Step,
    StoreDetections,
    after_store,
    decide_notification,
    event_id,
    notification_subject,
    notification_text,
    retry_delay_seconds,
    triage,
    webhook_payload,
)
from services.results_consumer.webhook import WebhookSender, redacted
from tests.support.results_messages import DOC_STREAM_PROCESSING_COMPLETE, instantiate, sns_wrapped
from tests.unit.cloud.test_results_parsing import first_label, label_message

NAMES = FleetNames("camfleet", "123456789012", "us-east-1")
NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


def _record(**changes: Any) -> DetectionRecord:
    values: dict[str, Any] = {
        "camera_id": "front-door",
        "session_id": "s1",
        "label": "PERSON",
        "confidence": 97.4,
        "detected_at": datetime(2024, 6, 22, 20, 43, 43, 123000, tzinfo=UTC),
        "frame_uri": "s3://b/k/frame.jpg",
        "crop_uri": "s3://b/k/cropped.jpg",
        "processor": "camfleet-front-door",
    }
    return DetectionRecord(**{**values, **changes})


# Triage.


def test_a_label_detected_message_becomes_detections_of_the_processors_camera() -> None:
    decision = triage(sns_wrapped(first_label(confidence=88.0)), NAMES, NOW)
    assert isinstance(decision, StoreDetections)
    assert decision.camera_id == "front-door"
    assert [(r.camera_id, r.label, r.confidence) for r in decision.records] == [
        ("front-door", "PERSON", 88.0)
    ]


def test_a_complete_message_becomes_the_sessions_end_dated_by_its_publication() -> None:
    body = sns_wrapped(instantiate(DOC_STREAM_PROCESSING_COMPLETE)["Message"])
    decision = triage(body, NAMES, NOW)
    assert isinstance(decision, EndSession)
    assert decision.record.ended_at == datetime(2022, 6, 22, 20, 43, 45, tzinfo=UTC)


def test_a_raw_complete_message_is_dated_when_the_queue_received_it() -> None:
    body = json.dumps(instantiate(DOC_STREAM_PROCESSING_COMPLETE)["Message"])
    decision = triage(body, NAMES, NOW)
    assert isinstance(decision, EndSession)
    assert decision.record.ended_at == NOW


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{", "not JSON"),
        (
            json.dumps(label_message(startStreamProcessorRequest={"name": "otherfleet-cam"})),
            "is not one of fleet camfleet",
        ),
        (
            json.dumps(label_message(startStreamProcessorRequest={"name": "camfleet-Front"})),
            "camera id 'Front' is not valid",
        ),
        (
            sns_wrapped(label_message(), TopicArn="arn:aws:sns:us-east-1:123456789012:other"),
            "not the fleet's arn:aws:sns:us-east-1:123456789012:camfleet-rekognition",
        ),
    ],
)
def test_what_cannot_be_used_is_rejected_with_the_reason(body: str, reason: str) -> None:
    decision = triage(body, NAMES, NOW)
    assert isinstance(decision, Reject)
    assert reason in decision.reason


@given(st.from_regex(r"[a-z0-9][a-z0-9_-]{0,31}", fullmatch=True))
def test_the_camera_of_a_processor_is_the_camera_it_was_named_for(camera_id: str) -> None:
    assert NAMES.camera_from_processor(NAMES.processor(camera_id)) == camera_id


# Idempotence.


@pytest.mark.parametrize(
    ("created", "existing", "step"),
    [
        (True, None, Step.PROCESS),
        (False, NotificationState.PENDING, Step.PROCESS),  # an earlier attempt stopped half-way
        (False, NotificationState.SENT, Step.DUPLICATE),
        (False, NotificationState.SUPPRESSED, Step.DUPLICATE),
    ],
)
def test_a_stored_detection_is_handled_once(
    created: bool, existing: NotificationState | None, step: Step
) -> None:
    stored = None if existing is None else _record(notification=existing)
    assert after_store(created, stored) is step


# The cooldown.


def _cooldown(seconds_ago: float, key: str = "other") -> CooldownState:
    return CooldownState(
        camera_id="front-door", notified_at=NOW - timedelta(seconds=seconds_ago), detection_key=key
    )


@pytest.mark.parametrize(
    ("cooldown", "cooldown_s", "expected"),
    [
        (None, 60, Notify.SEND),
        (_cooldown(10), 60, Notify.SUPPRESS),
        (_cooldown(59.999), 60, Notify.SUPPRESS),
        (_cooldown(60), 60, Notify.SEND),
        (_cooldown(3600), 60, Notify.SEND),
        (_cooldown(0), 0, Notify.SEND),
        (_cooldown(10, key="mine"), 60, Notify.SEND),  # this detection holds it: publish again
        (_cooldown(-5), 60, Notify.SUPPRESS),  # another replica's clock is ahead
    ],
)
def test_one_notification_per_camera_per_cooldown(
    cooldown: CooldownState | None, cooldown_s: float, expected: Notify
) -> None:
    assert decide_notification(cooldown, "mine", NOW, cooldown_s) is expected


# What people see.


def test_the_notification_is_short_and_human() -> None:
    record = _record()
    assert notification_text(record) == "PERSON at front-door, 97% — 2024-06-22 20:43:43 UTC"
    assert notification_subject(record) == "PERSON at front-door"
    assert notification_subject(record).isascii()
    without = _record(confidence=None, label="PACKAGE")
    assert notification_text(without) == "PACKAGE at front-door — 2024-06-22 20:43:43 UTC"


def test_the_webhook_payload_is_the_record_in_plain_json() -> None:
    payload = webhook_payload(_record(), "camfleet")
    assert json.loads(json.dumps(payload)) == {
        "fleet": "camfleet",
        "camera": "front-door",
        "label": "PERSON",
        "confidence": 97.4,
        "time": "2024-06-22T20:43:43.123Z",
        "session": "s1",
        "frame_uri": "s3://b/k/frame.jpg",
        "crop_uri": "s3://b/k/cropped.jpg",
        "faces": None,
        "face_status": None,
        "text": "PERSON at front-door, 97% — 2024-06-22 20:43:43 UTC",
        "frame_url": None,
        "frame_url_expires_at": None,
        "clip_url": None,
        "clip_url_expires_at": None,
    }


def test_failed_messages_come_back_later_and_later() -> None:
    assert [retry_delay_seconds(n) for n in (1, 2, 3, 4, 7, 100)] == [5, 10, 20, 40, 300, 300]


def test_the_event_id_is_the_detections() -> None:
    assert event_id("camfleet", _record()) == event_id("camfleet", _record(confidence=50))
    assert event_id("camfleet", _record()) != event_id("camfleet", _record(label="PET"))
    assert event_id("camfleet", _record()) != event_id("other", _record())


# The webhook sender.


class FakePoster:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.calls: list[dict[str, Any]] = []
        self.done = threading.Event()

    def __call__(self, url: str, payload: dict[str, Any], timeout: float) -> None:
        self.calls.append(payload)
        if self.failures:
            raise self.failures.pop(0)
        self.done.set()


def _http_error(code: int) -> urllib.error.HTTPError:
    return urllib.error.HTTPError("https://hooks.example.com/x", code, "err", None, None)  # type: ignore[arg-type]


def test_a_failing_webhook_is_retried_then_delivered() -> None:
    poster = FakePoster([urllib.error.URLError("refused"), _http_error(503)])
    sender = WebhookSender("https://hooks.example.com/T0K3N", backoff_s=0.01, post=poster)
    sender.submit({"n": 1})
    assert poster.done.wait(5)
    sender.close()
    assert len(poster.calls) == 3
    assert (sender.counters.sent, sender.counters.failed) == (1, 0)


def test_a_webhook_that_keeps_failing_is_given_up_and_counted() -> None:
    poster = FakePoster([_http_error(500)] * 3)
    sender = WebhookSender(
        "https://hooks.example.com/T0K3N", attempts=3, backoff_s=0.01, post=poster
    )
    sender.submit({"n": 1})
    sender.close()
    assert len(poster.calls) == 3
    assert (sender.counters.sent, sender.counters.failed) == (0, 1)


def test_a_client_error_is_not_retried() -> None:
    poster = FakePoster([_http_error(404)])
    sender = WebhookSender("https://hooks.example.com/T0K3N", backoff_s=0.01, post=poster)
    sender.submit({"n": 1})
    sender.close()
    assert len(poster.calls) == 1
    assert sender.counters.failed == 1


def test_submit_never_blocks_and_drops_beyond_the_bound() -> None:
    release = threading.Event()

    def slow(url: str, payload: dict[str, Any], timeout: float) -> None:
        release.wait(5)

    sender = WebhookSender("http://127.0.0.1:9/hook", max_pending=2, post=slow)
    for n in range(10):
        sender.submit({"n": n})  # returns at once
    assert sender.counters.dropped >= 7
    release.set()
    sender.close()


def test_the_webhook_url_is_never_logged_whole() -> None:
    assert (
        redacted("https://hooks.example.com/services/T0K3N?x=1") == "https://hooks.example.com/..."
    )
    with pytest.raises(ValueError, match="only http and https"):
        WebhookSender("file:///etc/passwd")
