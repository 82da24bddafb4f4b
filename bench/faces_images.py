"""The face benchmark's pictures, made offline from the two people's photographs: each photograph
changed as a camera or a light would change it, and door-camera frames with the person in them.
Pure: arrays in, JPEG bytes out.

Person A is Eileen Collins (scikit-image's `astronaut`), person B the cameraman (its `camera`,
grey), from `stack.cameras.people`: the only photographs of people that ship with the installed
packages. Every picture of a person is made from that person's one photograph (the `visitor` and
`stranger` scenes are made from them too), so "the same person" here always means the same
photograph changed, never another day or another angle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

import cv2
import numpy as np

from stack.cameras import people
from stack.cameras.people import Rgb, jpeg
from stack.cameras.scenes import VISIT_ARRIVES_S, VISIT_LEAVES_S, SceneKind, scene_frame

FRAME_WIDTH, FRAME_HEIGHT = 1280, 720  # the frames analyzer's images (`frames_image_width`)
ENROL_QUALITY = 92
PROBE_QUALITY = 90
FRAME_QUALITY = 85  # the scenes' Motion JPEG quality
SCENE_FPS = 15
STANDING_S = (VISIT_ARRIVES_S + VISIT_LEAVES_S) / 2  # the caller stands still at the door
WALKING_IN_S = 2.0  # still walking up, smaller


class Person(StrEnum):
    A = "A"
    B = "B"


# The face in each 512 px photograph: dlib's box (left, top, right, bottom), as the local
# endpoint finds it; it places and sizes the person in a door frame.
FACE_BOX: dict[Person, tuple[int, int, int, int]] = {
    Person.A: (175, 76, 265, 166),
    Person.B: (216, 130, 268, 182),
}
# Head and shoulders in each photograph (top, bottom, left, right): the "crop" picture.
HEAD: dict[Person, tuple[int, int, int, int]] = {
    Person.A: (20, 340, 60, 380),
    Person.B: (60, 380, 80, 400),
}


@dataclass(frozen=True)
class Probe:
    """One picture of a person to search."""

    person: Person
    variant: str  # what was done to the photograph
    data: bytes  # JPEG


@dataclass(frozen=True)
class Variant:
    name: str
    make: Callable[[Person, Rgb], Rgb]
    quality: int = PROBE_QUALITY


def photograph(person: Person) -> Rgb:
    """The person's photograph, RGB, 512 x 512 (read-only)."""
    return people.astronaut() if person is Person.A else people.cameraman()


def enrolment_photo(person: Person) -> bytes:
    """The one photo a person is indexed from: the photograph itself."""
    return jpeg(photograph(person), ENROL_QUALITY)


def turned(image: Rgb, degrees: float) -> Rgb:
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return np.asarray(
        cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT), np.uint8
    )


def lit(image: Rgb, factor: float) -> Rgb:
    """Darker (< 1) or brighter (> 1), clipped."""
    return np.asarray(np.clip(image.astype(np.float32) * factor, 0, 255), dtype=np.uint8)


def blurred(image: Rgb, sigma: float) -> Rgb:
    return np.asarray(cv2.GaussianBlur(image, (0, 0), sigma), dtype=np.uint8)


def scaled(image: Rgb, factor: float) -> Rgb:
    height, width = image.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def mirrored(image: Rgb) -> Rgb:
    return np.ascontiguousarray(image[:, ::-1])


def head(person: Person, image: Rgb) -> Rgb:
    top, bottom, left, right = HEAD[person]
    return np.ascontiguousarray(image[top:bottom, left:right])


@cache
def wall(width: int, height: int) -> Rgb:
    """The scenes' wall with nobody in front of it (a visit scene before the caller comes)."""
    return scene_picture(Person.A, 0.0, width, height)


