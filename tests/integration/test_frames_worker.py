"""The analysis worker against the local AWS endpoint over real HTTP: a session queued the way the
bridge queues it (claim in the analysis table, message on the analysis queue), worked by the
worker, its frames in the results bucket, its messages on the fleet's Rekognition topic, read by
the unchanged results consumer into detections.

Most tests stand in for GetImages and DetectLabels with fakes (the plumbing is the point: queue,
table, S3, SNS, the consumer); `test_a_person_in_the_cameras_video_is_found_end_to_end` uses the
endpoint's own GetImages (the local fragment store) and DetectLabels (the local face detector).
"""

from __future__ import annotations

import io
import json
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from cloud import detections, iot, kvs, queues, registry
from cloud.analysis import frames_table
from cloud.analysis.control import FramesSessions
from cloud.analysis.images import StreamImage
from cloud.analysis.labels import FoundInstance, FoundLabel
from cloud.analysis.models import FramesCamera
from cloud.analysis.regions import Box
from cloud.clients import AwsClients
from cloud.fleet import ensure_fleet, fleet_names
from cloud.models import Analyzer, CameraSpec, Label, ProcessorStatus
from cloud.naming import FleetNames
from cloud.rekognition_messages import (
    DetectionRecord,
    LabelDetectedEvent,
    StreamProcessingCompleteEvent,
    parse_notification,
)
from cloud.settings import FleetSettings
from cloud.tags import fleet_tags
from services.analyzer.service import AnalyzerConfig, AnalyzerRunner, AnalyzerWorker
from services.analyzer.session import Outcome
from services.harness.heartbeat import Heartbeat
from services.results_consumer.service import ConsumerConfig, ResultsConsumer, ResultsEndpoints
from stack.cameras.scenes import write_scene
from stack.endpoint.server import LocalEndpoint
from tests.support.scene_fragments import record_fragments

CAMERA = "front-door"


def a_jpeg(width: int = 640, height: int = 360) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 90, 160)).save(out, format="JPEG")
    return out.getvalue()


@dataclass
class StillVideo:
    """GetImages stand-in: a frame at every sampling timestamp asked for."""

    frame: bytes = field(default_factory=a_jpeg)
    calls: int = 0

    def images(
        self, stream_arn: str, start_ms: int, end_ms: int, interval_ms: int
    ) -> list[StreamImage]:
        self.calls += 1
        return [
            StreamImage(timestamp_ms=ts, content=self.frame)
            for ts in range(start_ms, end_ms + 1, interval_ms)
        ]


@dataclass
class PersonInView:
    """DetectLabels stand-in: a person in every frame; `after_call(n)` runs after call n."""

    after_call: Callable[[int], None] = lambda n: None
    calls: list[frozenset[Label]] = field(default_factory=list)

    def labels(
        self, image: bytes, classes: frozenset[Label], min_confidence: float
    ) -> list[FoundLabel]:
        self.calls.append(classes)
        box = Box(left=0.4, top=0.2, width=0.2, height=0.7)
        found = (
            [
                FoundLabel(
                    name="Person",
                    confidence=96.0,
                    instances=(FoundInstance(box=box, confidence=96.0),),
                )
            ]
            if Label.PERSON in classes
            else []
        )
        self.after_call(len(self.calls))
        return found


@dataclass
class RecordingEvents:
    seen: list[DetectionRecord] = field(default_factory=list)

    def detection(self, fleet: str, record: DetectionRecord) -> None:
        self.seen.append(record)


