"""Photos of real people for the face APIs, made from the local stack's photographs of people
(``stack.cameras.people``: scikit-image's samples).

- person A: Eileen Collins, the astronaut portrait, 512 x 512;
- person A transformed: the same photo mirrored, turned 8 degrees, darkened to 60 % and
  recompressed at JPEG quality 40;
- person B: the cameraman, a man in three-quarter view behind a camera, grey, 512 x 512;
- two faces: A's head and shoulders beside B's, side by side on one 640 x 320 photo;
- no face: the coffee cup (``skimage.data.coffee()``).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
from skimage import data

from stack.cameras.people import Rgb, astronaut, cameraman, jpeg

__all__ = ["jpeg", "no_face", "person_a", "person_a_transformed", "person_b", "two_faces"]


def _sample(name: str) -> Rgb:
    """One of scikit-image's sample photographs (shipped in its wheel)."""
    return np.asarray(getattr(data, name)(), dtype=np.uint8)


def _turned(image: Rgb, degrees: float) -> Rgb:
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return np.asarray(
        cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT),
        dtype=np.uint8,
    )


@functools.cache
def person_a() -> bytes:
    return jpeg(astronaut())


@functools.cache
def person_a_transformed() -> bytes:
    mirrored = np.ascontiguousarray(astronaut()[:, ::-1])
    darker = (_turned(mirrored, 8) * 0.6).astype(np.uint8)
    return jpeg(darker, quality=40)


@functools.cache
def person_b() -> bytes:
    return jpeg(cameraman())


@functools.cache
def two_faces() -> bytes:
    """A (left) and B (right), each face about 90 pixels wide."""
    a = astronaut()[20:340, 60:380]  # 320 x 320 around her face
    b = cameraman()[60:380, 80:400]  # 320 x 320 around his
    return jpeg(np.concatenate([a, b], axis=1))


@functools.cache
def no_face() -> bytes:
    return jpeg(_sample("coffee"))
