"""The frames analyzer end to end, on a local stack of its own: `fleet init --analyzer frames`,
the real agents playing the synthetic scenes (stack/cameras/scenes.py), the bridge claiming and
queuing sessions, the stack's analysis worker (KVS GetImages, Rekognition DetectLabels) and the
results consumer turning its messages into records, notifications and Prefect events.

The `runs` fixture works the sessions once, in three phases, and the tests read what they left:
1. a person session whose worker is SIGKILLed while it works it; the worker is started again
   (`up`), and the session's message comes back after its visibility timeout (60 s), while the
   next phases run;
2. a person session while DetectLabels is throttled, alone until the throttles are given;
3. at once, one agent each: storm, person, empty, and person behind a region of interest that
   excludes them; meanwhile a session of a camera whose agent never ran (NO_MEDIA).
The last test switches the fleet to stream processors and back; it needs only the cameras.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import psutil
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.events.schemas.events import ReceivedEvent

from cloud import clip_store, detections, registry
from cloud.analysis import frames_table
from cloud.analysis.control import FramesSessions
from cloud.analysis.detect import detect_labels
from cloud.analysis.images import ImageFormat, StreamImages
from cloud.analysis.models import FramesCamera
from cloud.analysis.regions import in_regions
from cloud.clip_store import ClipState
from cloud.gallery import gallery_key
from cloud.models import (
    BoundingBox,
    CameraRecord,
    CameraSpec,
    Label,
    ProcessorStatus,
    RegionOfInterest,
)
from cloud.rekognition_messages import (
    DetectionRecord,
    NotificationState,
    SessionEndRecord,
    readable_utc,
)
from cloud.settings import FleetSettings
from cloud.teardown.models import Kind
from device.messages import now_ms
from flows import runtime
from flows.analyze import AnalysisOutcome, AnalysisRequest, analyze_motion
from flows.camera_events import read_camera_events
from flows.events import ANALYSIS_COALESCED, ANALYSIS_FAILED, ANALYSIS_STARTED, DETECTION
from services.bridge.motion_gate import Verdict
from services.results_consumer.decisions import notification_subject, notification_text
from stack.supervisor.layout import PartName, StackLayout
from stack.supervisor.local_stack import status, up
from stack.supervisor.models import StackStatus
from tests.e2e.cli import fleet_json
from tests.e2e.stacks import make_room, prefect_environment, running_stack
from tests.support.endpoint_admin import clear_faults, inject_fault, last_seq, requests_since
from tests.support.frames import (
    Agents,
    Inbox,
    analysis_requests,
    wait_for,
    wait_until_the_bridge_follows,
    wait_until_the_worker_polls,
)

# The fixture's phases take about three minutes: more than the default limit of a test.
pytestmark = pytest.mark.timeout(600)

PERSON, EMPTY, STORM, REGION = "fr-person", "fr-empty", "fr-storm", "fr-region"
NO_VIDEO, CRASH, THROTTLED = "fr-novideo", "fr-crash", "fr-throttled"
# A corner the person scene's person never reaches: the local detector's head-and-shoulders
# boxes of that scene are centred between 39 % and 87 % of the frame's height.
CORNER = RegionOfInterest(box=BoundingBox(left=0, top=0, width=0.3, height=0.25))
# Each camera's session length. The killed session's camera has a long one: its analyze-motion
# run waits the session's length plus 60 s, and the session ends only after its redelivery, a
# minute after it was first received, and its analysis then.
SESSION_S = {
    PERSON: 10,
    EMPTY: 10,
    STORM: 8,
    REGION: 10,
    NO_VIDEO: 10,
    CRASH: 60,
    THROTTLED: 10,
}
# Phase 3: (camera, scene, seconds its agent runs), the longest first.
AT_ONCE = (
    (STORM, "storm", 24),
    (PERSON, "person", 14),
    (EMPTY, "empty", 14),
    (REGION, "person", 14),
)
THROTTLES = 3  # botocore's standard mode tries a call 8 times
SQS_LONGEST_POLL_S = 20
NO_VIDEO_S = 4
_STARTED, _COALESCED, _FAILED, _DETECTION = (
    ANALYSIS_STARTED.name,
    ANALYSIS_COALESCED.name,
    ANALYSIS_FAILED.name,
    DETECTION.name,
)


@dataclass
class FramesFleet:
    settings: FleetSettings
    status: StackStatus
    rt: runtime.Runtime
    inbox: Inbox
    since: datetime  # the cameras' events from here on are the module's

    @property
    def endpoint(self) -> str:
        return self.status.aws_endpoint

    def events(self, camera: str, *names: str) -> list[ReceivedEvent]:
        return asyncio.run(read_camera_events(camera, names, self.since))

    def item(self, camera: str) -> FramesCamera | None:
        """The camera's item in the analysis table: its regions and current session."""
        return frames_table.read_camera(self.rt.clients, self.rt.names.analysis_table, camera)

    def detections(self, camera: str, session: str | None = None) -> list[DetectionRecord]:
        found = detections.list_detections(
            self.rt.clients, self.rt.names.detections_table, camera, 100
        )
        return [d for d in found if session is None or d.session_id == session]

    def session_end(self, camera: str, session: str, timeout: float = 20) -> SessionEndRecord:
        table = self.rt.names.detections_table
        return wait_for(
            f"the end of session {session} of {camera}",
            lambda: detections.get_session_end(self.rt.clients, table, camera, session),
            timeout,
        )

    def notified(self, camera: str, session: str) -> list[DetectionRecord]:
        """The session's detections, once the results consumer has decided their notification."""

        def decided() -> list[DetectionRecord] | None:
            found = self.detections(camera, session)
            pending = any(d.notification is NotificationState.PENDING for d in found)
            return found if found and not pending else None

        return wait_for(f"the notification of {camera}'s detections", decided, 20)

    def only_notification(self, detection: DetectionRecord) -> None:
        """The detection's notification is the camera's one and only."""
        (note,) = self.inbox.settled(detection.camera_id)
        assert note["Subject"] == notification_subject(detection)
        text, link, clip = note["Message"].splitlines()
        assert text == notification_text(detection)
        assert (
            link.startswith(f"Frame: {self.settings.endpoint_url}/") and "X-Amz-Signature=" in link
        )
        assert clip.startswith(f"Clip (when the event ends): {self.settings.endpoint_url}/")

    def analyzer_log(self) -> str:
        return StackLayout(self.settings.stack_dir).log_file(PartName.ANALYZER).read_text()