@dataclass
class FramesFleet:
    endpoint: LocalEndpoint
    clients: AwsClients
    names: FleetNames
    observer_url: str  # an SQS queue subscribed to the fleet's Rekognition topic
    events: RecordingEvents = field(default_factory=RecordingEvents)

    @property
    def queue_url(self) -> str:
        url = queues.queue_url(self.clients, self.names.analysis_queue)
        assert url is not None
        return url

    def start_session(self, start_ms: int, duration_s: int, camera: str = CAMERA) -> str:
        """As the bridge does: claim the camera's item, queue the request."""
        return FramesSessions(self.clients, self.names, 10.0).start(camera, start_ms, duration_s)

    def worker(self, **sources: Any) -> AnalyzerWorker:
        config = AnalyzerConfig(wait_seconds=2, ingest_grace_seconds=2.0, retry_seconds=0.5)
        worker = AnalyzerWorker(self.clients, self.names, config, threading.Event(), **sources)
        assert worker.locate()
        return worker

    def receive(self, wait_s: int = 5) -> list[queues.QueueMessage]:
        return queues.receive(self.clients, self.queue_url, 10, wait_s, 60)

    def item(self, camera: str = CAMERA) -> FramesCamera:
        item = frames_table.read_camera(self.clients, self.names.analysis_table, camera)
        assert item is not None
        return item

    def published(self, wait_s: int = 2) -> list[str]:
        """The Rekognition messages the topic delivered (each SNS `Message`), drained."""
        found: list[str] = []
        while True:
            answer = self.clients.sqs.receive_message(
                QueueUrl=self.observer_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s
            )
            if not answer.get("Messages"):
                return found
            for message in answer["Messages"]:
                envelope = json.loads(message["Body"])
                assert envelope["TopicArn"] == self.names.topic_arn()
                found.append(envelope["Message"])
                self.clients.sqs.delete_message(
                    QueueUrl=self.observer_url, ReceiptHandle=message["ReceiptHandle"]
                )
            wait_s = 0

    def consume(self, expected: int) -> ResultsConsumer:
        """The results consumer, unchanged, until it has handled `expected` messages."""
        consumer = ResultsConsumer(
            self.clients,
            self.names,
            ResultsEndpoints.locate(self.clients, self.names),
            ConsumerConfig(wait_seconds=2),
            self.events,
        )
        deadline = time.monotonic() + 30
        while consumer.counters.received < expected and time.monotonic() < deadline:
            consumer.poll_once()
        assert consumer.counters.received == expected
        return consumer

    def queue_depth(self, url: str) -> int:
        attributes = self.clients.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


def register_camera(clients: AwsClients, names: FleetNames, camera: str, labels: set[Label]) -> str:
    """What registration leaves for a frames camera: its thing (settings) and its stream."""
    spec = CameraSpec(camera_id=camera, labels=frozenset(labels), min_confidence=60)
    iot.ensure_thing(clients, names.thing(camera), registry.thing_attributes(spec, names.fleet))
    stream, _ = kvs.ensure_stream(
        clients, names.stream(camera), 24, fleet_tags(names.fleet, camera)
    )
    return stream.arn


