"""The results pipeline against the local AWS endpoint over real HTTP: the wiring `ensure_fleet`
makes, and the consumer fed by the fleet's real SNS topic (SNS -> SQS -> consumer -> DynamoDB,
notification topic -> an observer queue subscribed in the test)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from cloud import detections
from cloud.clients import AwsClients
from cloud.fleet import ensure_fleet, fleet_names
from cloud.models import FleetRecord
from cloud.naming import FleetNames
from cloud.rekognition_messages import DetectionRecord, NotificationState, SessionEndRecord
from cloud.settings import FleetSettings
from services.harness.heartbeat import Heartbeat
from services.results_consumer.service import (
    ConsumerConfig,
    ConsumerRunner,
    Outcome,
    ResultsConsumer,
    ResultsEndpoints,
)
from stack.endpoint import persistence
from stack.endpoint.server import LocalEndpoint
from tests.support.endpoint_admin import clear_faults, inject_fault, last_seq, requests_since
from tests.support.results_messages import label_detected, processing_complete

READ_PREFIXES = ("Get", "List", "Describe", "Head")
CAMERA = "front-door"


@dataclass
class RecordingEvents:
    """Stands in for Prefect: the e2e test checks the real server."""

    seen: list[tuple[str, DetectionRecord]] = field(default_factory=list)

    def detection(self, fleet: str, record: DetectionRecord) -> None:
        self.seen.append((fleet, record))


@dataclass
class Fleet:
    endpoint: LocalEndpoint
    clients: AwsClients
    names: FleetNames
    record: FleetRecord
    observer_url: str  # an SQS queue subscribed to the notification topic
    events: RecordingEvents = field(default_factory=RecordingEvents)

    def consumer(
        self, cooldown_s: float = 60, clock: Callable[[], datetime] | None = None
    ) -> ResultsConsumer:
        extra = {} if clock is None else {"clock": clock}
        return ResultsConsumer(
            self.clients,
            self.names,
            ResultsEndpoints.locate(self.clients, self.names),
            ConsumerConfig(wait_seconds=2, cooldown_seconds=cooldown_s),
            self.events,
            **extra,  # type: ignore[arg-type]
        )

    def publish(self, message: dict[str, Any] | str) -> None:
        """As the stream processor does: to the fleet's Rekognition topic."""
        body = message if isinstance(message, str) else json.dumps(message)
        self.clients.sns.publish(
            TopicArn=self.names.topic_arn(),
            Subject="Rekognition Stream Processing Event",
            Message=body,
        )

    def notifications(self, wait_s: int = 1) -> list[str]:
        """What reached people, drained: each notification's text, its first line. The next
        lines are the frame's link and the clip's, on this endpoint (`test_results_links` follows
        them)."""
        texts: list[str] = []
        for message in self.messages(wait_s):
            text, frame, clip = message.splitlines()
            assert frame.startswith(f"Frame: {self.endpoint.url}/"), message
            assert clip.startswith(f"Clip (when the event ends): {self.endpoint.url}/"), message
            texts.append(text)
        return texts

    def messages(self, wait_s: int = 1) -> list[str]:
        """The notification topic's messages, whole, drained."""
        found: list[str] = []
        while True:
            answer = self.clients.sqs.receive_message(
                QueueUrl=self.observer_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s
            )
            messages = answer.get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"])["Message"])
                self.clients.sqs.delete_message(
                    QueueUrl=self.observer_url, ReceiptHandle=message["ReceiptHandle"]
                )
            wait_s = 0

    def stored(self, camera_id: str = CAMERA) -> list[DetectionRecord]:
        return detections.list_detections(self.clients, self.names.detections_table, camera_id, 100)

    def queue_depth(self, url: str) -> tuple[int, int]:
        attributes = self.clients.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return (
            int(attributes["ApproximateNumberOfMessages"]),
            int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        )


