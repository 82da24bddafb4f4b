"""Named detections against the local AWS endpoint: the results consumer with a fake
`FaceRecognizer` (the face APIs themselves are `cloud.faces`' tests), real thing attributes, the
real detections table and notification topic."""

# ruff: noqa: F811  # the tests take test_results' `fleet` fixture by its name

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from cloud import detections, iot, registry
from cloud.faces.models import FaceMatch, FaceRecognition, FaceStatus
from cloud.models import CameraSpec
from cloud.rekognition_messages import DetectionRecord, NotificationState
from services.results_consumer.service import (
    ConsumerConfig,
    Outcome,
    ResultsConsumer,
    ResultsEndpoints,
)
from tests.integration.test_results import CAMERA, Fleet, fleet  # noqa: F401  # the fixture
from tests.support.endpoint_admin import inject_fault, last_seq, requests_since
from tests.support.results_messages import label_detected

ALICE = FaceRecognition(
    status=FaceStatus.NAMED,
    faces=(FaceMatch(name="alice", similarity=99.4, box=(0.4, 0.1, 0.1, 0.15)),),
)
STRANGER = FaceRecognition(
    status=FaceStatus.UNKNOWN,
    faces=(FaceMatch(name=None, similarity=None, box=(0.4, 0.1, 0.1, 0.15)),),
)
NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


@dataclass
class FakeFaces:
    """Answers what it is told to, and remembers which detections it searched."""

    answer: FaceRecognition = ALICE
    quiet: frozenset[str] = frozenset()
    searched: list[str] = field(default_factory=list)

    def recognise(self, record: DetectionRecord) -> FaceRecognition:
        self.searched.append(f"{record.camera_id}/{record.session_id}/{record.label}")
        return self.answer

    def quiet_names(self) -> frozenset[str]:
        return self.quiet


def register(fleet: Fleet, camera_id: str, recognize_faces: bool | None) -> None:
    """The camera's thing as registration writes it; None: as written before faces existed."""
    spec = CameraSpec(camera_id=camera_id, recognize_faces=bool(recognize_faces))
    attributes = registry.thing_attributes(spec, fleet.names.fleet)
    if recognize_faces is None:
        packed = attributes[registry.SETTINGS_ATTRIBUTE]
        attributes[registry.SETTINGS_ATTRIBUTE] = packed.replace(",recognize_faces=false", "")
    iot.ensure_thing(fleet.clients, fleet.names.thing(camera_id), attributes)


def consumer(
    fleet: Fleet, faces: FakeFaces, clock: list[datetime] | None = None
) -> ResultsConsumer:
    now = clock or [NOW]
    return ResultsConsumer(
        fleet.clients,
        fleet.names,
        ResultsEndpoints.locate(fleet.clients, fleet.names),
        ConsumerConfig(wait_seconds=2, cooldown_seconds=60),
        fleet.events,
        clock=lambda: now[0],
        faces=faces,
    )


def test_a_known_person_is_named_in_the_record_the_event_and_the_notification(
    fleet: Fleet,
) -> None:
    register(fleet, CAMERA, recognize_faces=True)
    faces = FakeFaces(answer=ALICE)
    fleet.publish(label_detected("camfleet", CAMERA, "s1", "PERSON", 97.4, 1655930623123))
    assert consumer(fleet, faces).poll_once() == [Outcome.STORED]

    assert faces.searched == [f"{CAMERA}/s1/PERSON"]
    (stored,) = fleet.stored()
    assert (stored.faces, stored.notification) == (ALICE, NotificationState.SENT)
    assert fleet.notifications() == ["alice at front-door, 99% — 2022-06-22 20:43:43 UTC"]
    assert [r.faces for _, r in fleet.events.seen] == [ALICE]
    latest, visitor = detections.read_latest(fleet.clients, fleet.names.detections_table, CAMERA)
    assert latest == stored and visitor == stored


