"""Known faces end to end, on a local stack of its own, with both analyzers: `fleet faces add`,
cameras registered with and without `--recognize-faces`, real agents playing the `visitor` (the
astronaut, indexed as alice) and `stranger` (the cameraman, indexed as bob, quiet) scenes, the
analyzer's PERSON detection, and the results consumer naming the faces in the record, the
notification and the Prefect event.

The `runs` fixture plays three rounds, and the tests read what they left:
1. stream processors: a door camera plays `visitor`, a porch camera `stranger`, a camera without
   recognition `visitor`;
2. `fleet analyzer use frames`, then the same with cameras of their own;
3. `fleet faces remove alice`, then a gate camera plays `visitor`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prefect.events.schemas.events import ReceivedEvent

from cloud import clip_store, detections
from cloud.clip_store import ClipRecord, ClipState
from cloud.faces.models import FaceStatus
from cloud.models import CameraSpec, Label
from cloud.rekognition_messages import DetectionRecord, NotificationState
from cloud.settings import FleetSettings
from flows import runtime
from flows.camera_events import read_camera_events
from flows.events import DETECTION
from services.results_consumer.decisions import notification_text
from stack.supervisor.layout import StackLayout
from stack.supervisor.models import StackStatus
from tests.e2e.cli import fleet, fleet_json
from tests.e2e.stacks import prefect_environment, running_stack
from tests.support.endpoint_admin import last_seq, requests_since
from tests.support.faces import person_a, person_b, two_faces
from tests.support.frames import (
    Agents,
    Inbox,
    wait_for,
    wait_until_the_bridge_follows,
    wait_until_the_worker_polls,
)

pytestmark = pytest.mark.timeout(900)

ANALYZERS = ("sp", "fr")  # stream processor, frames: the cameras' prefixes
DOOR, PORCH, PLAIN, GATE = "door", "porch", "plain", "fr-gate"
RECOGNIZE = {DOOR, PORCH}
SCENES = {DOOR: "visitor", PORCH: "stranger", PLAIN: "visitor"}
AGENT_S = 14  # a visit: in view from 0.5 s, standing at the door from 3 to 9 s, gone at 11 s
SESSION_S = 10
FACE_APIS = {"DetectFaces", "SearchFacesByImage", "SearchFaces", "IndexFaces"}


def cameras_of(analyzer: str) -> dict[str, str]:
    """The round's cameras (id -> scene)."""
    return {f"{analyzer}-{role}": scene for role, scene in SCENES.items()}


ALL_CAMERAS = sorted([*cameras_of("sp"), *cameras_of("fr"), GATE])


def recognizes(camera: str) -> bool:
    return camera == GATE or camera.split("-", 1)[1] in RECOGNIZE


@dataclass
class FacesFleet:
    settings: FleetSettings
    status: StackStatus
    rt: runtime.Runtime
    inbox: Inbox
    photos: Path
    since: datetime

    @property
    def endpoint(self) -> str:
        return self.status.aws_endpoint

    def decided(self, camera: str) -> DetectionRecord:
        """The camera's one PERSON detection, once its notification is decided."""

        def read() -> DetectionRecord | None:
            found = [
                d
                for d in detections.list_detections(
                    self.rt.clients, self.rt.names.detections_table, camera, 20
                )
                if d.label == Label.PERSON.value
            ]
            pending = any(d.notification is NotificationState.PENDING for d in found)
            return found[-1] if found and not pending else None

        return wait_for(f"the PERSON detection of {camera}", read, 150, every=1.0)

    def events(self, camera: str) -> list[ReceivedEvent]:
        return asyncio.run(read_camera_events(camera, (DETECTION.name,), self.since))


@dataclass
class Round:
    records: dict[str, DetectionRecord]
    face_calls: list[dict[str, Any]]  # the face API requests logged during the round


@dataclass
class Runs:
    rounds: dict[str, Round]  # by analyzer prefix
    removal: dict[str, Any]  # `fleet faces remove alice --json`
    people_after: list[dict[str, Any]]  # `fleet faces list --json` after it
    gate: DetectionRecord


