"""Photographs of people the local stack has, and JPEG helpers for them.

Both are scikit-image's sample photographs (in its wheel, never downloaded), RGB, 512 x 512:

- the astronaut: Eileen Collins (``skimage.data.astronaut()``), facing the camera;
- the cameraman (``skimage.data.camera()``): a man in three-quarter view behind a camera,
  grey (made RGB).

Their faces are 90 and 52 pixels wide by dlib's box (brows to chin).

No other photographs of people ship with the installed packages: OpenCV's wheel has none,
``face_recognition_models`` only models, and scikit-image's ``lfw_subset`` faces are 25 pixels.
The arrays are shared and read-only: copy one to change it.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import numpy.typing as npt
from skimage import data

Rgb = npt.NDArray[np.uint8]

DEFAULT_JPEG_QUALITY = 92


@functools.cache
def astronaut() -> Rgb:
    """Eileen Collins, frontal (RGB, 512 x 512, read-only)."""
    return _read_only(_sample("astronaut"))


@functools.cache
def cameraman() -> Rgb:
    """The cameraman, in three-quarter view (grey as RGB, 512 x 512, read-only)."""
    grey = _sample("camera")
    return _read_only(np.stack([grey, grey, grey], axis=-1))


def jpeg(image: Rgb, quality: int = DEFAULT_JPEG_QUALITY) -> bytes:
    """``image`` (RGB) as JPEG bytes at ``quality`` (0 to 100)."""
    bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"OpenCV cannot encode a {image.shape} image as JPEG")
    return bytes(encoded.tobytes())


def from_jpeg(encoded: bytes) -> Rgb:
    """The RGB image of JPEG (or any other image OpenCV decodes) bytes."""
    bgr = cv2.imdecode(np.frombuffer(encoded, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("not an image OpenCV decodes")
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)


def _sample(name: str) -> Rgb:
    """One of scikit-image's sample photographs (shipped in its wheel)."""
    return np.asarray(getattr(data, name)(), dtype=np.uint8)


def _read_only(image: Rgb) -> Rgb:
    image = np.ascontiguousarray(image)
    image.flags.writeable = False
    return image
