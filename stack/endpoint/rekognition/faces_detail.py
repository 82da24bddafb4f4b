"""What the face APIs say about a face found in an image: ``FaceDetail`` and quality (pure).

From a face's box, its score and its 68 landmarks (dlib's numbering) and the image's grey levels:

- ``BoundingBox``: the box as ratios of the image's width and height (beyond 0..1 where the face
  leaves the image, as AWS's may). ``Confidence``: the detector's (``faces_model``).
- ``Landmarks``: by default AWS's five (``eyeLeft``, ``eyeRight``, ``mouthLeft``,
  ``mouthRight``, ``nose``); with ``ALL`` its thirty, each from the matching landmarks (a pupil is
  its eye's centre: dlib has no pupil point). Left and right are the image's, as in AWS's answers.
- ``Pose`` (degrees) from the landmarks and a generic face's proportions: ``Roll`` is the angle
  of the line through the eyes (positive when the face leans clockwise in the image); ``Yaw``
  is ``atan(offset / (0.6 * half the span of the outer eye corners))`` of the nose tip's offset
  from the corners' middle (positive when the face turns to the image's right); ``Pitch`` comes
  from where the nose tip lies between the eye corners and the mouth corners, 0 where a frontal
  face has it (64 % of the way down), positive when the face tilts up. AWS does not document
  its sign conventions.
- ``Quality``: ``Brightness`` is the face box's mean grey level on 0..100; ``Sharpness`` is
  ``100 * (1 - exp(-v / 60))`` of the variance ``v`` of the Laplacian of the face scaled to
  128 x 128 pixels (a sharp portrait is about 90, a face blurred by 3 pixels about 6).
- With ``ALL``, ``EYES_OPEN`` or ``MOUTH_OPEN``: ``EyesOpen`` is true when the eyes' mean aspect
  ratio (lid gap over eye width) is at least 0.2; ``MouthOpen`` when the gap between the inner
  lips is at least 0.25 of the mouth's width; their confidence grows from 50 at that threshold.

Not computed (the local models cannot tell): ``AgeRange``, ``Smile``, ``Eyeglasses``,
``Sunglasses``, ``Gender``, ``Beard``, ``Mustache``, ``Emotions``, ``FaceOccluded``,
``EyeDirection``. ``ALL`` returns the rest; naming one of these is refused (``faces_requests``).

Quality bars (``QualityFilter``): a face misses a bar for each of ``LOW_CONFIDENCE``,
``SMALL_BOUNDING_BOX`` (the box's shorter side in pixels), ``LOW_BRIGHTNESS``,
``LOW_SHARPNESS`` and ``EXTREME_POSE`` (``|Yaw|`` or ``|Pitch|``) below the level's limits
(``BARS``); ``AUTO`` is ``MEDIUM``, ``NONE`` lets every face through. AWS does not publish its
bars; ``LOW_FACE_QUALITY`` is never given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

Points = npt.NDArray[np.float64]  # (68, 2): x, y in pixels
GreyImage = npt.NDArray[np.uint8]

_EYE_DEPTH_RATIO = 0.6  # nose tip's depth in front of the outer eye corners / half their span
_FRONTAL_NOSE_HEIGHT = 0.64  # nose tip between eye corners (0) and mouth corners (1)
_EYES_OPEN_RATIO = 0.2
_MOUTH_OPEN_RATIO = 0.25
_SHARPNESS_SCALE = 60.0
_SHARPNESS_SIDE = 128


class QualityFilter(StrEnum):
    NONE = "NONE"
    AUTO = "AUTO"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class Reason(StrEnum):
    EXCEEDS_MAX_FACES = "EXCEEDS_MAX_FACES"
    EXTREME_POSE = "EXTREME_POSE"
    LOW_BRIGHTNESS = "LOW_BRIGHTNESS"
    LOW_SHARPNESS = "LOW_SHARPNESS"
    LOW_CONFIDENCE = "LOW_CONFIDENCE"
    SMALL_BOUNDING_BOX = "SMALL_BOUNDING_BOX"
    LOW_FACE_QUALITY = "LOW_FACE_QUALITY"


@dataclass(frozen=True)
class FoundFace:
    """A face found in an image: its box in pixels (it may reach past the image's edges)."""

    left: int
    top: int
    right: int
    bottom: int
    confidence: float
    points: Points

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class Pose:
    roll: float
    yaw: float
    pitch: float


@dataclass(frozen=True)
class FaceFacts:
    """What the quality bars look at."""

    confidence: float
    shorter_side_px: int
    brightness: float
    sharpness: float
    pose: Pose


@dataclass(frozen=True)
class Bar:
    min_confidence: float
    min_side_px: int
    min_brightness: float
    min_sharpness: float
    max_angle: float


BARS = {
    QualityFilter.LOW: Bar(50.0, 32, 10.0, 5.0, 60.0),
    QualityFilter.MEDIUM: Bar(80.0, 40, 15.0, 10.0, 45.0),
    QualityFilter.HIGH: Bar(95.0, 50, 25.0, 20.0, 30.0),
}
BARS[QualityFilter.AUTO] = BARS[QualityFilter.MEDIUM]

# AWS's landmark types, in the order AWS lists them, and the dlib points each is the mean of.
DEFAULT_LANDMARKS: dict[str, tuple[int, ...]] = {
    "eyeLeft": tuple(range(36, 42)),
    "eyeRight": tuple(range(42, 48)),
    "mouthLeft": (48,),
    "mouthRight": (54,),
    "nose": (30,),
}
ALL_LANDMARKS: dict[str, tuple[int, ...]] = {
    **DEFAULT_LANDMARKS,
    "leftEyeBrowLeft": (17,),
    "leftEyeBrowRight": (21,),
    "leftEyeBrowUp": (19,),
    "rightEyeBrowLeft": (22,),
    "rightEyeBrowRight": (26,),
    "rightEyeBrowUp": (24,),
    "leftEyeLeft": (36,),
    "leftEyeRight": (39,),
    "leftEyeUp": (37, 38),
    "leftEyeDown": (40, 41),
    "rightEyeLeft": (42,),
    "rightEyeRight": (45,),
    "rightEyeUp": (43, 44),
    "rightEyeDown": (46, 47),
    "noseLeft": (31,),
    "noseRight": (35,),
    "mouthUp": (51,),
    "mouthDown": (57,),
    "leftPupil": tuple(range(36, 42)),
    "rightPupil": tuple(range(42, 48)),
    "upperJawlineLeft": (0,),
    "midJawlineLeft": (4,),
    "chinBottom": (8,),
    "midJawlineRight": (12,),
    "upperJawlineRight": (16,),
}


def bounding_box(face: FoundFace, width: int, height: int) -> dict[str, float]:
    return {
        "Width": face.width / width,
        "Height": face.height / height,
        "Left": face.left / width,
        "Top": face.top / height,
    }


def landmarks(points: Points, width: int, height: int, every: bool) -> list[dict[str, Any]]:
    chosen = ALL_LANDMARKS if every else DEFAULT_LANDMARKS
    out: list[dict[str, Any]] = []
    for name, indexes in chosen.items():
        x, y = points[list(indexes)].mean(axis=0)
        out.append({"Type": name, "X": float(x) / width, "Y": float(y) / height})
    return out


def pose_of(points: Points) -> Pose:
    left_eye, right_eye = points[36:42].mean(axis=0), points[42:48].mean(axis=0)
    roll = math.atan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0])
    cos, sin = math.cos(-roll), math.sin(-roll)
    upright = (points - points[30]) @ np.array([[cos, -sin], [sin, cos]]).T  # nose tip at 0
    corners = (upright[36] + upright[45]) / 2
    half_span = max((upright[45][0] - upright[36][0]) / 2, 1e-6)
    yaw = math.atan(-corners[0] / half_span / _EYE_DEPTH_RATIO)
    mouth = (upright[48] + upright[54]) / 2
    nose_height = -corners[1] / max(mouth[1] - corners[1], 1e-6)
    # The generic face: eye corners 320 units above the mouth corners and 135 behind the nose
    # tip, mouth corners 125 behind it; the nose tip _FRONTAL_NOSE_HEIGHT of the way down.
    above, below = 320 * _FRONTAL_NOSE_HEIGHT, 320 * (1 - _FRONTAL_NOSE_HEIGHT)
    pitch = math.atan((above - (above + below) * nose_height) / (135 - (135 - 125) * nose_height))
    return Pose(math.degrees(roll), math.degrees(yaw), math.degrees(pitch))


