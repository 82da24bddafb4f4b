"""The results consumer's pure decisions about faces: whose faces are searched, who is quiet, the
notification texts and subjects, the webhook payload and the `camera.detection` payload."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cloud.faces.models import FaceMatch, FaceRecognition, FaceStatus
from cloud.rekognition_messages import DetectionRecord, NotificationState, faces_summary
from flows.events import DETECTION
from services.results_consumer.decisions import (
    detection_payload,
    everyone_named,
    is_quiet,
    notification_subject,
    notification_text,
    wants_faces,
    webhook_payload,
)

BOX = (0.1, 0.1, 0.2, 0.3)
WHEN = "2024-06-22 20:43:43 UTC"


def face(name: str | None = None, similarity: float | None = None) -> FaceMatch:
    return FaceMatch(name=name, similarity=similarity, box=BOX)


def named(*faces: FaceMatch) -> FaceRecognition:
    return FaceRecognition(status=FaceStatus.NAMED, faces=faces)


def unknown(count: int = 1) -> FaceRecognition:
    return FaceRecognition(status=FaceStatus.UNKNOWN, faces=tuple(face() for _ in range(count)))


NO_FACE = FaceRecognition(status=FaceStatus.NO_FACE)
FAILED = FaceRecognition(status=FaceStatus.FAILED, reason="AccessDeniedException: no")


def record(faces: FaceRecognition | None = None, **changes: Any) -> DetectionRecord:
    values: dict[str, Any] = {
        "camera_id": "front-door",
        "session_id": "s1",
        "label": "PERSON",
        "confidence": 97.4,
        "detected_at": datetime(2024, 6, 22, 20, 43, 43, 123000, tzinfo=UTC),
        "frame_uri": "s3://b/k/frame.jpg",
        "crop_uri": None,
        "processor": "camfleet-front-door",
        "faces": faces,
    }
    return DetectionRecord(**{**values, **changes})


@pytest.mark.parametrize(
    ("faces", "subject", "text"),
    [
        (None, "PERSON at front-door", f"PERSON at front-door, 97% — {WHEN}"),
        (
            named(face("alice", 99.7)),
            "alice at front-door",
            f"alice at front-door, 99% — {WHEN}",
        ),
        (
            named(face("alice", 99.2), face("bob", 97.9)),
            "alice and bob at front-door",
            f"alice and bob at front-door, 99%, 97% — {WHEN}",
        ),
        (
            named(face("alice", 99.2), face("bob", 97.9), face("carol", 96.0)),
            "alice, bob and carol at front-door",
            f"alice, bob and carol at front-door, 99%, 97%, 96% — {WHEN}",
        ),
        (
            named(face("alice", 99.2), face()),
            "alice and an unknown person at front-door",
            f"alice and an unknown person at front-door, 99% — {WHEN}",
        ),
        (
            named(face(), face("alice", 98.0), face()),
            "alice and 2 unknown people at front-door",
            f"alice and 2 unknown people at front-door, 98% — {WHEN}",
        ),
        (  # one person matched twice: named once, at the better similarity
            named(face("alice", 96.5), face("alice", 99.1)),
            "alice at front-door",
            f"alice at front-door, 99% — {WHEN}",
        ),
        (unknown(), "unknown person at front-door", f"unknown person at front-door — {WHEN}"),
        (unknown(3), "3 unknown people at front-door", f"3 unknown people at front-door — {WHEN}"),
        (
            NO_FACE,
            "PERSON at front-door (no face visible)",
            f"PERSON at front-door (no face visible), 97% — {WHEN}",
        ),
        (FAILED, "PERSON at front-door", f"PERSON at front-door, 97% — {WHEN}"),
    ],
)
def test_the_notification_names_who_was_seen(
    faces: FaceRecognition | None, subject: str, text: str
) -> None:
    assert notification_subject(record(faces)) == subject
    assert notification_text(record(faces)) == text


def test_a_subject_stays_within_snss_limit_and_ascii() -> None:
    many = named(*(face(f"{'x' * 60}{i}", 99.0) for i in range(5)))
    subject = notification_subject(record(many))
    assert len(subject) == 100 and subject.isascii()


def test_only_a_person_not_searched_yet_wants_faces() -> None:
    assert wants_faces(record())
    assert not wants_faces(record(label="PET"))
    assert not wants_faces(record(label="PACKAGE"))
    assert not wants_faces(record(unknown()))  # stored by an earlier attempt: reused
    assert not wants_faces(record(FAILED))


@pytest.mark.parametrize(
    ("faces", "quiet"),
    [
        (named(face("alice", 99.0)), True),
        (named(face("alice", 99.0), face("bob", 98.0)), True),
        (named(face("alice", 99.0), face("carol", 98.0)), False),  # carol is not quiet
        (named(face("alice", 99.0), face()), False),  # a stranger beside her
        (unknown(), False),
        (NO_FACE, False),
        (FAILED, False),
        (None, False),
    ],
)
def test_quiet_when_every_face_is_named_and_every_name_quiet(
    faces: FaceRecognition | None, quiet: bool
) -> None:
    assert is_quiet(faces, frozenset({"alice", "bob"})) is quiet


def test_who_is_quiet_is_only_asked_when_everyone_is_named() -> None:
    assert everyone_named(named(face("alice", 99.0), face("bob", 98.0)))
    assert not everyone_named(named(face("alice", 99.0), face()))
    assert not everyone_named(unknown())
    assert not everyone_named(None)


def test_the_webhook_carries_the_faces() -> None:
    payload = webhook_payload(record(named(face("alice", 99.2), face())), "camfleet")
    assert payload["faces"] == [
        {"name": "alice", "similarity": 99.2},
        {"name": None, "similarity": None},
    ]
    assert payload["face_status"] == "named"
    assert payload["text"] == f"alice and an unknown person at front-door, 99% — {WHEN}"
    plain = webhook_payload(record(), "camfleet")
    assert (plain["faces"], plain["face_status"]) == (None, None)


def test_the_event_payload_carries_faces_only_when_searched() -> None:
    stored = record(named(face("alice", 99.2)), notification=NotificationState.QUIET)
    wire = detection_payload(stored).wire()
    assert wire["faces"] == [{"name": "alice", "similarity": 99.2}]
    assert (wire["face_status"], wire["notification"]) == ("named", "quiet")
    assert DETECTION.payload.model_validate(wire) == detection_payload(stored)
    plain = detection_payload(record(label="PET")).wire()
    assert "faces" not in plain and "face_status" not in plain
    no_face = detection_payload(record(NO_FACE)).wire()
    assert (no_face["faces"], no_face["face_status"]) == ([], "no-face")


@pytest.mark.parametrize(
    ("faces", "shown"),
    [
        (None, None),
        (named(face("alice", 99.7), face()), "alice 99%, unknown"),
        (unknown(2), "unknown, unknown"),
        (NO_FACE, "no face visible"),
        (FAILED, "search failed"),
    ],
)
def test_tables_show_who_was_seen(faces: FaceRecognition | None, shown: str | None) -> None:
    assert faces_summary(faces) == shown