def door_frame(
    person: Person,
    face_px: int,
    x_fraction: float,
    width: int = FRAME_WIDTH,
    height: int = FRAME_HEIGHT,
) -> Rgb:
    """A `width` x `height` frame (RGB) of the person's photograph in front of a wall, scaled so
    that the face is `face_px` wide, its centre at `x_fraction` of the width and a third of the
    height down (a visitor at the door)."""
    left, top, right, bottom = FACE_BOX[person]
    factor = face_px / (right - left)
    picture = scaled(photograph(person), factor)
    x = round(x_fraction * width - (left + right) / 2 * factor)
    y = round(height / 3 - (top + bottom) / 2 * factor)
    frame = wall(width, height).copy()
    h, w = picture.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
    if x1 > x0 and y1 > y0:
        frame[y0:y1, x0:x1] = picture[y0 - y : y1 - y, x0 - x : x1 - x]
    return frame


def _in_frame(face_px: int) -> Callable[[Person, Rgb], Rgb]:
    def make(person: Person, _: Rgb) -> Rgb:
        return door_frame(person, face_px, 0.5)

    return make


VARIANTS: tuple[Variant, ...] = (
    Variant("mirrored", lambda _, im: mirrored(im)),
    Variant("turned 10°", lambda _, im: turned(im, 10)),
    Variant("turned -15°", lambda _, im: turned(im, -15)),
    Variant("dark (40 %)", lambda _, im: lit(im, 0.4)),
    Variant("bright (150 %)", lambda _, im: lit(im, 1.5)),
    Variant("blurred (Gaussian, 2 px)", lambda _, im: blurred(im, 2.0)),
    Variant("blurred (Gaussian, 4 px)", lambda _, im: blurred(im, 4.0)),
    Variant("scaled to 50 %", lambda _, im: scaled(im, 0.5)),
    Variant("scaled to 35 %", lambda _, im: scaled(im, 0.35)),
    Variant("head and shoulders", head),
    Variant("JPEG quality 15", lambda _, im: im, quality=15),
    Variant(
        "mirrored, turned 8°, dark, JPEG 40",
        lambda _, im: lit(turned(mirrored(im), 8), 0.6),
        quality=40,
    ),
    Variant("1280x720 frame, face 100 px", _in_frame(100), quality=FRAME_QUALITY),
    Variant("1280x720 frame, face 60 px", _in_frame(60), quality=FRAME_QUALITY),
)


# The scene each person calls at the door in, and the frames of it that are searched.
SCENES = {Person.A: SceneKind.VISITOR, Person.B: SceneKind.STRANGER}
SCENE_SHOTS: tuple[tuple[str, float, int, int], ...] = (
    ("standing at the door", STANDING_S, 1280, 720),
    ("standing at the door", STANDING_S, 640, 480),
    ("walking up", WALKING_IN_S, 1280, 720),
)


def scene_picture(person: Person, at_s: float, width: int, height: int) -> Rgb:
    """The frame of the person's scene at `at_s` seconds, RGB."""
    bgr = scene_frame(SCENES[person], round(at_s * SCENE_FPS), width, height, SCENE_FPS)
    return np.ascontiguousarray(bgr[:, :, ::-1])


def probes() -> list[Probe]:
    """Every variant of each person's photograph (the photograph itself is not among them),
    then the person's scene frames."""
    found = []
    for person in Person:
        for v in VARIANTS:
            found.append(Probe(person, v.name, jpeg(v.make(person, photograph(person)), v.quality)))
        for what, at_s, width, height in SCENE_SHOTS:
            picture = scene_picture(person, at_s, width, height)
            name = f"{SCENES[person].value} scene, {what} ({width}x{height})"
            found.append(Probe(person, name, jpeg(picture, FRAME_QUALITY)))
    return found


def latency_frame(index: int) -> tuple[Person, bytes]:
    """Detection frame `index` for the latency rounds: A and B in turn, the face 90 to 120 px
    wide, somewhere else in the frame each time, so that no two frames have the same bytes (the
    local endpoint remembers the last images it analysed)."""
    person = Person.A if index % 2 == 0 else Person.B
    face_px = 90 + 10 * (index % 4)
    x_fraction = 0.2 + (index * 0.137) % 0.6
    return person, jpeg(door_frame(person, face_px, x_fraction), FRAME_QUALITY)
