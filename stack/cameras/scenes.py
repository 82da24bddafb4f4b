"""Synthetic camera scenes: video files a simulated camera plays as its `file` source.

Made from scikit-image's sample photographs (no download) moving over a blurred wall: real
motion for the motion detector and, in `person`, a real face for the local stream processor.
`person`: the astronaut portrait moving to and fro; `empty`: a cup and a rocket, no person;
`storm`: the astronaut crossing again and again, in bursts with stillness between them, so that
with the agent's `motion.gap_seconds = 1` every burst is a motion event of its own.

`visitor` and `stranger` are a caller at a front door, every `VISIT_PERIOD_S` seconds: the person
steps into view at the left edge at `VISIT_ENTERS_S`, walks up to the camera growing larger,
stands still in front of it, large, from `VISIT_ARRIVES_S` to `VISIT_LEAVES_S`, walks off to the
right and is out of view from `VISIT_GONE_S`; only the wall before and after. `visitor` is the
astronaut (facing the camera: the known face once indexed), `stranger` the cameraman (three-
quarter view), both head and shoulders from `stack.cameras.people`.

Staged scenes (`StagedScene`) are for benchmarks and tests, not offered by `fleet camera
simulate`: `late-person` is `empty` (motion from the first frame, no person) until the astronaut
walks in from the left at `LATE_PERSON_ENTERS_S` and then moves to and fro, so a session started
by the first motion has the person only in its later part.

Frames are a pure function of the scene, the frame index and the size (`scene_frame`);
`write_scene` encodes them as Motion JPEG in AVI with OpenCV, which GStreamer's `decodebin`
plays (`avidemux` and `jpegdec` are in plugins-good), as the agent's file source requires.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from skimage import data

from stack.cameras import people

Image = npt.NDArray[np.uint8]

SUFFIX = ".avi"
_FOURCC = cv2.VideoWriter.fourcc(*"MJPG")
_JPEG_QUALITY = 85
STORM_BURST_S = 2.5
STORM_STILL_S = 1.5
LATE_PERSON_ENTERS_S = 10.0
WALK_IN_S = 1.5  # a late sprite takes this long to come fully into view from the left edge
VISIT_ENTERS_S = 0.5  # a visitor steps into view at the left edge
VISIT_ARRIVES_S = 3.0  # and stands still in front of the camera
VISIT_LEAVES_S = 9.0  # until walking off to the right
VISIT_GONE_S = 11.0  # out of view again
VISIT_PERIOD_S = 14  # a visit scene repeats
_VISIT_FAR = 0.6  # the visitor's height on stepping into view, share of the frame height
_VISIT_NEAR = 0.95  # standing at the door
_VISIT_OFF = 0.75  # on stepping out of view
_VISIT_TOP = 0.02  # the head stays near the top, at about the camera's height
_VISIT_BOB = 0.015  # steps: vertical wobble while walking, share of the frame height


class SceneKind(StrEnum):
    """The scenes `fleet camera simulate` offers (`cli.options.Scenario` names the same)."""

    PERSON = "person"
    EMPTY = "empty"
    STORM = "storm"
    VISITOR = "visitor"
    STRANGER = "stranger"


class StagedScene(StrEnum):
    """Scenes for benchmarks and tests: events at set times of the scene."""

    LATE_PERSON = "late-person"


Scene = SceneKind | StagedScene


@dataclass(frozen=True)
class _Sprite:
    """A photograph scaled to a fraction of the frame height, moving along a path."""

    image: str  # the skimage.data sample
    height_fraction: float
    period_s: float  # one full to-and-fro (or crossing) takes this long
    phase: float  # 0..1, where on its path it starts
    y_fraction: float  # vertical position of its top, as a fraction of the free space
    bob_fraction: float = 0.0  # vertical wobble, fraction of the frame height
    crossing: bool = False  # enter on the left, leave on the right, again and again
    enters_s: float = 0.0  # absent before; then walks in from the left over WALK_IN_S


@dataclass(frozen=True)
class _Visit:
    """A person calling at the door: a photograph cropped to head and shoulders."""

    photo: Callable[[], people.Rgb]
    crop: tuple[int, int, int, int]  # top, bottom, left, right in the photograph


_VISITS: dict[Scene, _Visit] = {
    SceneKind.VISITOR: _Visit(people.astronaut, (0, 400, 20, 420)),  # her head and shoulders
    SceneKind.STRANGER: _Visit(people.cameraman, (20, 420, 40, 440)),  # his head and shoulders
}


_SPRITES: dict[Scene, tuple[_Sprite, ...]] = {
    SceneKind.PERSON: (_Sprite("astronaut", 0.6, 12.0, 0.1, 0.5, bob_fraction=0.02),),
    SceneKind.EMPTY: (
        _Sprite("coffee", 0.4, 8.0, 0.0, 0.9, bob_fraction=0.03),
        _Sprite("rocket", 0.35, 10.0, 0.5, 0.1),
    ),
    SceneKind.STORM: (
        _Sprite("coffee", 0.3, 5.0, 0.3, 0.95, bob_fraction=0.05),
        _Sprite("astronaut", 0.6, 4.0, 0.0, 0.4, bob_fraction=0.03, crossing=True),
    ),
    StagedScene.LATE_PERSON: (
        _Sprite("coffee", 0.4, 8.0, 0.0, 0.9, bob_fraction=0.03),
        _Sprite("rocket", 0.35, 10.0, 0.5, 0.1),
        _Sprite("astronaut", 0.6, 12.0, 0.0, 0.5, bob_fraction=0.02, enters_s=LATE_PERSON_ENTERS_S),
    ),
}


def scene_kind(kind: Scene | str) -> Scene:
    """The scene of this name (a `SceneKind` or a `StagedScene`); ValueError for another."""
    for kinds in (SceneKind, StagedScene):
        try:
            return kinds(kind)
        except ValueError:
            continue
    raise ValueError(f"{kind!r} is not a scene")


def scene_frame(kind: Scene, index: int, width: int, height: int, fps: int) -> Image:
    """Frame `index` (BGR, `height` x `width`) of a scene played at `fps`."""
    t = index / fps
    if kind is SceneKind.STORM:  # bursts of motion, the picture frozen in between
        bursts, into = divmod(t, STORM_BURST_S + STORM_STILL_S)
        t = bursts * STORM_BURST_S + min(into, STORM_BURST_S)
    frame = _background(width, height).copy()
    if kind is SceneKind.STORM:
        _draw_shapes(frame, t)
    for sprite in _SPRITES.get(kind, ()):
        _paste(
            frame, _sprite_image(sprite.image, round(height * sprite.height_fraction)), sprite, t
        )
    visit = _VISITS.get(kind)
    if visit is not None:
        _paste_visit(frame, _visit_image(visit), t)
    return frame


def write_scene(
    kind: Scene | str,
    path: Path,
    seconds: int,
    width: int = 640,
    height: int = 480,
    fps: int = 15,
) -> Path:
    """Write `seconds` of the scene to `path` (Motion JPEG in AVI) and return `path`."""
    scene = scene_kind(kind)
    if path.suffix != SUFFIX:
        raise ValueError(f"a scene is written as Motion JPEG in AVI: {path} must end in {SUFFIX}")
    if seconds < 1 or fps < 1 or width < 64 or height < 64:
        raise ValueError("a scene needs seconds >= 1, fps >= 1 and at least 64x64 pixels")
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), _FOURCC, float(fps), (width, height))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write {path}")
    try:
        writer.set(cv2.VIDEOWRITER_PROP_QUALITY, _JPEG_QUALITY)
        for index in range(seconds * fps):
            writer.write(scene_frame(scene, index, width, height, fps))
    finally:
        writer.release()
    return path


def visit_place(t: float, width: int, height: int, aspect: float) -> tuple[int, int, int] | None:
    """Where a visit scene's person is at `t` seconds: left, top and height in pixels of a
    `width` x `height` frame (`aspect`: the photograph's width / height); None out of view.
    """
    t %= VISIT_PERIOD_S
    if t < VISIT_ENTERS_S or t >= VISIT_GONE_S:
        return None
    if t < VISIT_ARRIVES_S:  # walking in from the left, slowing to a stop in the middle
        walked = (t - VISIT_ENTERS_S) / (VISIT_ARRIVES_S - VISIT_ENTERS_S)
        way = -((1 - walked) ** 2)
    elif t < VISIT_LEAVES_S:  # standing still
        walked, way = 1.0, 0.0
    else:  # walking off to the right, speeding up
        walked = (t - VISIT_LEAVES_S) / (VISIT_GONE_S - VISIT_LEAVES_S)
        way = walked**2
    far = _VISIT_FAR if way < 0 else _VISIT_OFF  # smaller the farther from the middle
    h = round(height * (_VISIT_NEAR - (_VISIT_NEAR - far) * abs(way)))
    w = round(h * aspect)
    middle = (width - w) / 2
    left = round(middle + way * (middle + w))  # way -1: just out of view left; +1: right
    steps = abs(math.sin(2 * math.pi * t)) if 0 < walked < 1 else 0.0
    return left, round(height * (_VISIT_TOP + _VISIT_BOB * steps)), h


@cache
def _background(width: int, height: int) -> Image:
    """A blurred, dimmed brick wall over a floor gradient: static, without people."""
    wall = cv2.resize(_sample("brick"), (width, height), interpolation=cv2.INTER_AREA)
    wall = cv2.GaussianBlur(wall, (0, 0), 2.0)
    floor = np.linspace(0.55, 0.95, height, dtype=np.float32)[:, None]
    tinted = np.stack([wall * 0.55, wall * 0.6 * floor, wall * 0.7 * floor], axis=-1)
    return np.asarray(np.clip(tinted + 30, 0, 255), dtype=np.uint8)


def _sample(name: str) -> Image:
    """One of scikit-image's sample photographs (shipped in the package, never downloaded)."""
    return np.asarray(getattr(data, name)(), dtype=np.uint8)


@cache
def _sprite_image(name: str, height: int) -> Image:
    rgb = _sample(name)
    bgr = np.ascontiguousarray(rgb[:, :, 2::-1])
    width = max(1, round(bgr.shape[1] * height / bgr.shape[0]))
    return np.asarray(cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA), np.uint8)