@pytest.fixture(scope="module")
def faces_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FacesFleet]:
    home = tmp_path_factory.mktemp("faces-home")
    photos = tmp_path_factory.mktemp("faces-photos")
    with running_stack(home) as (settings, stack_status), prefect_environment(settings):
        try:
            fleet_json(settings, "init")  # a new fleet on the local stack: stream processors
            listing = home / "cameras.json"
            listing.write_text(
                json.dumps(
                    [
                        CameraSpec(
                            camera_id=camera,
                            labels=frozenset({Label.PERSON}),
                            max_duration_seconds=SESSION_S,
                            recognize_faces=recognizes(camera),
                        ).model_dump(mode="json")
                        for camera in ALL_CAMERAS
                    ]
                )
            )
            outcomes = fleet_json(settings, "camera", "register", "--many", str(listing))
            assert [o["error"] for o in outcomes] == [None] * len(ALL_CAMERAS), outcomes
            for name, photo, quiet in (
                ("alice", person_a(), ()),
                ("bob", person_b(), ("--quiet",)),
            ):
                path = photos / f"{name}.jpg"
                path.write_bytes(photo)
                added = fleet_json(settings, "faces", "add", name, str(path), *quiet)
                assert added["person"]["quiet"] is bool(quiet), added
            rt = runtime.configure(settings)
            inbox = Inbox(rt.clients, rt.names.user_notifications_topic_arn(), ALL_CAMERAS)
            yield FacesFleet(settings, stack_status, rt, inbox, photos, datetime.now(UTC))
        finally:
            logs = tmp_path_factory.mktemp("faces-stack-logs")
            shutil.copytree(StackLayout(settings.stack_dir).logs_dir, logs, dirs_exist_ok=True)


def _play(ff: FacesFleet, agents: Agents, cameras: dict[str, str]) -> Round:
    before = last_seq(ff.endpoint)
    for camera, scene in cameras.items():
        agents.start(camera, scene, AGENT_S, 60)
    agents.reports()
    records = {camera: ff.decided(camera) for camera in cameras}
    calls = [r for r in requests_since(ff.endpoint, before) if r["operation"] in FACE_APIS]
    return Round(records, calls)


