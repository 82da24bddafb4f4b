"""The image of a Rekognition image request, checked as Rekognition checks it, then decoded.

Rules (the developer guide's "Guidelines and quotas"): JPEG or PNG only; at most 5 MB as
``Image.Bytes`` and 15 MB as an S3 object; at least 80 pixels and at most 10,000 pixels on each
side. Errors and their messages:

- not JPEG or PNG, or not decodable: ``InvalidImageFormatException`` "Request has invalid image
  format" (AWS's message);
- over the byte limit: ``ImageTooLargeException``;
- over 10,000 pixels on a side: ``ImageTooLargeException`` "Input image dimensions W x H exceed
  maximum dimension size of 10000 pixels" (the wording AWS users report);
- under 80 pixels on a side: ``InvalidParameterException`` "Request has invalid parameters" (what
  AWS answers for too small an image, with no more detail; the endpoint's log says why).

Not emulated: EXIF orientation (AWS rotates a JPEG by its EXIF orientation before analysing it).
"""

from __future__ import annotations

import io
import logging
import warnings

import cv2
import numpy as np
from PIL import Image as PilImage
from PIL import UnidentifiedImageError

from stack.endpoint.exceptions import (
    ImageTooLargeException,
    InvalidImageFormatException,
    InvalidParameterException,
)
from stack.endpoint.rekognition.detection import Image

logger = logging.getLogger(__name__)

MAX_BYTES = 5 * 1024 * 1024
MAX_S3_BYTES = 15 * 1024 * 1024
MIN_SIDE = 80
MAX_SIDE = 10_000
FORMATS = frozenset({"JPEG", "PNG"})
INVALID_FORMAT = "Request has invalid image format"
INVALID_PARAMETERS = "Request has invalid parameters"


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the image's header, after checking it is a JPEG or a PNG."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PilImage.DecompressionBombWarning)
            with PilImage.open(io.BytesIO(data)) as header:
                image_format, size = header.format, header.size
    except PilImage.DecompressionBombError as err:
        raise ImageTooLargeException(
            f"Input image dimensions exceed maximum dimension size of {MAX_SIDE} pixels"
        ) from err
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise InvalidImageFormatException(INVALID_FORMAT) from err
    if image_format not in FORMATS:
        raise InvalidImageFormatException(INVALID_FORMAT)
    return size


def check_dimensions(width: int, height: int) -> None:
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ImageTooLargeException(
            f"Input image dimensions {width} x {height} exceed maximum dimension size of "
            f"{MAX_SIDE} pixels"
        )
    if width < MIN_SIDE or height < MIN_SIDE:
        logger.info(
            "refused a %dx%d image: Rekognition needs %d pixels on each side",
            width,
            height,
            MIN_SIDE,
        )
        raise InvalidParameterException(INVALID_PARAMETERS)


def decode_image(data: bytes, max_bytes: int = MAX_BYTES) -> Image:
    """The image (BGR) in `data`, a request's image bytes or S3 object."""
    if len(data) > max_bytes:
        raise ImageTooLargeException(
            f"The image is {len(data)} bytes; the limit is {max_bytes} bytes."
        )
    check_dimensions(*image_size(data))
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InvalidImageFormatException(INVALID_FORMAT)
    return np.asarray(image, dtype=np.uint8)