@pytest.fixture
def fleet(local_endpoint: LocalEndpoint, tmp_path: Path) -> Iterator[Fleet]:
    local_endpoint.reset()
    clients = AwsClients(FleetSettings(home=tmp_path, aws_port=local_endpoint.port))
    record = ensure_fleet(clients)
    assert record.results is not None
    observer = clients.sqs.create_queue(QueueName="test-observer")["QueueUrl"]
    observer_arn = clients.sqs.get_queue_attributes(QueueUrl=observer, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    clients.sns.subscribe(
        TopicArn=record.results.notifications_topic_arn, Protocol="sqs", Endpoint=observer_arn
    )
    yield Fleet(local_endpoint, clients, fleet_names(clients), record, observer)
    clear_faults(local_endpoint.url)


# The wiring.


def test_ensure_fleet_wires_the_results_pipeline(fleet: Fleet) -> None:
    results, sqs = fleet.record.results, fleet.clients.sqs
    assert results is not None
    assert results.queue_url.endswith("/camfleet-results")
    assert results.dlq_url.endswith("/camfleet-results-dlq")
    attributes = sqs.get_queue_attributes(QueueUrl=results.queue_url, AttributeNames=["All"])[
        "Attributes"
    ]
    policy = json.loads(attributes["Policy"])
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == results.queue_arn
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": fleet.names.topic_arn()}}
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == results.dlq_arn
    assert int(redrive["maxReceiveCount"]) == 5
    assert attributes["SqsManagedSseEnabled"] == "true"

    subscriptions = fleet.clients.sns.list_subscriptions_by_topic(TopicArn=fleet.names.topic_arn())[
        "Subscriptions"
    ]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("sqs", results.queue_arn)]
    raw = fleet.clients.sns.get_subscription_attributes(SubscriptionArn=results.subscription_arn)[
        "Attributes"
    ]["RawMessageDelivery"]
    assert raw == "false"  # the SNS envelope is kept

    table = fleet.clients.dynamodb.describe_table(TableName="camfleet-detections")["Table"]
    assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {
        ("camera_id", "HASH"),
        ("record_key", "RANGE"),
    }
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    topic = fleet.clients.sns.get_topic_attributes(TopicArn=results.notifications_topic_arn)
    assert topic["Attributes"]["TopicArn"].endswith(":camfleet-notifications")


def test_ensure_fleet_again_changes_nothing_and_converges_drift(fleet: Fleet) -> None:
    seq = last_seq(fleet.endpoint.url)
    again = ensure_fleet(fleet.clients)
    assert again == fleet.record
    writes = [
        (r["service"], r["operation"])
        for r in requests_since(fleet.endpoint.url, seq)
        if not str(r["operation"]).startswith(READ_PREFIXES)
    ]
    assert writes == []

    assert fleet.record.results is not None
    url = fleet.record.results.queue_url
    fleet.clients.sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "5"})
    seq = last_seq(fleet.endpoint.url)
    ensure_fleet(fleet.clients)
    converged = [
        r["operation"]
        for r in requests_since(fleet.endpoint.url, seq)
        if not str(r["operation"]).startswith(READ_PREFIXES)
    ]
    assert converged == ["SetQueueAttributes"]
    visibility = fleet.clients.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["VisibilityTimeout"]
    )["Attributes"]["VisibilityTimeout"]
    assert visibility == "60"


# The consumer.


def test_a_detection_is_stored_notified_and_emitted_once(fleet: Fleet) -> None:
    message = label_detected("camfleet", CAMERA, "s1", "PERSON", 97.4, 1655930623123)
    fleet.publish(message)
    consumer = fleet.consumer()
    assert consumer.poll_once() == [Outcome.STORED]

    (record,) = fleet.stored()
    assert (record.camera_id, record.session_id, record.label) == (CAMERA, "s1", "PERSON")
    assert record.confidence == pytest.approx(97.4)
    assert record.detected_at == datetime(2022, 6, 22, 20, 43, 43, 123000, tzinfo=UTC)
    assert record.frame_uri == message["labels"][0]["frameImageUri"]
    assert record.crop_uri == message["labels"][0]["croppedImageUri"]
    assert record.notification is NotificationState.SENT
    assert fleet.notifications() == ["PERSON at front-door, 97% — 2022-06-22 20:43:43 UTC"]
    assert [(f, r.label, r.notification) for f, r in fleet.events.seen] == [
        ("camfleet", "PERSON", NotificationState.SENT)
    ]
    assert fleet.queue_depth(ResultsEndpoints.locate(fleet.clients, fleet.names).queue_url) == (
        0,
        0,
    )

    # The same notification again (a redelivery, or Rekognition repeating itself).
    fleet.publish(message)
    assert consumer.poll_once() == [Outcome.DUPLICATE]
    assert len(fleet.stored()) == 1
    assert fleet.notifications() == []
    assert len(fleet.events.seen) == 1


