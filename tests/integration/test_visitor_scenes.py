"""The `visitor` (the astronaut, frontal) and `stranger` (the cameraman, three-quarter view)
scenes on the local endpoint: the person standing at the door is a Person to DetectLabels and
one face to DetectFaces, also after the agent's H.264 encoding."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import pytest

from stack.cameras.scenes import (
    VISIT_ARRIVES_S,
    VISIT_ENTERS_S,
    VISIT_LEAVES_S,
    SceneKind,
    scene_frame,
    write_scene,
)
from stack.endpoint.rekognition.detection import DEFAULT_MIN_CONFIDENCE, FaceDetector
from stack.endpoint.server import LocalEndpoint
from tests.support.endpoint_admin import endpoint_client
from tests.support.scene_fragments import record_fragments

if TYPE_CHECKING:
    from types_boto3_rekognition import RekognitionClient
    from types_boto3_rekognition.type_defs import ImageTypeDef

FPS = 15
VISITS = [SceneKind.VISITOR, SceneKind.STRANGER]
STILL_S = (VISIT_ARRIVES_S + VISIT_LEAVES_S) / 2

Frame = np.ndarray[Any, np.dtype[np.uint8]]


def as_jpeg(frame: Frame) -> bytes:
    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return encoded.tobytes()


@pytest.fixture
def rekognition(local_endpoint: LocalEndpoint) -> RekognitionClient:
    return endpoint_client(local_endpoint.url, "rekognition")


@pytest.mark.parametrize("kind", VISITS)
def test_the_person_at_the_door_is_a_person_with_one_face(
    rekognition: RekognitionClient, kind: SceneKind
) -> None:
    image: ImageTypeDef = {"Bytes": as_jpeg(scene_frame(kind, round(STILL_S * FPS), 640, 480, FPS))}
    [label] = rekognition.detect_labels(Image=image)["Labels"]
    assert label["Name"] == "Person"
    [instance] = label["Instances"]
    [face] = rekognition.detect_faces(Image=image)["FaceDetails"]
    person, box = instance["BoundingBox"], face["BoundingBox"]
    centre_x, centre_y = box["Left"] + box["Width"] / 2, box["Top"] + box["Height"] / 2
    assert person["Left"] < centre_x < person["Left"] + person["Width"]
    assert person["Top"] < centre_y < person["Top"] + person["Height"]


@pytest.mark.parametrize("kind", VISITS)
def test_nobody_before_the_person_steps_in(rekognition: RekognitionClient, kind: SceneKind) -> None:
    image: ImageTypeDef = {"Bytes": as_jpeg(scene_frame(kind, 0, 640, 480, FPS))}
    assert rekognition.detect_labels(Image=image)["Labels"] == []
    assert rekognition.detect_faces(Image=image)["FaceDetails"] == []


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[SceneKind, list[Frame]]:
    """The first seconds of each scene as a camera records them (x264 fragments), decoded."""
    root = tmp_path_factory.mktemp("visits")
    frames: dict[SceneKind, list[Frame]] = {}
    for kind in VISITS:
        scene = write_scene(kind, root / f"{kind.value}.avi", seconds=5, fps=FPS)
        frames[kind] = decoded(record_fragments(scene, root / kind.value, start_ms=0, fps=FPS))
    return frames


def decoded(fragments: list[Path]) -> list[Frame]:
    frames: list[Frame] = []
    for fragment in fragments:
        capture = cv2.VideoCapture(str(fragment))
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(np.asarray(frame, dtype=np.uint8))
        capture.release()
    return frames


@pytest.mark.parametrize("kind", VISITS)
def test_the_recorded_person_is_found_once_standing_still(
    recorded: dict[SceneKind, list[Frame]], kind: SceneKind
) -> None:
    frames = recorded[kind]
    detector = FaceDetector()

    def people(seconds: float) -> list[float]:
        found = detector.detect(frames[round(seconds * FPS)])
        return [d.confidence for d in found if d.confidence >= DEFAULT_MIN_CONFIDENCE]

    assert people(0.0) == [] and people(VISIT_ENTERS_S - 0.2) == []
    for seconds in (VISIT_ARRIVES_S + 0.5, VISIT_ARRIVES_S + 1.0, VISIT_ARRIVES_S + 1.5):
        assert len(people(seconds)) == 1, (seconds, people(seconds))
