"""Motion to detections on the whole local stack, through `fleet camera simulate`: the real agent
plays a synthetic scene (stack/cameras/scenes.py) into the local fragment store and publishes its motion;
the bridge starts the camera's stream processor at the motion's producer timestamp; the local
stream processor analyses the fragments; the results consumer stores detections and notifies.

The three scenarios run at once (one agent each), in a module fixture; the tests read what they
left behind: the command's report, the Prefect events, the detections store, S3 and the
notification topic.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from prefect.events.schemas.events import ReceivedEvent

from cloud import detections
from cloud.clients import AwsClients
from cloud.rekognition_messages import DetectionRecord
from cloud.settings import FleetSettings
from flows import runtime
from flows.analyze import AnalysisRequest, analyze_motion
from flows.camera_events import read_camera_events
from services.bridge.motion_gate import GateSettings
from stack.supervisor.models import StackStatus
from tests.e2e.cli import fleet, start_fleet
from tests.support.endpoint_admin import requests_since

Stack = tuple[FleetSettings, StackStatus]
pytestmark = pytest.mark.processors(3)

PERSON, EMPTY, STORM = "scene-person", "scene-empty", "scene-storm"
# (scenario, camera, its session length, seconds the agent runs)
SCENARIOS = (
    ("person", PERSON, "10", "14"),
    ("empty", EMPTY, "10", "14"),
    ("storm", STORM, "8", "24"),
)


@dataclass
class Scenarios:
    settings: FleetSettings
    status: StackStatus
    since: datetime
    reports: dict[str, dict[str, Any]]
    notifications_queue: str

    def events(self, camera: str, *names: str) -> list[ReceivedEvent]:
        return asyncio.run(read_camera_events(camera, names, self.since))


@pytest.fixture(scope="module")
def scenarios(local_stack: Stack) -> Iterator[Scenarios]:
    settings, status = local_stack
    for _, camera, duration, _ in SCENARIOS:
        done = fleet(settings, "camera", "register", camera, "--max-duration", duration)
        assert done.returncode == 0, done.stderr
    queue = _subscribe_to_notifications(settings)
    since = datetime.now(UTC)
    running = {
        camera: start_fleet(
            settings,
            "camera",
            "simulate",
            camera,
            "--scenario",
            scenario,
            "--seconds",
            seconds,
            "--wait-seconds",
            "90",
            "--json",
        )
        for scenario, camera, _, seconds in SCENARIOS
    }
    reports: dict[str, dict[str, Any]] = {}
    try:
        for camera, process in running.items():
            out, err = process.communicate(timeout=180)
            assert process.returncode == 0, err
            reports[camera] = json.loads(out)
    finally:
        for process in running.values():
            if process.poll() is None:
                process.kill()
    yield Scenarios(settings, status, since, reports, queue)


def _subscribe_to_notifications(settings: FleetSettings) -> str:
    """A queue on the fleet's notification topic: where a user's e-mail or phone would be."""
    clients, names = AwsClients(settings), runtime.configure(settings).names
    url = str(clients.sqs.create_queue(QueueName="e2e-user-notifications")["QueueUrl"])
    arn = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    clients.sns.subscribe(
        TopicArn=names.user_notifications_topic_arn(),
        Protocol="sqs",
        Endpoint=arn["Attributes"]["QueueArn"],
    )
    return url


def _notifications(settings: FleetSettings, queue: str, wanted: int) -> list[dict[str, Any]]:
    sqs = AwsClients(settings).sqs
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while len(found) < wanted and time.monotonic() < deadline:
        answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        found.extend(json.loads(m["Body"]) for m in answer.get("Messages", []))
    return found


def _image(settings: FleetSettings, uri: str) -> np.ndarray[Any, Any]:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    got = AwsClients(settings).s3.get_object(Bucket=bucket, Key=key)
    assert got["ContentType"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(got["Body"].read(), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, f"{uri} is not a JPEG"
    return np.asarray(image)


def test_person_is_detected_stored_with_its_images_and_notified(scenarios: Scenarios) -> None:
    report = scenarios.reports[PERSON]
    assert report["agent_exit_code"] == 0 and report["motions"]
    assert report["failed_sessions"] == []
    first = scenarios.events(PERSON, "camera.analysis.started")[0]
    assert first.payload["start_ms"] == report["motions"][0] - GateSettings().preroll_ms

    people = [DetectionRecord.model_validate(d) for d in report["detections"]]
    assert people and {d.label for d in people} == {"PERSON"}
    person = people[-1]  # the first session's
    assert person.session_id == first.payload["session_id"]
    window_start = datetime.fromtimestamp(first.payload["start_ms"] / 1000, UTC)
    assert window_start <= person.detected_at < window_start + timedelta(seconds=10)
    assert person.confidence is not None and 50 <= person.confidence <= 100
    assert person.crop_uri is not None
    frame = _image(scenarios.settings, person.frame_uri)
    crop = _image(scenarios.settings, person.crop_uri)
    assert frame.shape[:2] == (480, 640)
    assert 0 < crop.shape[0] < frame.shape[0] and 0 < crop.shape[1] < frame.shape[1]

    # Stored: `fleet camera events` lists it; notified once (the cooldown holds the others).
    rt = runtime.configure(scenarios.settings)
    stored = detections.list_detections(rt.clients, rt.names.detections_table, PERSON, 10)
    assert person in stored
    assert sorted(d.notification.value for d in people)[0] == "sent"
    (note,) = [
        n
        for n in _notifications(scenarios.settings, scenarios.notifications_queue, 1)
        if n["Subject"] == f"PERSON at {PERSON}"
    ]
    assert note["Message"].startswith(f"PERSON at {PERSON}, ")
    (detection_event, *_) = scenarios.events(PERSON, "camera.detection")
    assert detection_event.payload["labels"] == ["PERSON"]


def test_empty_scene_analyses_video_and_detects_nothing(scenarios: Scenarios) -> None:
    report = scenarios.reports[EMPTY]
    assert report["agent_exit_code"] == 0 and report["motions"]  # there is motion...
    assert report["sessions"] and report["failed_sessions"] == []
    ends = report["session_ends"]
    assert [e["session_id"] for e in ends] == report["sessions"]
    assert all(e["processed_ms"] > 1000 for e in ends)  # ...and video was really analysed
    assert report["detections"] == []  # ...with no person in it
    assert scenarios.events(EMPTY, "camera.detection") == []


def test_storm_coalesces_into_back_to_back_sessions_never_two_at_once(
    scenarios: Scenarios,
) -> None:
    report = scenarios.reports[STORM]
    assert len(report["motions"]) >= 4 and report["failed_sessions"] == []
    coalesced = scenarios.events(STORM, "camera.analysis.coalesced")
    assert coalesced, "motion during a session was not coalesced"
    started = scenarios.events(STORM, "camera.analysis.started")
    # One motion every 4 s into 8 s windows: fewer sessions than motions, none left uncovered.
    assert 2 <= len(started) < len(report["motions"])
    # Continuous activity: each follow-up starts where the previous window ends.
    windows = [(e.payload["start_ms"], e.payload["duration_s"]) for e in started]
    for (start, duration), (following, _) in itertools.pairwise(windows):
        assert following == start + duration * 1000
    assert [e.payload["follow_up"] for e in started[1:]] == [True] * (len(started) - 1)
    # Never two at once: each session started after the previous one's end was reported,
    # and Rekognition never refused a start.
    ends = {e["session_id"]: datetime.fromisoformat(e["ended_at"]) for e in report["session_ends"]}
    for previous, current in itertools.pairwise(started):
        assert ends[previous.payload["session_id"]] <= current.occurred
    rt = runtime.configure(scenarios.settings)
    starts = [
        r
        for r in requests_since(scenarios.status.aws_endpoint)
        if r["operation"] == "StartStreamProcessor"
        and (r.get("params") or {}).get("Name") == rt.names.processor(STORM)
    ]
    assert len(starts) == len(started)
    assert all(r["status"] == 200 for r in starts)


def test_a_start_at_a_past_producer_timestamp_reads_the_video_of_that_moment(
    scenarios: Scenarios,
) -> None:
    """After the person scenario, analyse 4 s from the middle of what the agent recorded: the
    detection's frame is the recorded frame of its producer timestamp, from the right fragment."""
    settings = scenarios.settings
    rt = runtime.configure(settings)
    fragments = sorted(
        int(p.name.removesuffix(".mkv"))
        for p in (settings.stack_dir / "fragments" / PERSON).glob("*.mkv")
    )
    assert len(fragments) >= 5, fragments
    start_ms = fragments[2] + 700  # inside the third fragment, not at its start

    outcome = asyncio.run(
        analyze_motion(AnalysisRequest(camera_id=PERSON, start_ms=start_ms, duration_s=4))
    )

    (session,) = outcome.sessions
    end = _session_end(rt, session)
    assert 3_500 <= (end.processed_ms or 0) <= 4_000
    found = _detections_of(rt, session)
    assert [d.label for d in found] == ["PERSON"]
    person = found[0]
    produced = round(person.detected_at.timestamp() * 1000)
    assert start_ms <= produced < start_ms + 4_000
    assert person.fragment_number is not None
    fragment = int(person.fragment_number)
    assert fragment == max(f for f in fragments if f <= produced)
    store = settings.stack_dir / "fragments" / PERSON
    recorded, stored = _frame_at(store, produced), _image(settings, person.frame_uri)
    assert _difference(recorded, stored) < 4  # the same picture, through JPEG
    later = _frame_at(store, produced + 1000)
    assert _difference(later, stored) > 2 * _difference(recorded, stored)


