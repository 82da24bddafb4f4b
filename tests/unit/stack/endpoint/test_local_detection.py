"""Label bookkeeping of a local stream-processor session: settings, regions, first sightings."""

from __future__ import annotations

from typing import Any

import pytest

from stack.endpoint.rekognition.detection import (
    ALL_LABELS,
    Detection,
    FirstSightings,
    Label,
    confidence_of,
    head_and_shoulders,
    in_regions,
    min_confidence,
    wanted_labels,
)
from stack.endpoint.rekognition.notifications import Box


def person(confidence: float = 80.0, left: float = 0.1, top: float = 0.1) -> Detection:
    return Detection(Label.PERSON, confidence, Box(left, top, 0.2, 0.4))


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["PERSON"], {Label.PERSON}),
        (["PET", "PACKAGE"], {Label.PET, Label.PACKAGE}),
        (["ALL"], set(ALL_LABELS)),
        ([], set()),
    ],
)
def test_wanted_labels(labels: list[str], expected: set[Label]) -> None:
    assert wanted_labels({"ConnectedHome": {"Labels": labels}}) == expected


def test_min_confidence_defaults_to_50() -> None:
    assert min_confidence({"ConnectedHome": {"Labels": ["PERSON"]}}) == 50.0
    assert min_confidence({"ConnectedHome": {"Labels": ["PERSON"], "MinConfidence": 80}}) == 80.0


def test_confidence_is_50_at_six_neighbours_and_grows() -> None:
    assert confidence_of(6) == pytest.approx(50.0)
    assert confidence_of(3) < 50 < confidence_of(7)
    assert confidence_of(16) == pytest.approx(84.3, abs=0.1)
    assert confidence_of(1000) <= 100


def test_head_and_shoulders_stays_in_the_frame() -> None:
    box = head_and_shoulders(x=10, y=5, w=50, h=50, width=640, height=480)
    assert box.left == 0 and box.top == 0
    assert 0 < box.width <= 1 and 0 < box.height <= 1
    inner = head_and_shoulders(x=300, y=100, w=40, h=40, width=640, height=480)
    assert inner.left < 300 / 640 < inner.left + inner.width
    assert inner.top < 100 / 480 and inner.top + inner.height > 140 / 480  # below the face


RIGHT_HALF: dict[str, Any] = {"BoundingBox": {"Left": 0.5, "Top": 0.0, "Width": 0.5, "Height": 1.0}}
LOWER_LEFT_TRIANGLE: dict[str, Any] = {
    "Polygon": [{"X": 0.0, "Y": 0.0}, {"X": 0.0, "Y": 1.0}, {"X": 1.0, "Y": 1.0}]
}


@pytest.mark.parametrize(
    ("box", "regions", "inside"),
    [
        (Box(0.1, 0.1, 0.2, 0.2), [], True),  # no regions: the whole frame
        (Box(0.6, 0.1, 0.2, 0.2), [RIGHT_HALF], True),
        (Box(0.1, 0.1, 0.2, 0.2), [RIGHT_HALF], False),
        (Box(0.4, 0.1, 0.3, 0.2), [RIGHT_HALF], True),  # centre 0.55: inside
        (Box(0.1, 0.6, 0.2, 0.2), [LOWER_LEFT_TRIANGLE], True),
        (Box(0.6, 0.1, 0.2, 0.2), [LOWER_LEFT_TRIANGLE], False),
        (Box(0.05, 0.3, 0.1, 0.2), [RIGHT_HALF, LOWER_LEFT_TRIANGLE], True),
    ],
)
def test_regions_of_interest(box: Box, regions: list[dict[str, Any]], inside: bool) -> None:
    assert in_regions(box, regions) is inside


def test_a_label_counts_after_two_frames_in_a_row_and_once_per_session() -> None:
    sightings = FirstSightings(frozenset({Label.PERSON}), min_confidence=50)
    assert sightings.observe([person(70)]) == []
    assert sightings.observe([person(60), person(90, left=0.5)]) == [person(90, left=0.5)]
    assert sightings.observe([person(99)]) == []
    assert sightings.observe([person(99)]) == []
    assert sightings.reported == {Label.PERSON}


def test_a_gap_starts_the_count_again() -> None:
    sightings = FirstSightings(frozenset({Label.PERSON}), min_confidence=50)
    assert sightings.observe([person()]) == []
    assert sightings.observe([]) == []
    assert sightings.observe([person()]) == []
    assert sightings.observe([person()]) == [person()]


def test_weak_or_unwanted_detections_do_not_count() -> None:
    sightings = FirstSightings(frozenset({Label.PERSON}), min_confidence=80)
    for _ in range(3):
        assert sightings.observe([person(79.9)]) == []
    only_pets = FirstSightings(frozenset({Label.PET}), min_confidence=0)
    for _ in range(3):
        assert only_pets.observe([person(99)]) == []


def test_one_frame_is_enough_when_configured() -> None:
    sightings = FirstSightings(frozenset({Label.PERSON}), min_confidence=50, confirm_frames=1)
    assert sightings.observe([person()]) == [person()]
