"""Local stream processing on real video: scenes -> fragments -> session -> S3 + SNS -> SQS.

The scenes are `stack/cameras/scenes.py`'s, encoded into fragments as the agent records them
(`tests/support/scene_fragments.py`), put in the `video_endpoint`'s fragment store under the
camera's stream name and named by producer timestamp. Everything else goes through the
endpoint's APIs: KVS stream, S3 bucket, SNS topic with an SQS subscription, the processor.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import cv2
import numpy as np
import pytest
from moto.sts.models import sts_backends

from stack.cameras.scenes import write_scene
from stack.endpoint.rekognition.detection import Detection
from stack.endpoint.rekognition.sessions import SessionContext, SessionEndStatus, SessionOutcome
from stack.endpoint.rekognition.video_runner import VideoSessionRunner
from stack.endpoint.rekognition.video_source import Frame, VideoWindow
from stack.endpoint.server import LocalEndpoint
from tests.support.endpoint_admin import endpoint_client
from tests.support.scene_fragments import record_fragments

ACCOUNT = "123456789012"
REGION: Final = "eu-west-1"
SUBJECT = "Rekognition Stream Processing Event"


@dataclass(frozen=True)
class Recording:
    """A scene's fragments, named by their offset in ms from the scene's start."""

    directory: Path

    def place(self, camera_dir: Path, start_ms: int) -> list[Path]:
        camera_dir.mkdir(parents=True, exist_ok=True)
        placed = []
        for fragment in sorted(self.directory.glob("*.mkv"), key=lambda p: int(p.stem)):
            target = camera_dir / f"{start_ms + int(fragment.stem)}.mkv"
            shutil.copyfile(fragment, target)
            placed.append(target)
        return placed

    def fragments(self) -> list[Path]:
        return sorted(self.directory.glob("*.mkv"), key=lambda p: int(p.stem))


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Recording]:
    root = tmp_path_factory.mktemp("scenes")
    made = {}
    for kind in ("person", "empty"):
        scene = write_scene(kind, root / f"{kind}.avi", seconds=10)
        record_fragments(scene, root / kind, start_ms=0)
        made[kind] = Recording(root / kind)
    return made


@dataclass
class Camera:
    """A camera's stream, results bucket, topic with a queue on it, and stream processor."""

    endpoint: LocalEndpoint
    name: str
    bucket: str
    queue_url: str

    @property
    def processor(self) -> str:
        return f"camfleet-{self.name}"

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{ACCOUNT}:role/camfleet-rekognition-{self.name}"

    @property
    def fragment_dir(self) -> Path:
        root = self.endpoint.config.fragment_root
        assert root is not None
        return root / self.name

    def start(self, producer_timestamp_ms: int, seconds: int) -> str:
        response = endpoint_client(
            self.endpoint.url, "rekognition", region=REGION
        ).start_stream_processor(
            Name=self.processor,
            StartSelector={"KVSStreamStartSelector": {"ProducerTimestamp": producer_timestamp_ms}},
            StopSelector={"MaxDurationInSeconds": seconds},
        )
        return str(response["SessionId"])

    def describe(self) -> dict[str, Any]:
        return dict(
            endpoint_client(
                self.endpoint.url, "rekognition", region=REGION
            ).describe_stream_processor(Name=self.processor)
        )

    def wait_until_done(self, timeout: float = 60.0) -> dict[str, Any]:
        """A ceiling: the recordings are decoded as fast as the CPU allows, slower on a busy host."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described = self.describe()
            if described["Status"] != "STARTING":
                return described
            time.sleep(0.1)
        raise AssertionError(f"{self.processor} still STARTING after {timeout}s")

    def messages(self, until_type: str = "STREAM_PROCESSING_COMPLETE") -> list[dict[str, Any]]:
        """The notifications delivered to the queue, up to the first of `until_type`."""
        sqs = endpoint_client(self.endpoint.url, "sqs", region=REGION)
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            batch = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            for raw in batch:
                envelope = json.loads(raw["Body"])
                assert envelope["Subject"] == SUBJECT
                found.append(json.loads(envelope["Message"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=raw["ReceiptHandle"])
            if any(m["eventNamespace"]["type"] == until_type for m in found):
                return found
        raise AssertionError(f"no {until_type} among {found}")

    def objects(self) -> dict[str, bytes]:
        s3 = endpoint_client(self.endpoint.url, "s3", region=REGION)
        listed = s3.list_objects_v2(Bucket=self.bucket).get("Contents", [])
        return {
            o["Key"]: s3.get_object(Bucket=self.bucket, Key=o["Key"])["Body"].read() for o in listed
        }


@pytest.fixture
def camera(video_endpoint: LocalEndpoint) -> Iterator[Camera]:
    name = f"cam-{uuid.uuid4().hex[:8]}"
    kvs = endpoint_client(video_endpoint.url, "kinesisvideo", region=REGION)
    s3 = endpoint_client(video_endpoint.url, "s3", region=REGION)
    sns = endpoint_client(video_endpoint.url, "sns", region=REGION)
    sqs = endpoint_client(video_endpoint.url, "sqs", region=REGION)
    stream_arn = kvs.create_stream(StreamName=name, DataRetentionInHours=24)["StreamARN"]
    bucket = f"results-{name}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    topic_arn = sns.create_topic(Name=f"fleet-{name}")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"results-{name}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    cam = Camera(video_endpoint, name, bucket, queue_url)
    endpoint_client(video_endpoint.url, "rekognition", region=REGION).create_stream_processor(
        Name=cam.processor,
        Input={"KinesisVideoStream": {"Arn": stream_arn}},
        Output={"S3Destination": {"Bucket": bucket, "KeyPrefix": f"cameras/{name}"}},
        RoleArn=cam.role_arn,
        Settings={"ConnectedHome": {"Labels": ["PERSON", "PET"], "MinConfidence": 50}},
        NotificationChannel={"SNSTopicArn": topic_arn},
        Tags={"camera": name},
    )
    yield cam
    endpoint_client(video_endpoint.url, "rekognition", region=REGION).stop_stream_processor(
        Name=cam.processor
    )


def of_type(messages: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in messages if m["eventNamespace"]["type"] == kind]


def past_ms(seconds: float) -> int:
    return int((time.time() - seconds) * 1000)


def test_the_endpoint_analyses_video_when_it_knows_the_fragment_store(
    video_endpoint: LocalEndpoint, local_endpoint: LocalEndpoint
) -> None:
    assert isinstance(video_endpoint.rekognition.runner, VideoSessionRunner)
    assert not isinstance(local_endpoint.rekognition.runner, VideoSessionRunner)


def test_a_person_is_detected_once_with_frame_and_crop_in_s3(
    camera: Camera, recordings: dict[str, Recording]
) -> None:
    base = past_ms(120)
    recordings["person"].place(camera.fragment_dir, base)
    session = camera.start(base + 500, seconds=8)
    assert camera.describe()["Status"] == "STARTING"

    described = camera.wait_until_done()
    messages = camera.messages()

    assert described["Status"] == "STOPPED"
    detected = of_type(messages, "LABEL_DETECTED")
    assert len(detected) == 1, messages
    (label,) = detected[0]["labels"]
    assert label["name"] == "PERSON"
    assert 50 <= label["confidence"] <= 100
    box = label["boundingBox"]
    assert 0 <= box["left"] < 1 and 0 <= box["top"] < 1 and box["width"] > 0 and box["height"] > 0
    mapping = label["videoMapping"]["kinesisVideoMapping"]
    frame_ms = mapping["producerTimestamp"] + mapping["frameOffsetMillis"]
    assert base + 500 <= frame_ms < base + 8500
    assert detected[0]["sessionId"] == session
    assert detected[0]["tags"] == {"camera": camera.name}
    assert detected[0]["startStreamProcessorRequest"]["name"] == camera.processor

    prefix = f"cameras/{camera.name}/{camera.processor}/{session}/"
    objects = camera.objects()
    assert set(objects) == {
        label["frameImageUri"].removeprefix(f"s3://{camera.bucket}/"),
        label["croppedImageUri"].removeprefix(f"s3://{camera.bucket}/"),
    }
    assert all(key.startswith(prefix) for key in objects)
    frame = cv2.imdecode(
        np.frombuffer(objects[label["frameImageUri"].split("/", 3)[3]], np.uint8), 1
    )
    crop = cv2.imdecode(
        np.frombuffer(objects[label["croppedImageUri"].split("/", 3)[3]], np.uint8), 1
    )
    assert frame is not None and frame.shape == (480, 640, 3)
    assert crop is not None and 0 < crop.shape[0] * crop.shape[1] < 640 * 480

    (complete,) = of_type(messages, "STREAM_PROCESSING_COMPLETE")
    processed = complete["inputInformation"]["kinesisVideo"]["processedVideoDurationMillis"]
    assert 7_500 <= processed <= 8_000
    assert complete["sessionId"] == session


def test_the_empty_scene_completes_without_a_detection(
    camera: Camera, recordings: dict[str, Recording]
) -> None:
    base = past_ms(120)
    recordings["empty"].place(camera.fragment_dir, base)
    camera.start(base, seconds=10)

    assert camera.wait_until_done()["Status"] == "STOPPED"
    messages = camera.messages()
    assert of_type(messages, "LABEL_DETECTED") == []
    (complete,) = of_type(messages, "STREAM_PROCESSING_COMPLETE")
    assert complete["inputInformation"]["kinesisVideo"]["processedVideoDurationMillis"] >= 9_500
    assert camera.objects() == {}


def test_a_start_where_there_is_no_video_says_so(
    camera: Camera, recordings: dict[str, Recording]
) -> None:
    base = past_ms(120)
    recordings["person"].place(camera.fragment_dir, base)
    camera.start(base - 3_600_000, seconds=10)  # an hour before the camera recorded anything

    described = camera.wait_until_done(timeout=30)
    assert described["Status"] == "STOPPED"
    assert "No video" in described["StatusMessage"]
    (complete,) = of_type(camera.messages(), "STREAM_PROCESSING_COMPLETE")
    assert complete["inputInformation"]["kinesisVideo"]["processedVideoDurationMillis"] == 0
    assert "No video" in complete["streamProcessingResults"]["message"]


def test_a_live_start_reads_fragments_as_they_are_written(
    camera: Camera, recordings: dict[str, Recording]
) -> None:
    """Start at "now", before the video exists: fragments appear as `.partial`, half written,
    then complete, every 2 s, as the agent writes them."""
    start = past_ms(0.2)
    fragments = recordings["person"].fragments()
    camera.fragment_dir.mkdir(parents=True)
    camera.start(start, seconds=5)

    def write_live() -> None:
        for fragment in fragments[:4]:
            begins = start + int(fragment.stem)
            partial = camera.fragment_dir / f"{begins}.mkv.partial"
            data = fragment.read_bytes()
            partial.write_bytes(data[: len(data) // 2])
            time.sleep(max(0.0, (begins + 2000) / 1000 - time.time()))
            partial.write_bytes(data)
            partial.rename(camera.fragment_dir / f"{begins}.mkv")

    writer = threading.Thread(target=write_live, daemon=True)
    writer.start()
    assert camera.describe()["Status"] == "STARTING"
    described = camera.wait_until_done()
    writer.join(10)

    assert described["Status"] == "STOPPED", described
    messages = camera.messages()
    (detected,) = of_type(messages, "LABEL_DETECTED")
    mapping = detected["labels"][0]["videoMapping"]["kinesisVideoMapping"]
    assert start <= mapping["producerTimestamp"] + mapping["frameOffsetMillis"] < start + 5_000
    (complete,) = of_type(messages, "STREAM_PROCESSING_COMPLETE")
    processed = complete["inputInformation"]["kinesisVideo"]["processedVideoDurationMillis"]
    assert 4_500 <= processed <= 5_000


def test_stop_ends_a_session_early(camera: Camera, video_endpoint: LocalEndpoint) -> None:
    runner = video_endpoint.rekognition.runner
    assert isinstance(runner, VideoSessionRunner)
    session = camera.start(past_ms(0), seconds=60)  # live, and no video comes
    time.sleep(0.5)
    assert session in runner.active_sessions()

    endpoint_client(video_endpoint.url, "rekognition", region=REGION).stop_stream_processor(
        Name=camera.processor
    )

    assert camera.describe()["Status"] == "STOPPED"
    deadline = time.monotonic() + 3
    while session in runner.active_sessions():
        assert time.monotonic() < deadline, "the session's thread did not end"
        time.sleep(0.05)
    (complete,) = of_type(camera.messages(), "STREAM_PROCESSING_COMPLETE")
    assert complete["streamProcessingResults"]["message"].startswith("Stopped")


def test_a_session_assumes_its_role_at_its_first_write_and_the_next_one_reuses_it(
    camera: Camera, video_endpoint: LocalEndpoint
) -> None:
    """Assuming it at every start had a storm's starts queue behind a hundred STS calls."""

    def assumed_for() -> list[str]:
        return [
            role.session_name
            for role in sts_backends[ACCOUNT]["aws"].assumed_roles
            if role.role_arn == camera.role_arn
        ]

    first = camera.start(past_ms(0), seconds=60)  # live, and no video comes: nothing to write
    time.sleep(1.0)
    assert camera.describe()["Status"] == "STARTING"
    assert assumed_for() == []

    endpoint_client(video_endpoint.url, "rekognition", region=REGION).stop_stream_processor(
        Name=camera.processor
    )
    camera.messages()  # its STREAM_PROCESSING_COMPLETE, published as the role
    assert assumed_for() == [f"rekognition-{first}"]

    camera.start(past_ms(0), seconds=1)
    assert camera.wait_until_done()["Status"] == "STOPPED"
    camera.messages()
    assert assumed_for() == [f"rekognition-{first}"]