@cache
def _visit_image(visit: _Visit) -> Image:
    top, bottom, left, right = visit.crop
    rgb = visit.photo()[top:bottom, left:right]
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _paste_visit(frame: Image, image: Image, t: float) -> None:
    frame_h, frame_w = frame.shape[:2]
    place = visit_place(t, frame_w, frame_h, image.shape[1] / image.shape[0])
    if place is None:
        return
    left, top, h = place
    w = round(h * image.shape[1] / image.shape[0])
    scaled = np.asarray(cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA), np.uint8)
    _blit(frame, scaled, left, top)


def _paste(frame: Image, image: Image, sprite: _Sprite, t: float) -> None:
    frame_h, frame_w = frame.shape[:2]
    h, w = image.shape[:2]
    walked_in = 1.0  # the share of a late sprite's walk-in done; 1 for every other sprite
    if sprite.enters_s:
        if t < sprite.enters_s:
            return
        walked_in = min(1.0, (t - sprite.enters_s) / WALK_IN_S)
        t = max(0.0, t - sprite.enters_s - WALK_IN_S)  # its path starts where the walk-in ends
    cycle = (t / sprite.period_s + sprite.phase) % 1.0
    if sprite.crossing:  # from fully off the left edge to fully off the right edge
        x = round(-w + cycle * (frame_w + w))
    else:  # to and fro, smoothly, staying inside the frame
        x = round((frame_w - w) * (0.5 - 0.5 * math.cos(2 * math.pi * cycle)))
    if walked_in < 1:  # from fully off the left edge to where its path begins
        x = round(-w + (x + w) * walked_in)
    bob = sprite.bob_fraction * frame_h * math.sin(4 * math.pi * cycle)
    y = round(max(0, frame_h - h) * sprite.y_fraction + bob)
    _blit(frame, image, x, y)


def _blit(frame: Image, image: Image, x: int, y: int) -> None:
    """Paste `image` with its top left corner at (x, y); what falls outside the frame is cut."""
    frame_h, frame_w = frame.shape[:2]
    h, w = image.shape[:2]
    left, top = max(x, 0), max(y, 0)
    right, bottom = min(x + w, frame_w), min(y + h, frame_h)
    if right <= left or bottom <= top:
        return
    frame[top:bottom, left:right] = image[top - y : bottom - y, left - x : right - x]


def _draw_shapes(frame: Image, t: float) -> None:
    """Storm only: shapes that move and change colour all the time (no people)."""
    frame_h, frame_w = frame.shape[:2]
    for i in range(4):
        angle = 2 * math.pi * (t / (2.0 + i) + i / 4)
        cx = round(frame_w * (0.5 + 0.4 * math.cos(angle)))
        cy = round(frame_h * (0.5 + 0.35 * math.sin(1.3 * angle)))
        colour = (60 * i % 255, (90 + 50 * i) % 255, round(127 + 120 * math.sin(angle)))
        radius = round(frame_h * (0.04 + 0.02 * i))
        cv2.circle(frame, (cx, cy), radius, colour, thickness=-1)
