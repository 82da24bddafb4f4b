"""The local detector's faces: frontal and in profile (both ways), one box per face."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from skimage import data

from stack.cameras.people import cameraman
from stack.cameras.scenes import SceneKind, scene_frame
from stack.endpoint.rekognition.detection import (
    FaceBox,
    FaceDetector,
    Label,
    confidence_of,
    distinct_faces,
)

Bgr = np.ndarray[Any, np.dtype[np.uint8]]


def bgr(rgb: np.ndarray[Any, Any]) -> Bgr:
    return np.ascontiguousarray(rgb[:, :, ::-1])


def mirror(image: Bgr) -> Bgr:
    return np.ascontiguousarray(image[:, ::-1])


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


def test_a_box_mirrored_twice_is_itself() -> None:
    box = FaceBox(10, 20, 30, 30, 7)
    assert box.mirrored(100) == FaceBox(60, 20, 30, 30, 7)
    assert box.mirrored(100).mirrored(100) == box


@pytest.mark.parametrize(
    ("other", "overlap"),
    [
        (FaceBox(0, 0, 10, 10, 1), 1.0),
        (FaceBox(5, 0, 10, 10, 1), 0.5),
        (FaceBox(2, 2, 4, 4, 1), 1.0),  # inside: all of the smaller box
        (FaceBox(10, 0, 10, 10, 1), 0.0),  # touching edges
        (FaceBox(50, 50, 10, 10, 1), 0.0),
    ],
)
def test_overlap_is_a_share_of_the_smaller_box(other: FaceBox, overlap: float) -> None:
    box = FaceBox(0, 0, 10, 10, 1)
    assert box.overlap(other) == pytest.approx(overlap)
    assert other.overlap(box) == pytest.approx(overlap)


def test_boxes_of_one_face_merge_into_the_best_and_other_faces_stay() -> None:
    frontal = FaceBox(178, 69, 92, 92, 36)
    profile = FaceBox(218, 76, 68, 68, 8)  # the same face, by the profile cascade
    elsewhere = FaceBox(400, 80, 60, 60, 7)
    assert distinct_faces([profile, elsewhere, frontal]) == [frontal, elsewhere]
    assert distinct_faces([]) == []


def test_the_cameraman_in_three_quarter_view_is_a_person_either_way(
    detector: FaceDetector,
) -> None:
    # dlib's box for his face: x 216-268, y 130-182 (mirrored: x 244-296)
    for image, face_x in ((bgr(cameraman()), 242), (mirror(bgr(cameraman())), 270)):
        people = [d for d in detector.detect(image) if d.confidence >= 50]
        assert len(people) == 1, people
        (person,) = people
        assert person.label is Label.PERSON
        box = person.box
        assert box.left < face_x / 512 < box.left + box.width
        assert box.top < 156 / 512 < box.top + box.height


@pytest.mark.parametrize("seconds", [2.6, 9.4, 10.2])
def test_the_visitor_is_one_person_where_both_cascades_find_her(
    detector: FaceDetector, seconds: float
) -> None:
    # in these frames the profile cascade finds her face too (7 to 11 neighbours)
    frame = scene_frame(SceneKind.VISITOR, round(seconds * 15), 640, 480, 15)
    people = [d for d in detector.detect(frame) if d.confidence >= 50]
    assert len(people) == 1, people
    assert people[0].confidence >= confidence_of(28)  # the frontal box's evidence


@pytest.mark.parametrize("sample", ["coffee", "rocket", "chelsea"])
def test_no_person_in_photos_without_people(detector: FaceDetector, sample: str) -> None:
    image = bgr(np.asarray(getattr(data, sample)(), dtype=np.uint8))
    for picture in (image, mirror(image)):
        assert detector.detect(picture) == []