def test_video_that_cannot_be_decoded_fails_the_session(camera: Camera) -> None:
    base = past_ms(120)
    camera.fragment_dir.mkdir(parents=True)
    (camera.fragment_dir / f"{base}.mkv").write_bytes(b"\x1a\x45\xdf\xa3 not really matroska" * 50)
    camera.start(base, seconds=5)

    described = camera.wait_until_done(timeout=30)
    assert described["Status"] == "FAILED"
    assert "could not be decoded" in described["StatusMessage"]


def test_results_that_cannot_be_written_fail_the_session(
    camera: Camera, recordings: dict[str, Recording], video_endpoint: LocalEndpoint
) -> None:
    base = past_ms(120)
    recordings["person"].place(camera.fragment_dir, base)
    endpoint_client(video_endpoint.url, "s3", region=REGION).delete_bucket(Bucket=camera.bucket)
    camera.start(base, seconds=8)

    described = camera.wait_until_done()
    assert described["Status"] == "FAILED"
    assert "NoSuchBucket" in described["StatusMessage"]


def test_a_fragment_being_written_is_read_as_it_grows(
    tmp_path: Path, recordings: dict[str, Recording]
) -> None:
    """Frames of a `.partial` fragment come before it is complete, none twice, none lost."""
    fragment = recordings["person"].fragments()[0]
    data = fragment.read_bytes()
    start = 1_700_000_000_000
    partial = tmp_path / f"{start}.mkv.partial"
    partial.write_bytes(data[: len(data) * 2 // 5])
    now = [start]  # the producer's clock: the window's deadline passes when the test says so
    stop = threading.Event()
    window = VideoWindow(
        tmp_path,
        start,
        start + 2_000,
        sample_interval_ms=1,  # every frame
        grace_ms=1_000,
        stop=stop,
        clock=lambda: now[0],
        poll_seconds=0.05,
    )
    frames: list[Frame] = []
    reader = threading.Thread(target=lambda: frames.extend(window.frames()), daemon=True)
    reader.start()
    deadline = time.monotonic() + 5
    while not frames and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    early = len(frames)
    assert 0 < early < 30, "no frame of the partial fragment, or all of them"

    partial.write_bytes(data)
    partial.rename(tmp_path / f"{start}.mkv")
    time.sleep(0.5)
    now[0] = start + 10_000
    reader.join(5)
    stop.set()

    assert not reader.is_alive()
    offsets = [frame.offset_ms for frame in frames]
    assert len(offsets) == 30 and offsets == sorted(set(offsets))  # 2 s at 15 fps, once each
    assert window.frames_read == 30
    assert 1_900 <= window.processed_ms <= 2_000
    # A frame cut short by the partial file's end was not taken: every one decodes as whole.
    whole = decode_all(tmp_path / f"{start}.mkv")
    for frame, reference in zip(frames, whole, strict=True):
        assert np.abs(frame.image.astype(int) - reference.astype(int)).mean() < 1.0


def decode_all(path: Path) -> list[np.ndarray[Any, Any]]:
    capture = cv2.VideoCapture(str(path))
    images: list[np.ndarray[Any, Any]] = []
    while True:
        ok, image = capture.read()
        if not ok:
            return images
        images.append(image)


class RecordingSink:
    """Results kept in memory: the runner without an endpoint."""

    def __init__(self) -> None:
        self.images: dict[str, bytes] = {}
        self.messages: list[dict[str, Any]] = []

    def put_jpeg(self, bucket: str, key: str, body: bytes) -> None:
        self.images[f"{bucket}/{key}"] = body

    def publish(self, topic_arn: str, subject: str, message: str) -> None:
        assert subject == SUBJECT
        self.messages.append(json.loads(message))


class BrokenDetector:
    def detect(self, image: np.ndarray[Any, Any]) -> list[Detection]:
        raise RuntimeError("the detector broke")


def session_context(labels: list[str], start_ms: int, seconds: int = 4) -> SessionContext:
    return SessionContext(
        session_id=str(uuid.uuid4()),
        processor_name="camfleet-porch",
        processor_arn=f"arn:aws:rekognition:eu-west-1:{ACCOUNT}:streamprocessor/camfleet-porch",
        account_id=ACCOUNT,
        region=REGION,
        kvs_stream_arn=f"arn:aws:kinesisvideo:eu-west-1:{ACCOUNT}:stream/porch/1700000000000",
        producer_timestamp_ms=start_ms,
        fragment_number=None,
        max_duration_seconds=seconds,
        started_at=dt.datetime.now(dt.UTC),
        settings={"ConnectedHome": {"Labels": labels}},
        output={"S3Destination": {"Bucket": "b", "KeyPrefix": "cameras/porch"}},
        notification_channel={"SNSTopicArn": f"arn:aws:sns:eu-west-1:{ACCOUNT}:camfleet"},
    )


def run_session(runner: VideoSessionRunner, context: SessionContext) -> SessionOutcome:
    ended: list[SessionOutcome] = []
    done = threading.Event()

    def on_end(session_id: str, outcome: SessionOutcome) -> None:
        assert session_id == context.session_id
        ended.append(outcome)
        done.set()

    runner.start(context, on_end)
    assert done.wait(20), "the session never ended"
    return ended[0]


def test_a_broken_detector_fails_its_session_only(
    tmp_path: Path, recordings: dict[str, Recording]
) -> None:
    start = past_ms(120)
    recordings["person"].place(tmp_path / "porch", start)
    sink = RecordingSink()
    broken = VideoSessionRunner(
        tmp_path, lambda context: sink, detector_factory=lambda labels: BrokenDetector()
    )
    outcome = run_session(broken, session_context(["PERSON"], start))
    assert outcome.status is SessionEndStatus.FAILED
    assert outcome.message == "internal error: the detector broke"
    assert broken.active_sessions() == []

    working = VideoSessionRunner(tmp_path, lambda context: sink)
    assert (
        run_session(working, session_context(["PERSON"], start)).status is SessionEndStatus.STOPPED
    )
    assert [m["eventNamespace"]["type"] for m in sink.messages] == [
        "LABEL_DETECTED",
        "STREAM_PROCESSING_COMPLETE",
    ]


def test_labels_not_detected_locally_are_never_reported(
    tmp_path: Path, recordings: dict[str, Recording]
) -> None:
    start = past_ms(120)
    recordings["person"].place(tmp_path / "porch", start)
    sink = RecordingSink()
    runner = VideoSessionRunner(tmp_path, lambda context: sink)
    outcome = run_session(runner, session_context(["PET", "PACKAGE"], start))
    assert outcome.status is SessionEndStatus.STOPPED
    assert [m["eventNamespace"]["type"] for m in sink.messages] == ["STREAM_PROCESSING_COMPLETE"]
    assert sink.images == {}


def test_a_fragment_renamed_while_it_is_opened_is_read_under_its_new_name(
    tmp_path: Path, recordings: dict[str, Recording], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent finishes a fragment (`.partial` -> `.mkv`) between the reader's look and its
    open: the reader finds it again instead of failing the session."""
    fragment = recordings["person"].fragments()[0]
    start = 1_700_000_000_000
    partial = tmp_path / f"{start}.mkv.partial"
    shutil.copyfile(fragment, partial)
    decode = VideoWindow._decode

    def finished_in_between(
        window: VideoWindow, current: Any, path: Path, taken: int, hold_last: bool
    ) -> Any:
        if path == partial:
            partial.rename(tmp_path / f"{start}.mkv")
        return decode(window, current, path, taken, hold_last)

    monkeypatch.setattr(VideoWindow, "_decode", finished_in_between)
    window = VideoWindow(
        tmp_path,
        start,
        start + 2_000,
        sample_interval_ms=1,
        grace_ms=0,
        stop=threading.Event(),
        clock=lambda: start + 10_000,  # past the window: read what is there and end
        poll_seconds=0.05,
    )

    frames = list(window.frames())

    assert [f.fragment.partial for f in frames[:1]] == [False]
    assert len(frames) == 30 and window.frames_read == 30