def _face_pixels(face: FoundFace, grey: GreyImage) -> GreyImage:
    height, width = grey.shape[:2]
    x0, y0 = max(face.left, 0), max(face.top, 0)
    x1, y1 = min(face.right, width), min(face.bottom, height)
    if x1 <= x0 or y1 <= y0:
        return np.zeros((1, 1), dtype=np.uint8)
    return grey[y0:y1, x0:x1]


def brightness_of(face: FoundFace, grey: GreyImage) -> float:
    return float(_face_pixels(face, grey).mean()) * 100.0 / 255.0


def sharpness_of(face: FoundFace, grey: GreyImage) -> float:
    pixels = _face_pixels(face, grey)
    shrink = pixels.shape[0] > _SHARPNESS_SIDE
    scaled = cv2.resize(
        pixels,
        (_SHARPNESS_SIDE, _SHARPNESS_SIDE),
        interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR,
    )
    variance = float(cv2.Laplacian(scaled, cv2.CV_64F).var())
    return 100.0 * (1.0 - math.exp(-variance / _SHARPNESS_SCALE))


def facts_of(face: FoundFace, grey: GreyImage) -> FaceFacts:
    return FaceFacts(
        confidence=face.confidence,
        shorter_side_px=min(face.width, face.height),
        brightness=brightness_of(face, grey),
        sharpness=sharpness_of(face, grey),
        pose=pose_of(face.points),
    )