def test_within_the_cooldown_a_detection_is_stored_but_not_notified(fleet: Fleet) -> None:
    now = [datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)]
    consumer = fleet.consumer(cooldown_s=60, clock=lambda: now[0])
    fleet.publish(label_detected("camfleet", CAMERA, "s1", "PERSON", 90, 1700000000000))
    assert consumer.poll_once() == [Outcome.STORED]
    now[0] += timedelta(seconds=30)
    fleet.publish(label_detected("camfleet", CAMERA, "s2", "PERSON", 91, 1700000030000))
    assert consumer.poll_once() == [Outcome.STORED]
    fleet.publish(label_detected("camfleet", "back-door", "s3", "PET", 92, 1700000031000))
    assert consumer.poll_once() == [Outcome.STORED]  # another camera: its own cooldown

    newest_first = [(r.session_id, r.notification) for r in fleet.stored()]
    assert newest_first == [("s2", NotificationState.SUPPRESSED), ("s1", NotificationState.SENT)]
    assert sorted(fleet.notifications()) == [
        "PERSON at front-door, 90% — 2023-11-14 22:13:20 UTC",
        "PET at back-door, 92% — 2023-11-14 22:13:51 UTC",
    ]

    now[0] += timedelta(seconds=31)  # 61 s after the last notification of front-door
    fleet.publish(label_detected("camfleet", CAMERA, "s4", "PACKAGE", 93, 1700000061000))
    assert consumer.poll_once() == [Outcome.STORED]
    assert fleet.notifications() == ["PACKAGE at front-door, 93% — 2023-11-14 22:14:21 UTC"]
    assert fleet.stored()[0].notification is NotificationState.SENT


def test_the_end_of_a_session_is_recorded_and_counted_in_the_days_usage_once(
    fleet: Fleet,
) -> None:
    table = "camfleet-detections"
    consumer = fleet.consumer()
    fleet.publish(processing_complete("camfleet", CAMERA, "s9", processed_ms=12345))
    assert consumer.poll_once() == [Outcome.SESSION_ENDED]
    end = detections.get_session_end(fleet.clients, table, CAMERA, "s9")
    assert end is not None
    assert (end.processed_ms, end.processor) == (12345, "camfleet-front-door")
    assert fleet.stored() == []
    today = detections.usage_day(end)

    # SNS or SQS delivers it again (a new SNS message id, the same session): counted once.
    fleet.publish(processing_complete("camfleet", CAMERA, "s9", processed_ms=12345))
    fleet.publish(processing_complete("camfleet", CAMERA, "s10", processed_ms=30000))
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + 10
    while len(outcomes) < 2 and time.monotonic() < deadline:
        outcomes += consumer.poll_once(wait_seconds=1)
    assert sorted(outcomes) == sorted([Outcome.DUPLICATE, Outcome.SESSION_ENDED])
    usage = detections.read_usage(fleet.clients, table, CAMERA, today)
    assert (usage.processed_ms, usage.sessions) == (42345, 2)
    assert usage.minutes == pytest.approx(42345 / 60_000)
    assert consumer.counters.sessions == 2 and consumer.counters.duplicates == 1


def test_usage_is_per_camera_and_utc_day_of_the_sessions_end(fleet: Fleet) -> None:
    table = "camfleet-detections"
    late = datetime(2026, 5, 2, 23, 59, 59, tzinfo=UTC)

    def end(camera: str, session: str, at: datetime, ms: int | None) -> bool:
        record = SessionEndRecord(
            camera_id=camera, session_id=session, processor="p", ended_at=at, processed_ms=ms
        )
        return detections.put_session_end(fleet.clients, table, record)

    assert end(CAMERA, "a", late, 20_000)
    # Past midnight UTC (though still May 2nd two hours west): the next day's.
    assert end(CAMERA, "b", datetime(2026, 5, 2, 22, 30, tzinfo=timezone(-timedelta(hours=2))), 5)
    assert end(CAMERA, "c", late, None)  # no duration reported: a session, no video counted
    assert end("garage", "a", late, 7_000)
    assert not end(CAMERA, "a", late, 20_000)

    def usage(camera: str, day: date) -> tuple[int, int]:
        read = detections.read_usage(fleet.clients, table, camera, day)
        return read.processed_ms, read.sessions

    assert usage(CAMERA, date(2026, 5, 2)) == (20_000, 2)
    assert usage(CAMERA, date(2026, 5, 3)) == (5, 1)
    assert usage("garage", date(2026, 5, 2)) == (7_000, 1)
    assert usage("garage", date(2026, 5, 3)) == (0, 0)
    assert detections.list_detections(fleet.clients, table, CAMERA, 10) == []


