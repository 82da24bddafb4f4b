"""A decoded frame as GetImages returns it: scaled, encoded as JPEG or PNG, base64.

Size: ``WidthPixels`` and ``HeightPixels`` together stretch the frame to exactly that size; one
of them alone keeps the frame's aspect ratio (the API reference says so of ``HeightPixels``;
``WidthPixels`` is treated alike); neither keeps the frame's own size.
"""

from __future__ import annotations

import base64

import cv2
import numpy as np

from stack.endpoint.archived_media.request import ImageFormat
from stack.endpoint.rekognition.video_source import Image


class EncodingError(Exception):
    """OpenCV could not encode a frame."""


def output_size(
    width: int, height: int, want_width: int | None, want_height: int | None
) -> tuple[int, int]:
    """(width, height) of the image returned for a frame of `width` x `height`."""
    if want_width and want_height:
        return want_width, want_height
    if want_width:
        return want_width, max(1, round(height * want_width / width))
    if want_height:
        return max(1, round(width * want_height / height)), want_height
    return width, height


def encode(
    image: Image,
    image_format: ImageFormat,
    jpeg_quality: int,
    want_width: int | None = None,
    want_height: int | None = None,
) -> str:
    """The frame as base64 ``ImageContent``."""
    height, width = image.shape[:2]
    size = output_size(width, height, want_width, want_height)
    if size != (width, height):
        shrinking = size[0] * size[1] < width * height
        image = np.asarray(
            cv2.resize(
                image, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
            ),
            dtype=np.uint8,
        )
    if image_format is ImageFormat.JPEG:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    else:
        ok, data = cv2.imencode(".png", image)
    if not ok:
        raise EncodingError(f"cannot encode a {width}x{height} frame as {image_format.value}")
    return base64.b64encode(data.tobytes()).decode()