def _session_end(rt: runtime.Runtime, session: str) -> Any:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        end = detections.get_session_end(rt.clients, rt.names.detections_table, PERSON, session)
        if end is not None:
            return end
        time.sleep(0.5)
    raise AssertionError(f"session {session} has no STREAM_PROCESSING_COMPLETE record")


def _detections_of(rt: runtime.Runtime, session: str) -> list[DetectionRecord]:
    listed = detections.list_detections(rt.clients, rt.names.detections_table, PERSON, 100)
    return [d for d in listed if d.session_id == session]


def _frame_at(store: Path, producer_ms: int) -> np.ndarray[Any, Any]:
    """The recorded frame shown at `producer_ms`: the last one starting at or before it."""
    starts = [int(p.name.removesuffix(".mkv")) for p in store.glob("*.mkv")]
    fragment = max(start for start in starts if start <= producer_ms)
    capture = cv2.VideoCapture(str(store / f"{fragment}.mkv"), cv2.CAP_FFMPEG)
    shown: np.ndarray[Any, Any] | None = None
    try:
        while capture.grab():
            if fragment + round(capture.get(cv2.CAP_PROP_POS_MSEC)) > producer_ms:
                break
            shown = capture.retrieve()[1]
    finally:
        capture.release()
    assert shown is not None, f"no recorded frame at {producer_ms}"
    return shown


def _difference(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())