def test_a_session_end_that_fails_to_store_counts_nothing_until_it_is_stored(
    fleet: Fleet,
) -> None:
    consumer = fleet.consumer()
    fleet.publish(processing_complete("camfleet", CAMERA, "s1", processed_ms=9000))
    inject_fault(fleet.endpoint.url, "dynamodb", "TransactWriteItems", "AccessDeniedException")
    assert consumer.poll_once() == [Outcome.FAILED]
    table = "camfleet-detections"
    assert detections.get_session_end(fleet.clients, table, CAMERA, "s1") is None
    today = datetime.now(UTC).date()
    assert detections.read_usage(fleet.clients, table, CAMERA, today).sessions == 0

    outcomes: list[Outcome] = []
    deadline = time.monotonic() + 15
    while not outcomes and time.monotonic() < deadline:
        outcomes = consumer.poll_once(wait_seconds=2)
    assert outcomes == [Outcome.SESSION_ENDED]
    end = detections.get_session_end(fleet.clients, table, CAMERA, "s1")
    assert end is not None
    usage = detections.read_usage(fleet.clients, table, CAMERA, detections.usage_day(end))
    assert (usage.processed_ms, usage.sessions) == (9000, 1)


def _dead_letters(fleet: Fleet) -> list[tuple[str, dict[str, str]]]:
    assert fleet.record.results is not None
    answer = fleet.clients.sqs.receive_message(
        QueueUrl=fleet.record.results.dlq_url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=1,
        MessageAttributeNames=["All"],
    )
    return [
        (m["Body"], {k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()})
        for m in answer.get("Messages", [])
    ]


def test_a_malformed_message_is_dead_lettered_with_its_reason_and_the_consumer_goes_on(
    fleet: Fleet, tmp_path: Path
) -> None:
    heartbeat = tmp_path / "results.heartbeat.json"
    runner = ConsumerRunner(
        fleet.clients,
        fleet.names,
        ConsumerConfig(wait_seconds=1, heartbeat_file=heartbeat, heartbeat_seconds=0.2),
        fleet.events,
    )
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,))
    thread.start()
    try:
        fleet.publish("this is not JSON")
        fleet.publish(
            label_detected("camfleet", "other", "s1", "PERSON", 80, 1700000000000) | {"labels": []}
        )
        fleet.publish(label_detected("camfleet", CAMERA, "s1", "PERSON", 80, 1700000000000))
        deadline = time.monotonic() + 20
        counters: dict[str, int] = {}
        while time.monotonic() < deadline:
            if heartbeat.exists():
                beat = Heartbeat.model_validate_json(heartbeat.read_text())
                counters = beat.counters
                if counters.get("rejected") == 2 and counters.get("detections") == 1:
                    assert beat.ready
                    break
            time.sleep(0.2)
        assert counters.get("rejected") == 2 and counters.get("detections") == 1, counters
    finally:
        stop.set()
        thread.join(30)

    letters = _dead_letters(fleet)
    reasons = sorted(attributes["reason"] for _, attributes in letters)
    assert reasons[0].startswith("LABEL_DETECTED message: labels: List should have at least 1")
    assert reasons[1].startswith("the SNS Message is not JSON")
    bodies = [json.loads(body)["Message"] for body, _ in letters]
    assert "this is not JSON" in bodies  # the original, untouched
    assert all(a["source-queue"] == "camfleet-results" for _, a in letters)
    assert [r.camera_id for r in fleet.stored()] == [CAMERA]
    assert fleet.record.results is not None
    assert fleet.queue_depth(fleet.record.results.queue_url) == (0, 0)