def test_a_stranger_and_a_person_from_behind_are_told_apart(fleet: Fleet) -> None:
    register(fleet, CAMERA, recognize_faces=True)
    clock = [NOW]
    faces = FakeFaces(answer=STRANGER)
    handler = consumer(fleet, faces, clock)
    fleet.publish(label_detected("camfleet", CAMERA, "s1", "PERSON", 97.4, 1700000000000))
    assert handler.poll_once() == [Outcome.STORED]
    faces.answer = FaceRecognition(status=FaceStatus.NO_FACE)
    clock[0] += timedelta(minutes=5)
    fleet.publish(label_detected("camfleet", CAMERA, "s2", "PERSON", 96.0, 1700000300000))
    assert handler.poll_once() == [Outcome.STORED]
    assert fleet.notifications() == [
        "unknown person at front-door — 2023-11-14 22:13:20 UTC",
        "PERSON at front-door (no face visible), 96% — 2023-11-14 22:18:20 UTC",
    ]
    _, visitor = detections.read_latest(fleet.clients, fleet.names.detections_table, CAMERA)
    assert visitor is None  # nobody was named


def test_a_quiet_person_is_recorded_not_notified_and_claims_no_cooldown(fleet: Fleet) -> None:
    register(fleet, CAMERA, recognize_faces=True)
    faces = FakeFaces(answer=ALICE, quiet=frozenset({"alice"}))
    handler = consumer(fleet, faces)
    fleet.publish(label_detected("camfleet", CAMERA, "s1", "PERSON", 97.4, 1700000000000))
    assert handler.poll_once() == [Outcome.STORED]

    (stored,) = fleet.stored()
    assert (stored.faces, stored.notification) == (ALICE, NotificationState.QUIET)
    assert fleet.notifications() == []
    assert [r.notification for _, r in fleet.events.seen] == [NotificationState.QUIET]
    table = fleet.names.detections_table
    assert detections.read_cooldown(fleet.clients, table, CAMERA) is None
    _, visitor = detections.read_latest(fleet.clients, table, CAMERA)
    assert visitor is not None and visitor.notification is NotificationState.QUIET

    # A stranger right after: notified (the quiet visit held no cooldown).
    faces.answer = STRANGER
    fleet.publish(label_detected("camfleet", CAMERA, "s2", "PERSON", 95.0, 1700000005000))
    assert handler.poll_once() == [Outcome.STORED]
    assert fleet.notifications() == ["unknown person at front-door — 2023-11-14 22:13:25 UTC"]


def test_a_redelivered_detection_reuses_its_stored_recognition(fleet: Fleet) -> None:
    register(fleet, CAMERA, recognize_faces=True)
    faces = FakeFaces(answer=ALICE)
    handler = consumer(fleet, faces)
    fleet.publish(label_detected("camfleet", CAMERA, "s1", "PERSON", 97.4, 1700000000000))
    inject_fault(fleet.endpoint.url, "sns", "Publish", "AuthorizationError", http_status=403)
    assert handler.poll_once() == [Outcome.FAILED]
    (pending,) = fleet.stored()
    assert (pending.faces, pending.notification) == (ALICE, NotificationState.PENDING)

    faces.answer = STRANGER  # a second search would now say otherwise
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + 15
    while not outcomes and time.monotonic() < deadline:
        outcomes = handler.poll_once(wait_seconds=2)
    assert outcomes == [Outcome.STORED]
    assert faces.searched == [f"{CAMERA}/s1/PERSON"]  # searched once
    (sent,) = fleet.stored()
    assert (sent.faces, sent.notification) == (ALICE, NotificationState.SENT)
    assert fleet.notifications() == ["alice at front-door, 99% — 2023-11-14 22:13:20 UTC"]