def reasons_against(facts: FaceFacts, level: QualityFilter) -> list[Reason]:
    """The bars of ``level`` the face misses (none for ``NONE``)."""
    bar = BARS.get(level)
    if bar is None:
        return []
    reasons: list[Reason] = []
    if max(abs(facts.pose.yaw), abs(facts.pose.pitch)) > bar.max_angle:
        reasons.append(Reason.EXTREME_POSE)
    if facts.brightness < bar.min_brightness:
        reasons.append(Reason.LOW_BRIGHTNESS)
    if facts.sharpness < bar.min_sharpness:
        reasons.append(Reason.LOW_SHARPNESS)
    if facts.confidence < bar.min_confidence:
        reasons.append(Reason.LOW_CONFIDENCE)
    if facts.shorter_side_px < bar.min_side_px:
        reasons.append(Reason.SMALL_BOUNDING_BOX)
    return reasons


def _eye_ratio(eye: Points) -> float:
    lids = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
    return float(lids / (2 * max(float(np.linalg.norm(eye[0] - eye[3])), 1e-6)))


def _verdict(ratio: float, threshold: float) -> dict[str, Any]:
    """True at or over ``threshold``; confidence 50 there, 100 at twice as far from it."""
    certainty = min(abs(ratio - threshold) / threshold, 1.0)
    return {"Value": ratio >= threshold, "Confidence": 50.0 + 50.0 * certainty}


def eyes_open(points: Points) -> dict[str, Any]:
    ratio = (_eye_ratio(points[36:42]) + _eye_ratio(points[42:48])) / 2
    return _verdict(ratio, _EYES_OPEN_RATIO)


def mouth_open(points: Points) -> dict[str, Any]:
    width = max(float(np.linalg.norm(points[54] - points[48])), 1e-6)
    return _verdict(float(np.linalg.norm(points[66] - points[62])) / width, _MOUTH_OPEN_RATIO)


def face_detail(
    face: FoundFace,
    facts: FaceFacts,
    width: int,
    height: int,
    extras: Sequence[str] = (),
    every_landmark: bool = False,
) -> dict[str, Any]:
    """AWS's ``FaceDetail``: the default attributes, plus ``EyesOpen``/``MouthOpen`` if asked."""
    detail: dict[str, Any] = {
        "BoundingBox": bounding_box(face, width, height),
        "Landmarks": landmarks(face.points, width, height, every_landmark),
        "Pose": {"Roll": facts.pose.roll, "Yaw": facts.pose.yaw, "Pitch": facts.pose.pitch},
        "Quality": {"Brightness": facts.brightness, "Sharpness": facts.sharpness},
        "Confidence": facts.confidence,
    }
    if "EYES_OPEN" in extras:
        detail["EyesOpen"] = eyes_open(face.points)
    if "MOUTH_OPEN" in extras:
        detail["MouthOpen"] = mouth_open(face.points)
    return detail
