"""Label detection on decoded frames, with detectors that ship inside OpenCV 4.x.

Only PERSON is detected locally: by its face, with OpenCV's Haar cascades for frontal faces
(``haarcascade_frontalface_alt2.xml``, faces from 24 pixels) and for faces in profile or
three-quarter view (``haarcascade_profileface.xml``, faces from 48 pixels). The profile cascade
finds faces turned one way only, so it also runs on the mirror image, its boxes mirrored back.
Boxes of one face (a face found by several of these, overlapping by at least half of the smaller
box) are merged into the one with the most evidence: one PERSON per face. The reported box is the
head and shoulders estimated from the face (the face widened and extended downwards), clipped to
the frame. A person seen from behind or too small is missed.

A profile box counts only with at least ``PROFILE_MIN_NEIGHBOURS`` (confidence 50): the profile
cascade also fires on curved edges (a saucer's rim, folds of cloth), with up to 5 neighbours on
the synthetic scenes. Its larger smallest face keeps each of its two passes below the frontal
one's cost; all three take about twice the frontal pass alone.

PET and PACKAGE are not detected locally: nothing that ships with OpenCV detects them, and a
local session never reports them. A processor asking only for them analyses the video and
finds nothing.

Confidence: the cascade's evidence for a face is the number of overlapping raw detections
(OpenCV's "neighbours"); ``confidence = 100 * (1 - 2 ** (-neighbours / 6))``, so 6 neighbours
is 50 (the ConnectedHome default MinConfidence), 16 is 84. A label is reported only after it is
seen in two analysed frames in a row, and only inside the processor's regions of interest (the
box's centre inside a region), as AWS reports only what is inside them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import cv2
import cv2.data
import numpy as np
import numpy.typing as npt

from stack.endpoint.rekognition.notifications import Box

Image = npt.NDArray[np.uint8]

FACE_CASCADE = "haarcascade_frontalface_alt2.xml"
PROFILE_CASCADE = "haarcascade_profileface.xml"
_SCALE_FACTOR = 1.1
_MIN_NEIGHBOURS = 2
_MIN_FACE_PX = 24
PROFILE_MIN_NEIGHBOURS = 6
_PROFILE_MIN_FACE_PX = 48
SAME_FACE_OVERLAP = 0.5  # of the smaller box: two boxes of one face
_NEIGHBOURS_AT_50 = 6.0
DEFAULT_MIN_CONFIDENCE = 50.0
ANALYSIS_MAX_WIDTH = 640


class Label(StrEnum):
    PERSON = "PERSON"
    PET = "PET"
    PACKAGE = "PACKAGE"


ALL_LABELS = frozenset(Label)
LOCALLY_DETECTED = frozenset({Label.PERSON})


@dataclass(frozen=True)
class Detection:
    label: Label
    confidence: float  # 0 to 100
    box: Box


class Detector(Protocol):
    def detect(self, image: Image) -> list[Detection]: ...


def wanted_labels(settings: Mapping[str, Any]) -> frozenset[Label]:
    """The labels a ConnectedHome processor asks for (``ALL`` is every one)."""
    names = set(settings.get("ConnectedHome", {}).get("Labels", []))
    if "ALL" in names:
        return ALL_LABELS
    return frozenset(Label(name) for name in names if name in Label.__members__)


def min_confidence(settings: Mapping[str, Any]) -> float:
    value = settings.get("ConnectedHome", {}).get("MinConfidence")
    return DEFAULT_MIN_CONFIDENCE if value is None else float(value)


def confidence_of(neighbours: int) -> float:
    return float(100.0 * (1.0 - 2.0 ** (-neighbours / _NEIGHBOURS_AT_50)))


def head_and_shoulders(x: int, y: int, w: int, h: int, width: int, height: int) -> Box:
    """The person's box estimated from a face at (x, y, w, h) pixels, as frame ratios."""
    left = max(0.0, x - 0.6 * w)
    top = max(0.0, y - 0.4 * h)
    right = min(float(width), x + 1.6 * w)
    bottom = min(float(height), y + 2.6 * h)
    return Box(left / width, top / height, (right - left) / width, (bottom - top) / height)


@dataclass(frozen=True)
class FaceBox:
    """A face a cascade found: its box in pixels and the cascade's evidence (neighbours)."""

    x: int
    y: int
    w: int
    h: int
    neighbours: int

    def mirrored(self, width: int) -> FaceBox:
        """The same box in the mirror image of an image `width` pixels wide."""
        return FaceBox(width - self.x - self.w, self.y, self.w, self.h, self.neighbours)

    def scaled(self, factor: float) -> FaceBox:
        return FaceBox(
            round(self.x * factor),
            round(self.y * factor),
            round(self.w * factor),
            round(self.h * factor),
            self.neighbours,
        )

    def overlap(self, other: FaceBox) -> float:
        """The shared area as a share of the smaller box's."""
        across = min(self.x + self.w, other.x + other.w) - max(self.x, other.x)
        down = min(self.y + self.h, other.y + other.h) - max(self.y, other.y)
        if across <= 0 or down <= 0:
            return 0.0
        return across * down / min(self.w * self.h, other.w * other.h)