@pytest.mark.parametrize(
    "recognize_faces", [False, None], ids=["without-flag", "registered-before"]
)
def test_a_camera_that_did_not_ask_is_never_searched(
    fleet: Fleet, recognize_faces: bool | None
) -> None:
    register(fleet, CAMERA, recognize_faces=recognize_faces)
    faces = FakeFaces(answer=ALICE)
    fleet.publish(label_detected("camfleet", CAMERA, "s1", "PERSON", 97.4, 1700000000000))
    assert consumer(fleet, faces).poll_once() == [Outcome.STORED]
    assert faces.searched == []
    (stored,) = fleet.stored()
    assert stored.faces is None
    assert fleet.notifications() == ["PERSON at front-door, 97% — 2023-11-14 22:13:20 UTC"]


def test_only_people_are_searched_and_the_camera_is_read_once_a_minute(fleet: Fleet) -> None:
    register(fleet, CAMERA, recognize_faces=True)
    faces = FakeFaces(answer=ALICE)
    handler = consumer(fleet, faces)
    seq = last_seq(fleet.endpoint.url)
    fleet.publish(label_detected("camfleet", CAMERA, "s1", "PET", 90.0, 1700000000000))
    fleet.publish(label_detected("camfleet", CAMERA, "s2", "PERSON", 91.0, 1700000010000))
    fleet.publish(label_detected("camfleet", CAMERA, "s3", "PERSON", 92.0, 1700000020000))
    outcomes: list[Outcome] = []
    while len(outcomes) < 3:
        outcomes += handler.poll_once(wait_seconds=1)
    assert outcomes == [Outcome.STORED] * 3
    assert sorted(faces.searched) == [f"{CAMERA}/s2/PERSON", f"{CAMERA}/s3/PERSON"]
    described = [
        r for r in requests_since(fleet.endpoint.url, seq) if r["operation"] == "DescribeThing"
    ]
    assert len(described) == 1


# The store.


def _record(session: str, at: datetime, faces: FaceRecognition | None = None) -> DetectionRecord:
    return DetectionRecord(
        camera_id=CAMERA,
        session_id=session,
        label="PERSON",
        confidence=97.0,
        detected_at=at,
        frame_uri=f"s3://camfleet-results/cameras/{CAMERA}/{session}/frame.jpg",
        processor=f"camfleet-{CAMERA}",
        faces=faces,
    )


def test_faces_are_kept_once_and_read_back(fleet: Fleet) -> None:
    table = fleet.names.detections_table
    record = _record("s1", NOW)
    assert detections.put_detection(fleet.clients, table, record)
    assert detections.get_detection(fleet.clients, table, record) == record  # no faces yet

    assert detections.set_faces(fleet.clients, table, record, ALICE) == ALICE
    assert detections.set_faces(fleet.clients, table, record, STRANGER) == ALICE  # kept first
    back = detections.get_detection(fleet.clients, table, record)
    assert back == record.model_copy(update={"faces": ALICE})

    stored_with_faces = _record("s2", NOW + timedelta(seconds=1), STRANGER)
    assert detections.put_detection(fleet.clients, table, stored_with_faces)
    assert detections.list_detections(fleet.clients, table, CAMERA, 10) == [
        stored_with_faces,
        back,
    ]


def test_the_latest_visitor_is_kept_beside_the_latest_detection(fleet: Fleet) -> None:
    table = fleet.names.detections_table
    assert detections.read_latest(fleet.clients, table, CAMERA) == (None, None)
    earlier = _record("s1", NOW, ALICE)
    later = _record("s2", NOW + timedelta(minutes=1), ALICE)
    for record in (earlier, later):
        assert detections.put_detection(fleet.clients, table, record)
    assert detections.put_visitor(fleet.clients, table, later)
    assert not detections.put_visitor(fleet.clients, table, earlier)  # out of order: kept later
    newest = _record("s3", NOW + timedelta(minutes=2))  # nobody named
    assert detections.put_detection(fleet.clients, table, newest)

    assert detections.read_latest(fleet.clients, table, CAMERA) == (newest, later)
    # The visitor is no detection of its own.
    assert [r.session_id for r in detections.list_detections(fleet.clients, table, CAMERA, 10)] == [
        "s3",
        "s2",
        "s1",
    ]