def frames_fleet(
    endpoint: LocalEndpoint, home: Path, camera: str, labels: set[Label]
) -> FramesFleet:
    endpoint.reset()
    settings = FleetSettings(home=home, aws_port=endpoint.port, analyzer=Analyzer.FRAMES)
    clients = AwsClients(settings)
    ensure_fleet(clients)
    names = fleet_names(clients)
    register_camera(clients, names, camera, labels)
    observer = clients.sqs.create_queue(QueueName="test-rekognition-observer")["QueueUrl"]
    observer_arn = clients.sqs.get_queue_attributes(QueueUrl=observer, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    clients.sns.subscribe(TopicArn=names.topic_arn(), Protocol="sqs", Endpoint=observer_arn)
    return FramesFleet(endpoint, clients, names, observer)


@pytest.fixture
def fleet(local_endpoint: LocalEndpoint, tmp_path: Path) -> FramesFleet:
    return frames_fleet(local_endpoint, tmp_path, CAMERA, {Label.PERSON, Label.PET})


def past_window_ms() -> int:
    return (int(time.time()) - 120) * 1000


def events_of(messages: list[str]) -> list[LabelDetectedEvent | StreamProcessingCompleteEvent]:
    return [parse_notification(message).event for message in messages]


def test_a_session_goes_from_the_queue_to_the_results_consumer(fleet: FramesFleet) -> None:
    start = past_window_ms()
    session_id = fleet.start_session(start, 10)
    worker = fleet.worker(images=StillVideo(), labels=PersonInView())
    (message,) = fleet.receive()

    report = worker.work_now(message)

    assert report is not None and report.outcome is Outcome.ENDED
    assert report.status is ProcessorStatus.STOPPED and report.confirmed == [Label.PERSON]
    assert fleet.queue_depth(fleet.queue_url) == 0  # the message is deleted
    item = fleet.item()
    assert item.status is ProcessorStatus.STOPPED and item.processed_ms == 10_000
    assert set(item.confirmed) == {"PERSON"}

    prefix = f"cameras/{CAMERA}/{fleet.names.processor(CAMERA)}/{session_id}/"
    listed = fleet.clients.s3.list_objects_v2(Bucket=fleet.names.results_bucket, Prefix=prefix)
    keys = sorted(o["Key"].removeprefix(prefix).split("/", 1)[1] for o in listed["Contents"])
    assert keys == ["cropped.jpg", "frame.jpg"]

    messages = fleet.published()
    detected, ended = events_of(messages)
    assert isinstance(detected, LabelDetectedEvent) and detected.session_id == session_id
    assert isinstance(ended, StreamProcessingCompleteEvent)
    assert ended.input_information.kinesis_video.processed_video_duration_millis == 10_000
    assert messages[0] == item.confirmed["PERSON"]

    consumer = fleet.consume(expected=2)
    assert consumer.counters.detections == 1 and consumer.counters.sessions == 1
    (stored,) = detections.list_detections(fleet.clients, fleet.names.detections_table, CAMERA, 10)
    assert (stored.label, stored.session_id, stored.confidence) == ("PERSON", session_id, 96.0)
    bucket, key = stored.frame_uri.removeprefix("s3://").split("/", 1)
    frame = fleet.clients.s3.get_object(Bucket=bucket, Key=key)
    assert frame["ContentType"] == "image/jpeg" and frame["Body"].read()[:2] == b"\xff\xd8"


def test_a_redelivered_session_publishes_its_detection_again_and_counts_once(
    fleet: FramesFleet,
) -> None:
    fleet.start_session(past_window_ms(), 10)
    # The first worker stops (SIGTERM) as the person is confirmed, in the second image.
    workers: list[AnalyzerWorker] = []
    stopping = PersonInView(after_call=lambda n: workers[0].cancel_all() if n == 2 else None)
    first = fleet.worker(images=StillVideo(), labels=stopping)
    workers.append(first)
    (message,) = fleet.receive()

    report = first.work_now(message)

    assert report is not None and report.outcome is Outcome.ABANDONED
    assert fleet.item().status is ProcessorStatus.RUNNING  # nothing finished
    (again,) = fleet.receive(wait_s=2)  # given back at once, not after the timeout
    assert again.message_id == message.message_id and again.receive_count == 2

    labels = PersonInView()
    report = fleet.worker(images=StillVideo(), labels=labels).work_now(again)

    assert report is not None and report.outcome is Outcome.ENDED
    assert report.republished == 1 and report.confirmed == []
    assert set(labels.calls) == {frozenset({Label.PET})}  # the person is not looked for again
    messages = fleet.published()
    detected = [
        m
        for m, e in zip(messages, events_of(messages), strict=True)
        if isinstance(e, LabelDetectedEvent)
    ]
    assert len(detected) == 2 and detected[0] == detected[1]
    consumer = fleet.consume(expected=3)
    assert consumer.counters.detections == 1 and consumer.counters.duplicates == 1
    assert len(fleet.events.seen) == 1


def test_a_delivery_of_an_ended_session_is_deleted_and_publishes_nothing(
    fleet: FramesFleet,
) -> None:
    fleet.start_session(past_window_ms(), 5)
    worker = fleet.worker(images=StillVideo(), labels=PersonInView())
    (message,) = fleet.receive()
    worker.work_now(message)
    fleet.published()

    queues.send(fleet.clients, fleet.queue_url, message.body, {})
    (duplicate,) = fleet.receive()
    report = worker.work_now(duplicate)

    assert report is not None and report.outcome is Outcome.DUPLICATE
    assert fleet.published(wait_s=1) == []
    assert fleet.queue_depth(fleet.queue_url) == 0


def test_a_message_that_is_no_session_goes_to_the_dead_letter_queue(fleet: FramesFleet) -> None:
    queues.send(fleet.clients, fleet.queue_url, '{"camera_id": "front-door"}', {})
    worker = fleet.worker(images=StillVideo(), labels=PersonInView())
    (message,) = fleet.receive()

    assert worker.work_now(message) is None
    assert fleet.queue_depth(fleet.queue_url) == 0
    dlq = queues.queue_url(fleet.clients, fleet.names.analysis_dlq)
    assert dlq is not None
    (dead,) = queues.receive(fleet.clients, dlq, 10, 2, 30)
    assert dead.body == '{"camera_id": "front-door"}'
    assert dead.attributes["reason"].startswith("not a frames session request")
    assert worker.counters.rejected == 1


def test_the_runner_works_sessions_from_the_queue_and_reports_itself(
    fleet: FramesFleet, tmp_path: Path
) -> None:
    heartbeat = tmp_path / "analyzer.heartbeat.json"
    config = AnalyzerConfig(
        wait_seconds=1, heartbeat_file=heartbeat, heartbeat_seconds=0.2, ingest_grace_seconds=1.0
    )
    runner = AnalyzerRunner(
        fleet.clients, fleet.names, config, images=StillVideo(), labels=PersonInView()
    )
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        fleet.start_session(past_window_ms(), 5)
        deadline = time.monotonic() + 30
        while fleet.item().status is not ProcessorStatus.STOPPED:
            assert time.monotonic() < deadline, fleet.item()
            time.sleep(0.2)
        while Heartbeat.model_validate_json(heartbeat.read_text()).counters.get("sessions") != 1:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        beat = Heartbeat.model_validate_json(heartbeat.read_text())
        assert beat.ready and beat.detail == f"polling {fleet.names.analysis_queue}"
        assert beat.counters["confirmed"] == 1 and beat.counters["detect_calls"] >= 2
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert fleet.queue_depth(fleet.queue_url) == 0


def test_without_an_analysis_queue_the_runner_waits_for_one(
    local_endpoint: LocalEndpoint, tmp_path: Path
) -> None:
    local_endpoint.reset()
    clients = AwsClients(FleetSettings(home=tmp_path, aws_port=local_endpoint.port))
    names = fleet_names(clients)
    heartbeat = tmp_path / "analyzer.heartbeat.json"
    config = AnalyzerConfig(heartbeat_file=heartbeat, heartbeat_seconds=0.2, queue_retry_seconds=60)
    stop = threading.Event()
    thread = threading.Thread(
        target=AnalyzerRunner(clients, names, config).run, args=(stop,), daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while True:
            beat = (
                Heartbeat.model_validate_json(heartbeat.read_text()) if heartbeat.exists() else None
            )
            if beat is not None and beat.detail.startswith("waiting"):
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert beat.ready and beat.detail == f"waiting for queue {names.analysis_queue}"
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()


# On the endpoint's own GetImages and DetectLabels.


@pytest.fixture(scope="module")
def person_fragments(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("frames-scenes")
    scene = write_scene("person", root / "person.avi", seconds=4)
    return record_fragments(scene, root / "person", start_ms=0)


def test_a_person_in_the_cameras_video_is_found_end_to_end(
    video_endpoint: LocalEndpoint, tmp_path: Path, person_fragments: list[Path]
) -> None:
    camera = f"cam-{uuid.uuid4().hex[:8]}"
    fleet = frames_fleet(video_endpoint, tmp_path, camera, {Label.PERSON})
    root = video_endpoint.config.fragment_root
    assert root is not None
    base = past_window_ms()
    (root / camera).mkdir(parents=True, exist_ok=True)
    for fragment in person_fragments:
        shutil.copyfile(fragment, root / camera / f"{base + int(fragment.stem)}.mkv")
    session_id = fleet.start_session(base, 4, camera=camera)
    worker = fleet.worker()  # the endpoint's GetImages and DetectLabels
    (message,) = fleet.receive()

    report = worker.work_now(message)

    assert report is not None and report.outcome is Outcome.ENDED, report
    assert report.status is ProcessorStatus.STOPPED and report.confirmed == [Label.PERSON]
    detected, ended = events_of(fleet.published())
    assert isinstance(detected, LabelDetectedEvent) and detected.session_id == session_id
    label = detected.labels[0]
    assert label.name == "PERSON" and label.bounding_box is not None
    assert label.detected_at() is not None
    assert base <= label.detected_at().timestamp() * 1000 <= base + 4000  # type: ignore[union-attr]
    assert isinstance(ended, StreamProcessingCompleteEvent)
    processed = ended.input_information.kinesis_video.processed_video_duration_millis
    assert processed is not None and 0 < processed <= 4000
    bucket, key = label.frame_image_uri.removeprefix("s3://").split("/", 1)
    body = fleet.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with Image.open(io.BytesIO(body)) as frame:
        assert frame.format == "JPEG" and frame.size[0] == 1280  # frames_image_width
    fleet.consume(expected=2)
    (stored,) = detections.list_detections(fleet.clients, fleet.names.detections_table, camera, 10)
    assert stored.label == "PERSON" and stored.crop_uri is not None