def distinct_faces(boxes: Iterable[FaceBox]) -> list[FaceBox]:
    """One box per face: the one with the most neighbours among those that overlap it."""
    kept: list[FaceBox] = []
    for box in sorted(boxes, key=lambda b: (-b.neighbours, b.x, b.y, b.w)):
        if all(box.overlap(other) < SAME_FACE_OVERLAP for other in kept):
            kept.append(box)
    return kept


def _cascade(name: str) -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(str(cv2.data.haarcascades) + name)
    if cascade.empty():
        raise RuntimeError(f"OpenCV's {name} did not load")
    return cascade


def _faces(
    cascade: cv2.CascadeClassifier, gray: Image, min_neighbours: int, min_px: int
) -> list[FaceBox]:
    found, neighbours = cascade.detectMultiScale2(
        gray, scaleFactor=_SCALE_FACTOR, minNeighbors=min_neighbours, minSize=(min_px, min_px)
    )
    return [
        FaceBox(int(x), int(y), int(w), int(h), int(count))
        for (x, y, w, h), count in zip(np.asarray(found), np.ravel(neighbours), strict=True)
    ]


class FaceDetector:
    """PERSON by faces, frontal or in profile. One thread at a time: a cascade is not safe to
    share."""

    def __init__(self) -> None:
        self._frontal = _cascade(FACE_CASCADE)
        self._profile = _cascade(PROFILE_CASCADE)

    def faces(self, gray: Image) -> list[FaceBox]:
        """The faces in an equalised grey image, one box each."""
        width = gray.shape[1]
        mirror = np.ascontiguousarray(gray[:, ::-1])
        profile = (PROFILE_MIN_NEIGHBOURS, _PROFILE_MIN_FACE_PX)
        return distinct_faces(
            [
                *_faces(self._frontal, gray, _MIN_NEIGHBOURS, _MIN_FACE_PX),
                *_faces(self._profile, gray, *profile),
                *(box.mirrored(width) for box in _faces(self._profile, mirror, *profile)),
            ]
        )

    def detect(self, image: Image) -> list[Detection]:
        height, width = image.shape[:2]
        scale = min(1.0, ANALYSIS_MAX_WIDTH / width)
        small = image if scale == 1.0 else cv2.resize(image, None, fx=scale, fy=scale)
        gray = np.asarray(cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)), np.uint8)
        found = []
        for face in self.faces(gray):
            box = face.scaled(1 / scale)
            person = head_and_shoulders(box.x, box.y, box.w, box.h, width, height)
            found.append(Detection(Label.PERSON, confidence_of(face.neighbours), person))
        return found


class NoDetector:
    """For processors that want no label this endpoint can detect."""

    def detect(self, image: Image) -> list[Detection]:
        return []


def detector_for(labels: frozenset[Label]) -> Detector:
    return FaceDetector() if Label.PERSON in labels else NoDetector()


# -- regions of interest ----------------------------------------------------------------------


def _inside_polygon(x: float, y: float, points: Sequence[tuple[float, float]]) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in zip(points, [*points[1:], points[0]], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def in_regions(box: Box, regions: Iterable[Mapping[str, Any]]) -> bool:
    """Whether the box's centre is in one of the regions (no regions: the whole frame)."""
    regions = list(regions)
    if not regions:
        return True
    cx, cy = box.left + box.width / 2, box.top + box.height / 2
    for region in regions:
        rect = region.get("BoundingBox")
        if rect is not None:
            left, top = float(rect.get("Left", 0)), float(rect.get("Top", 0))
            right, bottom = left + float(rect["Width"]), top + float(rect["Height"])
            if left <= cx <= right and top <= cy <= bottom:
                return True
        polygon = region.get("Polygon")
        if polygon and _inside_polygon(cx, cy, [(float(p["X"]), float(p["Y"])) for p in polygon]):
            return True
    return False


# -- first sightings --------------------------------------------------------------------------


class FirstSightings:
    """Which label classes are seen for the first time in a session, frame after frame.

    A label counts once it is found (at `min_confidence` or more, among `labels`) in
    `confirm_frames` analysed frames in a row; each label is reported once per session.
    """

    def __init__(
        self, labels: frozenset[Label], min_confidence: float, confirm_frames: int = 2
    ) -> None:
        self._labels = labels
        self._min_confidence = min_confidence
        self._confirm = confirm_frames
        self._streak: dict[Label, int] = {}
        self.reported: set[Label] = set()

    def observe(self, detections: Iterable[Detection]) -> list[Detection]:
        best: dict[Label, Detection] = {}
        for detection in detections:
            if detection.label not in self._labels or detection.label in self.reported:
                continue
            if detection.confidence < self._min_confidence:
                continue
            known = best.get(detection.label)
            if known is None or detection.confidence > known.confidence:
                best[detection.label] = detection
        for label in list(self._streak):
            if label not in best:
                del self._streak[label]
        confirmed = []
        for label, detection in sorted(best.items()):
            self._streak[label] = self._streak.get(label, 0) + 1
            if self._streak[label] >= self._confirm:
                self.reported.add(label)
                confirmed.append(detection)
        return confirmed