def test_a_failure_to_store_leaves_the_message_for_redelivery(fleet: Fleet) -> None:
    assert fleet.record.results is not None
    queue_url = fleet.record.results.queue_url
    consumer = fleet.consumer()
    fleet.publish(label_detected("camfleet", CAMERA, "s1", "PERSON", 80, 1700000000000))
    inject_fault(fleet.endpoint.url, "dynamodb", "PutItem", "AccessDeniedException")
    assert consumer.poll_once() == [Outcome.FAILED]
    assert fleet.stored() == []
    assert fleet.queue_depth(queue_url) == (0, 1)  # not deleted: hidden for 5 s, then back
    assert fleet.notifications(wait_s=0) == []

    outcomes: list[Outcome] = []
    deadline = time.monotonic() + 15
    while not outcomes and time.monotonic() < deadline:
        outcomes = consumer.poll_once(wait_seconds=2)
    assert outcomes == [Outcome.STORED]
    assert len(fleet.stored()) == 1
    assert len(fleet.notifications()) == 1
    assert fleet.queue_depth(queue_url) == (0, 0)


def test_a_failure_to_notify_is_retried_and_notifies_once(fleet: Fleet) -> None:
    consumer = fleet.consumer()
    fleet.publish(label_detected("camfleet", CAMERA, "s1", "PERSON", 80, 1700000000000))
    inject_fault(fleet.endpoint.url, "sns", "Publish", "AuthorizationError", http_status=403)
    assert consumer.poll_once() == [Outcome.FAILED]
    (pending,) = fleet.stored()
    assert pending.notification is NotificationState.PENDING

    outcomes: list[Outcome] = []
    deadline = time.monotonic() + 15
    while not outcomes and time.monotonic() < deadline:
        outcomes = consumer.poll_once(wait_seconds=2)
    assert outcomes == [Outcome.STORED]  # the detection holds the cooldown: published now
    (sent,) = fleet.stored()
    assert sent.notification is NotificationState.SENT
    assert len(fleet.notifications()) == 1
    assert len(fleet.events.seen) == 1


def test_the_endpoint_saves_and_restores_queues_and_the_table(fleet: Fleet) -> None:
    """moto's SQS queues hold a lock for long polling: the endpoint's state must still save."""
    fleet.publish(label_detected("camfleet", CAMERA, "s1", "PERSON", 80, 1700000000000))
    fleet.endpoint.save()
    loaded = persistence.read_state(fleet.endpoint.config.state_file)
    assert loaded is not None
    moto_state, _ = loaded
    queues = moto_state["sqs"]["123456789012"]["us-east-1"].queues
    assert {"camfleet-results", "camfleet-results-dlq"} <= set(queues)
    assert len(queues["camfleet-results"].messages) == 1
    tables = moto_state["dynamodb"]["123456789012"]["us-east-1"].tables
    assert "camfleet-detections" in tables


def test_a_long_poll_does_not_hold_back_other_requests(fleet: Fleet) -> None:
    """The local endpoint serves SQS long polls outside its state lock."""
    consumer = fleet.consumer()
    outcomes: list[Outcome] = []
    poll = threading.Thread(target=lambda: outcomes.extend(consumer.poll_once(wait_seconds=10)))
    poll.start()
    time.sleep(0.5)  # the poll is waiting inside the endpoint
    started = time.monotonic()
    fleet.publish(label_detected("camfleet", CAMERA, "s1", "PERSON", 80, 1700000000000))
    assert time.monotonic() - started < 2
    poll.join(15)
    assert outcomes == [Outcome.STORED]


def test_the_consumer_stops_at_once_even_in_a_long_poll(fleet: Fleet, tmp_path: Path) -> None:
    heartbeat = tmp_path / "results.heartbeat.json"
    config = ConsumerConfig(wait_seconds=20, heartbeat_file=heartbeat, heartbeat_seconds=0.2)
    runner = ConsumerRunner(fleet.clients, fleet.names, config, fleet.events)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (
        heartbeat.exists() and Heartbeat.model_validate_json(heartbeat.read_text()).ready
    ):
        time.sleep(0.1)
    time.sleep(0.5)  # inside the 20 s poll now
    started = time.monotonic()
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - started < 2
    beat = Heartbeat.model_validate_json(heartbeat.read_text())
    assert not beat.ready and beat.detail == "stopped"