@pytest.fixture(scope="module")
def runs(faces_fleet: FacesFleet, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    ff = faces_fleet
    agents = Agents(ff.settings, tmp_path_factory.mktemp("faces-agents"))
    try:
        rounds = {"sp": _play(ff, agents, cameras_of("sp"))}
        switched = fleet_json(ff.settings, "analyzer", "use", "frames")
        assert switched["analyzer"] == "frames", switched
        wait_until_the_bridge_follows(ff.settings, "frames")
        wait_until_the_worker_polls(ff.settings)
        rounds["fr"] = _play(ff, agents, cameras_of("fr"))
        removal = fleet_json(ff.settings, "faces", "remove", "alice")
        people_after = fleet_json(ff.settings, "faces", "list")
        gate = _play(ff, agents, {GATE: "visitor"}).records[GATE]
    finally:
        agents.kill()
    return Runs(rounds, removal, people_after, gate)


def _detect_faces_keys(round_: Round) -> list[str]:
    """The S3 keys of the frames DetectFaces was asked about."""
    return [
        str(call["params"]["Image"]["S3Object"]["Name"])
        for call in round_.face_calls
        if call["operation"] == "DetectFaces" and "S3Object" in (call["params"] or {})["Image"]
    ]


@pytest.mark.parametrize("analyzer", ANALYZERS)
def test_a_known_visitor_is_named_in_the_record_the_notification_and_the_event(
    faces_fleet: FacesFleet, runs: Runs, analyzer: str
) -> None:
    camera = f"{analyzer}-{DOOR}"
    record = runs.rounds[analyzer].records[camera]
    assert record.faces is not None and record.faces.status is FaceStatus.NAMED
    (face,) = record.faces.faces
    assert face.name == "alice" and face.similarity is not None and face.similarity >= 95
    assert record.notification is NotificationState.SENT
    (note,) = faces_fleet.inbox.settled(camera)
    text, link, clip = note["Message"].splitlines()
    assert text == notification_text(record)
    assert text.startswith(f"alice at {camera}, {int(face.similarity)}% — ")
    assert (
        link.startswith(f"Frame: {faces_fleet.settings.endpoint_url}/")
        and "X-Amz-Signature=" in link
    )
    assert clip.startswith(f"Clip (when the event ends): {faces_fleet.settings.endpoint_url}/")
    with urllib.request.urlopen(link.removeprefix("Frame: "), timeout=10) as answer:
        assert answer.read(2) == b"\xff\xd8"  # the frame, a JPEG, with no AWS credentials
    # Each detection of the camera's visits (a scene loops) is a `camera.detection` naming her.
    events = faces_fleet.events(camera)
    assert events and all(e.payload["face_status"] == "named" for e in events), events
    assert all([f["name"] for f in e.payload["faces"]] == ["alice"] for e in events)


@pytest.mark.parametrize("analyzer", ANALYZERS)
def test_the_visits_session_gets_its_clip_with_either_analyzer(
    faces_fleet: FacesFleet, runs: Runs, analyzer: str
) -> None:
    record = runs.rounds[analyzer].records[f"{analyzer}-{DOOR}"]
    table = faces_fleet.rt.names.detections_table

    def kept() -> ClipRecord | None:
        return clip_store.get_clip_record(
            faces_fleet.rt.clients, table, record.camera_id, record.session_id
        )

    clip = wait_for(f"the clip of {record.camera_id}'s session {record.session_id}", kept, 90)
    assert clip.state is ClipState.MADE, clip.reason
    assert clip.uri == clip_store.clip_uri(record) and (clip.size_bytes or 0) > 0
    assert clip.start < record.detected_at <= clip.end
    bucket, _, key = clip.uri.removeprefix("s3://").partition("/")
    video = faces_fleet.rt.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert video[4:8] == b"ftyp" and len(video) == clip.size_bytes


@pytest.mark.parametrize("analyzer", ANALYZERS)
def test_a_quiet_person_is_recorded_by_name_and_not_notified(
    faces_fleet: FacesFleet, runs: Runs, analyzer: str
) -> None:
    camera = f"{analyzer}-{PORCH}"
    record = runs.rounds[analyzer].records[camera]
    assert record.faces is not None and record.faces.names == ["bob"]
    assert record.notification is NotificationState.QUIET
    assert faces_fleet.inbox.settled(camera) == []


@pytest.mark.parametrize("analyzer", ANALYZERS)
def test_a_camera_without_recognition_never_calls_the_face_apis(
    faces_fleet: FacesFleet, runs: Runs, analyzer: str
) -> None:
    camera = f"{analyzer}-{PLAIN}"
    record = runs.rounds[analyzer].records[camera]
    assert record.faces is None and record.notification is NotificationState.SENT
    (note,) = faces_fleet.inbox.settled(camera)
    assert note["Message"].startswith(f"PERSON at {camera}, ")
    keys = _detect_faces_keys(runs.rounds[analyzer])
    # The round's other cameras were searched, each from its own frame; this one never.
    assert any(f"cameras/{analyzer}-{DOOR}/" in key for key in keys), keys
    assert not any(f"cameras/{camera}/" in key for key in keys), keys


def test_a_removed_person_leaves_nothing_and_is_unknown_afterwards(
    faces_fleet: FacesFleet, runs: Runs
) -> None:
    assert "alice" not in {person["name"] for person in runs.people_after}
    assert "bob" in {person["name"] for person in runs.people_after}
    assert runs.removal["name"] == "alice" and runs.removal["faces_deleted"] == 1
    assert (runs.removal["faces_left"], runs.removal["objects_left"]) == (0, 0)
    names = faces_fleet.rt.names
    left = faces_fleet.rt.clients.s3.list_objects_v2(
        Bucket=names.results_bucket, Prefix=f"{names.faces_prefix}alice/"
    )
    assert left.get("KeyCount", 0) == 0
    faces = faces_fleet.rt.clients.rekognition.list_faces(CollectionId=names.faces_collection)
    assert [f for f in faces["Faces"] if f.get("ExternalImageId") == "alice"] == []

    record = runs.gate
    assert record.faces is not None and record.faces.status is FaceStatus.UNKNOWN
    (note,) = faces_fleet.inbox.settled(GATE)
    assert note["Message"].startswith(f"unknown person at {GATE} — ")


def test_bad_photos_and_names_are_refused_before_anything_is_stored(
    faces_fleet: FacesFleet, runs: Runs
) -> None:
    group = faces_fleet.photos / "group.jpg"
    group.write_bytes(two_faces())
    refused = fleet(faces_fleet.settings, "faces", "add", "carol", str(group))
    assert refused.returncode == 2 and "group.jpg: 2 faces found" in refused.stderr
    badly_named = fleet(faces_fleet.settings, "faces", "add", "Carol!", str(group))
    assert badly_named.returncode == 2 and "Carol!" in badly_named.stderr
    people = fleet_json(faces_fleet.settings, "faces", "list")
    assert "carol" not in {person["name"] for person in people}
    names = faces_fleet.rt.names
    left = faces_fleet.rt.clients.s3.list_objects_v2(
        Bucket=names.results_bucket, Prefix=f"{names.faces_prefix}carol/"
    )
    assert left.get("KeyCount", 0) == 0
