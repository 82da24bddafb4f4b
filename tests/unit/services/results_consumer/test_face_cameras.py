"""Which cameras have their faces searched (their thing attribute, kept a minute), and the real
recognizer's own logic: the frame's bucket and key, the quiet people kept a minute."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from cloud.errors import AccessDeniedError, RetryableError
from cloud.faces.models import FaceStatus
from cloud.models import CameraSpec
from cloud.naming import FleetNames
from cloud.registry import thing_attributes
from services.results_consumer import rekognition_faces
from services.results_consumer.faces import FaceCameras
from services.results_consumer.rekognition_faces import RekognitionFaces
from tests.unit.services.results_consumer.test_face_decisions import record

NAMES = FleetNames("camfleet", "123456789012", "us-east-1")


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Registry:
    """Thing attributes by camera, counting the reads."""

    things: dict[str, dict[str, str]] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)
    error: Exception | None = None

    def register(self, camera_id: str, recognize_faces: bool) -> None:
        spec = CameraSpec(camera_id=camera_id, recognize_faces=recognize_faces)
        self.things[camera_id] = thing_attributes(spec, "camfleet")

    def read(self, camera_id: str) -> dict[str, str] | None:
        self.reads.append(camera_id)
        if self.error is not None:
            raise self.error
        return self.things.get(camera_id)


def test_a_camera_is_read_once_a_minute() -> None:
    registry, clock = Registry(), Clock()
    registry.register("door", recognize_faces=True)
    registry.register("yard", recognize_faces=False)
    cameras = FaceCameras(registry.read, ttl_s=60, clock=clock)
    assert [cameras.recognizes_faces(c) for c in ("door", "yard", "door", "yard")] == [
        True,
        False,
        True,
        False,
    ]
    assert registry.reads == ["door", "yard"]
    registry.register("door", recognize_faces=False)  # registered again without the flag
    clock.now += 59.9
    assert cameras.recognizes_faces("door") is True
    clock.now += 0.1
    assert cameras.recognizes_faces("door") is False
    assert registry.reads == ["door", "yard", "door"]


def test_an_unknown_camera_or_one_registered_before_does_not_recognise() -> None:
    registry = Registry()
    registry.register("old", recognize_faces=True)
    old = registry.things["old"]
    old["camera"] = old["camera"].replace(",recognize_faces=true", "")
    cameras = FaceCameras(registry.read)
    assert cameras.recognizes_faces("old") is False
    assert cameras.recognizes_faces("gone") is False


def test_unreadable_settings_mean_no_search_and_are_read_again() -> None:
    registry = Registry(error=AccessDeniedError("iot:DescribeThing denied"))
    registry.register("door", recognize_faces=True)
    cameras = FaceCameras(registry.read)
    assert cameras.recognizes_faces("door") is False
    registry.error = None
    assert cameras.recognizes_faces("door") is True  # not kept: read again at once
    assert registry.reads == ["door", "door"]


def test_a_retryable_error_is_raised_so_the_message_comes_back() -> None:
    cameras = FaceCameras(Registry(error=RetryableError("throttled")).read)
    with pytest.raises(RetryableError):
        cameras.recognizes_faces("door")


def test_a_frame_that_is_no_s3_object_fails_the_search_not_the_detection() -> None:
    faces = RekognitionFaces(None, NAMES, 95.0)  # type: ignore[arg-type]  # never called
    found = faces.recognise(record().model_copy(update={"frame_uri": "file:///tmp/x.jpg"}))
    assert found.status is FaceStatus.FAILED and "s3://" in (found.reason or "")


def test_the_quiet_people_are_read_once_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [frozenset({"alice"}), frozenset({"alice", "bob"})]
    reads: list[FleetNames] = []

    def quiet_names(clients: object, names: FleetNames) -> frozenset[str]:
        reads.append(names)
        return answers[len(reads) - 1]

    monkeypatch.setattr(rekognition_faces, "quiet_names", quiet_names)
    clock = Clock()
    faces = RekognitionFaces(None, NAMES, 95.0, quiet_ttl_s=60, clock=clock)  # type: ignore[arg-type]
    assert faces.quiet_names() == {"alice"}
    clock.now += 59
    assert faces.quiet_names() == {"alice"}
    clock.now += 1
    assert faces.quiet_names() == {"alice", "bob"}
    assert reads == [NAMES, NAMES]


def test_unreadable_quiet_people_mean_everyone_is_notified(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def denied(clients: object, names: FleetNames) -> frozenset[str]:
        raise AccessDeniedError("s3:GetObject denied")

    monkeypatch.setattr(rekognition_faces, "quiet_names", denied)
    assert RekognitionFaces(None, NAMES, 95.0).quiet_names() == frozenset()  # type: ignore[arg-type]

    def throttled(clients: object, names: FleetNames) -> frozenset[str]:
        raise RetryableError("SlowDown")

    monkeypatch.setattr(rekognition_faces, "quiet_names", throttled)
    with pytest.raises(RetryableError):
        RekognitionFaces(None, NAMES, 95.0).quiet_names()  # type: ignore[arg-type]