@pytest.fixture(scope="module")
def frames_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FramesFleet]:
    """A stack of its own, its fleet on the frames analyzer, the cameras registered. The stack's
    logs are kept in a `frames-stack-logs` folder beside its (wiped) home."""
    home = tmp_path_factory.mktemp("frames-home")
    with running_stack(home) as (settings, stack_status), prefect_environment(settings):
        try:
            record = fleet_json(settings, "init", "--analyzer", "frames")
            assert record["analyzer"] == "frames" and record["frames"] is not None, record
            listing = home / "cameras.json"
            listing.write_text(
                json.dumps(
                    [
                        CameraSpec(
                            camera_id=camera,
                            max_duration_seconds=seconds,
                            regions_of_interest=(CORNER,) if camera == REGION else (),
                        ).model_dump(mode="json")
                        for camera, seconds in SESSION_S.items()
                    ]
                )
            )
            outcomes = fleet_json(settings, "camera", "register", "--many", str(listing))
            assert [(o["camera_id"], o["error"]) for o in outcomes] == [
                (camera, None) for camera in sorted(SESSION_S)
            ]
            assert all(o["result"]["processor_arn"] is None for o in outcomes)
            rt = runtime.configure(settings)
            inbox = Inbox(rt.clients, rt.names.user_notifications_topic_arn(), sorted(SESSION_S))
            wait_until_the_bridge_follows(settings, "frames")
            yield FramesFleet(settings, stack_status, rt, inbox, datetime.now(UTC))
        finally:
            logs = tmp_path_factory.mktemp("frames-stack-logs")
            shutil.copytree(StackLayout(settings.stack_dir).logs_dir, logs, dirs_exist_ok=True)


# The sessions.


@dataclass
class Crash:
    session_id: str
    killed_pid: int
    item_after_kill: FramesCamera | None
    restarted: StackStatus


@dataclass
class Runs:
    reports: dict[str, dict[str, Any]]  # each simulated camera's `fleet camera simulate` report
    crash: Crash
    crash_end: SessionEndRecord
    detect_calls: list[dict[str, Any]]  # the DetectLabels requests since the throttles were armed
    no_video: AnalysisOutcome
    no_video_start_ms: int


@pytest.fixture(scope="module")
def runs(frames_fleet: FramesFleet, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    ff = frames_fleet
    agents = Agents(ff.settings, tmp_path_factory.mktemp("frames-agents"))
    try:
        # 1. Its session comes back a minute later, while 2. and 3. run.
        crash = _kill_the_worker_mid_session(ff, agents)
        # 2.
        throttled_from = _throttle_a_person_session(ff, agents)
        # 3. The agents, and meanwhile, in this process, a session of the camera that streams
        # nothing, from a moment ago (as a motion's preroll asks).
        for camera, scene, seconds in AT_ONCE:
            agents.start(camera, scene, seconds, 90)
        start_ms = now_ms() - ff.settings.analysis_preroll_ms
        request = AnalysisRequest(camera_id=NO_VIDEO, start_ms=start_ms, duration_s=NO_VIDEO_S)
        no_video = asyncio.run(analyze_motion(request))
        reports = agents.reports()
    finally:
        agents.kill()
    detect_calls = [
        r for r in requests_since(ff.endpoint, throttled_from) if r["operation"] == "DetectLabels"
    ]
    crash_end = ff.session_end(CRASH, crash.session_id, timeout=120)
    return Runs(reports, crash, crash_end, detect_calls, no_video, start_ms)


def _kill_the_worker_mid_session(ff: FramesFleet, agents: Agents) -> Crash:
    """SIGKILL the analysis worker once it works the camera's session, then `up` again.

    Returns once the killed worker's last long poll has run out at the endpoint: a message sent
    before then would be handed to that poll, whose client is gone, and would come back only
    after its visibility timeout, as SQS does with a receive nobody reads."""
    wait_until_the_worker_polls(ff.settings)
    agents.start(CRASH, "person", 10, 0)

    def worked() -> FramesCamera | None:
        item = ff.item(CRASH)
        return item if item is not None and item.status is ProcessorStatus.RUNNING else None

    item = wait_for(f"a worker to work the session of {CRASH}", worked, 90, every=0.1)
    assert item.session is not None
    worker = psutil.Process(status(ff.settings).part(PartName.ANALYZER).pid)
    worker.kill()
    killed_at = time.monotonic()
    worker.wait(10)
    after_kill = ff.item(CRASH)
    restarted = up(ff.settings)
    time.sleep(max(0.0, killed_at + SQS_LONGEST_POLL_S + 1 - time.monotonic()))
    return Crash(item.session.session_id, worker.pid, after_kill, restarted)


def _throttle_a_person_session(ff: FramesFleet, agents: Agents) -> int:
    """Arm THROTTLES ThrottlingExceptions on DetectLabels, start a person scene and return once
    they have been given (to its session: nothing else calls DetectLabels meanwhile). Returns
    the request log's sequence number from before they were armed."""
    before = last_seq(ff.endpoint)
    inject_fault(ff.endpoint, "rekognition", "DetectLabels", "ThrottlingException", count=THROTTLES)
    try:
        agents.start(THROTTLED, "person", 10, 60)

        def given() -> bool | None:
            calls = requests_since(ff.endpoint, before)
            injected = [c for c in calls if c["operation"] == "DetectLabels" and c["injected"]]
            return True if len(injected) >= THROTTLES else None

        wait_for("the throttles to be given", given, 90)
    finally:
        clear_faults(ff.endpoint)
    return before


def _image(ff: FramesFleet, uri: str) -> np.ndarray[Any, Any]:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    got = ff.rt.clients.s3.get_object(Bucket=bucket, Key=key)
    assert got["ContentType"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(got["Body"].read(), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, f"{uri} is not a JPEG"
    return np.asarray(image)


# The tests.


def test_person_is_detected_stored_with_its_images_and_notified(
    frames_fleet: FramesFleet, runs: Runs
) -> None:
    ff, report = frames_fleet, runs.reports[PERSON]
    assert report["agent_exit_code"] == 0 and report["motions"]
    assert report["failed_sessions"] == []
    first = ff.events(PERSON, _STARTED)[0]
    session = first.payload["session_id"]
    assert first.payload["start_ms"] == report["motions"][0] - ff.settings.analysis_preroll_ms
    assert first.payload["duration_s"] == SESSION_S[PERSON]

    # The session completed, having analysed its window.
    end = SessionEndRecord.model_validate(report["session_ends"][0])
    assert end.session_id == session and (end.processed_ms or 0) > 1000

    # One PERSON detection, in the window, its frame and crop where a processor puts them.
    (person,) = [
        DetectionRecord.model_validate(d)
        for d in report["detections"]
        if d["session_id"] == session
    ]
    assert person.label == "PERSON" and person.processor == ff.rt.names.processor(PERSON)
    window_start = datetime.fromtimestamp(first.payload["start_ms"] / 1000, UTC)
    assert window_start <= person.detected_at < window_start + timedelta(seconds=10)
    assert person.confidence is not None and 50 <= person.confidence <= 100
    assert f"/{person.processor}/{session}/" in person.frame_uri
    assert person.crop_uri is not None and person.box is not None
    frame, crop = _image(ff, person.frame_uri), _image(ff, person.crop_uri)
    width = ff.settings.frames_image_width
    assert frame.shape[:2] == (width * 3 // 4, width)  # the scene's 4:3, at the width asked for
    assert 0 < crop.shape[0] < frame.shape[0] and 0 < crop.shape[1] < frame.shape[1]

    # Stored: `fleet camera events` lists it; notified once, on the user's topic.
    listed = fleet_json(ff.settings, "camera", "events", PERSON)
    frame_urls = [d.pop("frame_url") for d in listed]  # beside each record: made when listed
    assert all(d.pop("frame_url_expires_at") for d in listed)
    for d in listed:  # the clips: test_a_person_session_gets_a_clip_and_a_gallery_entry
        for key in ("clip_state", "clip_reason", "clip_url", "clip_url_expires_at"):
            d.pop(key)
    assert not any(d.pop("media_expired") for d in listed) and all(
        d.pop("media_expires_at") for d in listed
    )
    assert person in [DetectionRecord.model_validate(d) for d in listed]
    assert all(url.startswith(f"{ff.settings.endpoint_url}/") for url in frame_urls)
    (decided,) = ff.notified(PERSON, session)
    assert decided.notification is NotificationState.SENT
    ff.only_notification(decided)
    detected = [e for e in ff.events(PERSON, _DETECTION) if e.payload["session_id"] == session]
    assert [e.payload["labels"] for e in detected] == [["PERSON"]]
    assert detected[0].payload["frame_uri"] == person.frame_uri

    # The session is an analyze-motion flow run.
    requests = asyncio.run(analysis_requests(PERSON))
    assert [r.session_id for r in requests].count(session) == 1


def test_a_person_session_gets_a_clip_and_a_gallery_entry(
    frames_fleet: FramesFleet, runs: Runs, tmp_path: Path
) -> None:
    ff, report = frames_fleet, runs.reports[PERSON]
    end = SessionEndRecord.model_validate(report["session_ends"][0])
    (person,) = ff.detections(PERSON, end.session_id)
    table = ff.rt.names.detections_table
    clip = wait_for(
        f"the clip of session {end.session_id}",
        lambda: clip_store.get_clip_record(ff.rt.clients, table, PERSON, end.session_id),
        60,
    )
    assert clip.state is ClipState.MADE, clip.reason
    assert clip.uri == clip_store.clip_uri(person)
    assert clip.start <= person.detected_at - timedelta(seconds=1) and person.detected_at < clip.end

    # `fleet camera events` links it; the link serves an MP4 of the session's video, as a
    # browser gets it (no credentials).
    (listed,) = [
        d
        for d in fleet_json(ff.settings, "camera", "events", PERSON)
        if d["session_id"] == end.session_id
    ]
    assert listed["clip_state"] == "made"
    with urllib.request.urlopen(listed["clip_url"], timeout=10) as answer:
        video = answer.read()
    assert video[4:8] == b"ftyp" and len(video) == clip.size_bytes
    saved = tmp_path / "clip.mp4"
    saved.write_bytes(video)
    capture = cv2.VideoCapture(str(saved))
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    seconds = frames / capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    # Whole fragments (2 s) of the video there is in the window: at least the video the session
    # analysed (less a fragment), at most the window and the fragments at its ends.
    window = (clip.end - clip.start).total_seconds()
    analysed = (end.processed_ms or 0) / 1000
    assert analysed - 2 <= seconds <= window + 2 * 2 + 1, (seconds, analysed, window)

    # The camera's gallery in Prefect shows the detection, with a thumbnail and the clip.
    def gallery() -> str | None:
        with get_client(sync_client=True) as client:
            found = client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[gallery_key(PERSON)]))
            )
        markdown = str(found[0].data) if found else ""
        shown = readable_utc(person.detected_at)[:16] in markdown
        return markdown if shown and "clip (pending)" not in markdown else None

    markdown = wait_for(f"{PERSON}'s gallery", gallery, 30)
    assert "<img" in markdown and "clip.mp4" in markdown


def test_empty_scene_analyses_video_and_detects_nothing(
    frames_fleet: FramesFleet, runs: Runs
) -> None:
    ff, report = frames_fleet, runs.reports[EMPTY]
    assert report["agent_exit_code"] == 0 and report["motions"]  # there is motion...
    assert report["sessions"] and report["failed_sessions"] == []
    ends = report["session_ends"]
    assert [e["session_id"] for e in ends] == report["sessions"]
    assert all(e["processed_ms"] > 1000 for e in ends)  # ...and video was really analysed
    assert report["detections"] == [] and ff.detections(EMPTY) == []  # ...with no person in it
    assert ff.events(EMPTY, _DETECTION) == []
    assert ff.inbox.settled(EMPTY) == []
    # No clip for its sessions, no gallery for the camera.
    table = ff.rt.names.detections_table
    assert [
        clip_store.get_clip_record(ff.rt.clients, table, EMPTY, e["session_id"]) for e in ends
    ] == [None] * len(ends)
    with get_client(sync_client=True) as client:
        key = ArtifactFilterKey(any_=[gallery_key(EMPTY)])
        assert client.read_artifacts(artifact_filter=ArtifactFilter(key=key)) == []


def test_storm_coalesces_into_back_to_back_sessions_never_two_at_once(
    frames_fleet: FramesFleet, runs: Runs
) -> None:
    ff, report = frames_fleet, runs.reports[STORM]
    assert len(report["motions"]) >= 4 and report["failed_sessions"] == []
    coalesced = ff.events(STORM, _COALESCED)
    assert coalesced, "motion during a session was not coalesced"
    started = ff.events(STORM, _STARTED)
    # One motion every 4 s into 8 s windows: fewer sessions than motions, none left uncovered.
    assert 2 <= len(started) < len(report["motions"])
    # Continuous activity: each follow-up starts where the previous window ends.
    windows = [(e.payload["start_ms"], e.payload["duration_s"]) for e in started]
    for (start, duration), (following, _) in itertools.pairwise(windows):
        assert following == start + duration * 1000
    assert [e.payload["follow_up"] for e in started[1:]] == [True] * (len(started) - 1)
    # Never two at once: each session ended before the next one started, and no claim of the
    # camera's item was refused for a session still running. (The last follow-up may begin
    # after the command's report: its flow run, which emits its event, may be created late.)
    sessions = [e.payload["session_id"] for e in started]
    ends = {session: ff.session_end(STORM, session, 60) for session in sessions}
    for previous, current in itertools.pairwise(started):
        assert ends[previous.payload["session_id"]].ended_at <= current.occurred
    assert {e.payload["reason"] for e in coalesced} <= {Verdict.COALESCED, Verdict.FOLLOW_UP}
    assert ff.events(STORM, _FAILED) == []
    last = ff.item(STORM)
    assert last is not None and last.session is not None
    assert (last.session.session_id, last.status) == (sessions[-1], ProcessorStatus.STOPPED)


def test_a_region_of_interest_leaves_out_the_person_outside_it(
    frames_fleet: FramesFleet, runs: Runs
) -> None:
    ff, report = frames_fleet, runs.reports[REGION]
    assert report["agent_exit_code"] == 0 and report["motions"]
    assert report["sessions"] and report["failed_sessions"] == []
    ends = [SessionEndRecord.model_validate(e) for e in report["session_ends"]]
    assert [e.session_id for e in ends] == report["sessions"]
    assert all((e.processed_ms or 0) > 1000 for e in ends)
    assert report["detections"] == [] and ff.detections(REGION) == []
    assert ff.events(REGION, _DETECTION) == []
    item = ff.item(REGION)
    assert item is not None and item.regions_of_interest == (CORNER,)

    # The person was there: DetectLabels finds them in the session's video, outside the region.
    first = ff.events(REGION, _STARTED)[0].payload
    stream = registry.show_camera(ff.rt.clients, ff.rt.names, REGION).stream_arn
    assert stream is not None
    images = StreamImages(ff.rt.clients).get_images(
        stream, first["start_ms"], first["start_ms"] + 4000, 1000, ImageFormat()
    )
    boxes = [
        instance.box
        for image in images
        if image.content is not None
        for label in detect_labels(ff.rt.clients, image.content, [Label.PERSON], 50)
        for instance in label.instances
    ]
    assert boxes, "DetectLabels found no person in the region camera's video"
    assert not any(in_regions(box, (CORNER,)) for box in boxes)


def test_a_worker_killed_mid_session_loses_and_doubles_nothing(
    frames_fleet: FramesFleet, runs: Runs
) -> None:
    ff, crash, report = frames_fleet, runs.crash, runs.reports[CRASH]
    assert report["agent_exit_code"] == 0 and report["motions"]
    # Killed while it worked the session: the session was left unfinished, its worker gone.
    after = crash.item_after_kill
    assert after is not None and after.session is not None
    assert (after.session.session_id, after.status) == (crash.session_id, ProcessorStatus.RUNNING)
    assert not psutil.pid_exists(crash.killed_pid)
    worker = crash.restarted.part(PartName.ANALYZER)
    assert worker.healthy and worker.pid != crash.killed_pid

    # Its message came back to the new worker, which finished the session.
    assert f"session {crash.session_id} received (receive 2)" in ff.analyzer_log()
    assert (runs.crash_end.processed_ms or 0) > 1000
    item = ff.item(CRASH)
    assert item is not None and item.session is not None
    assert (item.session.session_id, item.status) == (crash.session_id, ProcessorStatus.STOPPED)

    # One detection, one notification, one event: none lost, none doubled.
    (person,) = ff.notified(CRASH, crash.session_id)
    assert person.label == "PERSON" and person.notification is NotificationState.SENT
    ff.only_notification(person)
    detected = ff.events(CRASH, _DETECTION)
    assert [e.payload["session_id"] for e in detected] == [crash.session_id]
    # Its analyze-motion run followed it through the redelivery, without a retry.
    started = ff.events(CRASH, _STARTED)
    assert [e.payload["session_id"] for e in started] == [crash.session_id]
    assert ff.events(CRASH, _FAILED) == []


def test_a_camera_without_video_ends_its_session_with_no_video(
    frames_fleet: FramesFleet, runs: Runs
) -> None:
    ff, outcome, start_ms = frames_fleet, runs.no_video, runs.no_video_start_ms
    assert outcome.status is ProcessorStatus.STOPPED
    (session,) = outcome.sessions
    message = (
        f"No video in stream {NO_VIDEO} from producer timestamp {start_ms} for {NO_VIDEO_S} s."
    )
    end = ff.session_end(NO_VIDEO, session)
    assert (end.message, end.processed_ms) == (message, 0)
    item = ff.item(NO_VIDEO)
    assert item is not None and (item.status, item.message) == (ProcessorStatus.STOPPED, message)
    assert ff.detections(NO_VIDEO) == []
    assert ff.events(NO_VIDEO, _DETECTION) == []


def test_throttled_detect_labels_is_retried_and_the_session_completes(
    frames_fleet: FramesFleet, runs: Runs
) -> None:
    ff, report, calls = frames_fleet, runs.reports[THROTTLED], runs.detect_calls
    assert report["agent_exit_code"] == 0 and report["motions"]
    # Every throttle was given, and the calls after them went through.
    assert [(c["status"], c["error_code"], c["injected"]) for c in calls[:THROTTLES]] == [
        (400, "ThrottlingException", True)
    ] * THROTTLES
    assert calls[THROTTLES:] and all(c["status"] == 200 for c in calls[THROTTLES:])
    # The session completed with its detection, on its first delivery.
    session = report["sessions"][0]
    assert report["failed_sessions"] == []
    assert report["session_ends"][0]["session_id"] == session
    found = [DetectionRecord.model_validate(d) for d in report["detections"]]
    assert [d.label for d in found if d.session_id == session] == ["PERSON"]
    log = ff.analyzer_log()
    assert f"session {session} received (receive 1)" in log
    assert f"session {session} received (receive 2)" not in log


def _records(ff: FramesFleet) -> dict[str, CameraRecord]:
    return {
        camera: registry.show_camera(ff.rt.clients, ff.rt.names, camera)
        for camera in sorted(SESSION_S)
    }


def _dry_run(ff: FramesFleet) -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
    """`fleet teardown --dry-run`: each camera's kinds of resource, and the fleet-level
    resources (kind, name)."""
    plan = fleet_json(ff.settings, "teardown", "--dry-run")["plan"]
    cameras = {c["camera_id"]: {s["resource"]["kind"] for s in c["steps"]} for c in plan["cameras"]}
    fleet_level = {(s["resource"]["kind"], s["resource"]["name"]) for s in plan["fleet_steps"]}
    return cameras, fleet_level


def _no_session_runs(ff: FramesFleet) -> bool | None:
    sessions = FramesSessions(ff.rt.clients, ff.rt.names, ff.settings.frames_ingest_grace_seconds)
    active = (ProcessorStatus.STARTING, ProcessorStatus.RUNNING)
    return None if any(s in active for s in sessions.statuses().values()) else True


def test_switching_to_stream_processors_and_back_keeps_settings_and_leaves_nothing(
    frames_fleet: FramesFleet,
) -> None:
    ff, names = frames_fleet, frames_fleet.rt.names
    cameras = sorted(SESSION_S)
    # A camera's IAM role is its Rekognition role: a frames camera has none.
    processor_kinds = {Kind.PROCESSOR.value, Kind.ROLE.value}
    frames_resources = {
        (Kind.QUEUE.value, names.analysis_queue),
        (Kind.QUEUE.value, names.analysis_dlq),
        (Kind.ANALYSIS_TABLE.value, names.analysis_table),
    }
    wait_for("every session to end", lambda: _no_session_runs(ff), 90)
    before = {camera: record.settings for camera, record in _records(ff).items()}
    assert before[REGION].regions_of_interest == (CORNER,)
    make_room((ff.settings, ff.status), len(cameras))

    switched = fleet_json(ff.settings, "analyzer", "use", "stream-processor")
    assert (switched["analyzer"], switched["previous"]) == ("stream-processor", "frames")
    assert switched["cameras"] == len(cameras)
    records = _records(ff)
    assert {camera: record.settings for camera, record in records.items()} == before
    assert all(r.processor_arn is not None and r.role_arn is not None for r in records.values())
    kinds, fleet_level = _dry_run(ff)
    assert all(processor_kinds <= kinds[camera] for camera in cameras)
    assert not {kind for kind, _ in fleet_level} & {Kind.ANALYSIS_TABLE.value}
    assert not fleet_level & frames_resources

    back = fleet_json(ff.settings, "analyzer", "use", "frames")
    assert (back["analyzer"], back["previous"]) == ("frames", "stream-processor")
    records = _records(ff)
    assert {camera: record.settings for camera, record in records.items()} == before
    assert all(r.processor_arn is None and r.role_arn is None for r in records.values())
    kinds, fleet_level = _dry_run(ff)
    assert set(kinds) >= set(cameras)
    assert not any(camera_kinds & processor_kinds for camera_kinds in kinds.values())
    assert frames_resources <= fleet_level
