"""A face cut out of its frame with a margin, as JPEG bytes to search (Pillow)."""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

from cloud.errors import InvalidInputError
from cloud.faces.collection import FaceBox

# Around the face: a face detector wants some head and background to find it again in the crop.
MARGIN = 0.5  # of the face's width (height) on each side
# A crop smaller than this on its short side is enlarged: detectors miss faces of a few dozen
# pixels, and a frame's far-away face is no bigger.
MIN_SIDE = 160
JPEG_QUALITY = 92


def crop_box(
    size: tuple[int, int], box: FaceBox, margin: float = MARGIN
) -> tuple[int, int, int, int]:
    """The pixel box (left, top, right, bottom) of `box` grown by `margin`, inside the frame and
    at least a pixel."""
    width, height = size
    grow_x, grow_y = box.width * margin, box.height * margin
    left = max(0, int((box.left - grow_x) * width))
    top = max(0, int((box.top - grow_y) * height))
    right = min(width, round((box.left + box.width + grow_x) * width))
    bottom = min(height, round((box.top + box.height + grow_y) * height))
    left, top = min(left, width - 1), min(top, height - 1)
    return left, top, max(right, left + 1), max(bottom, top + 1)


def face_crop(frame: bytes, box: FaceBox, margin: float = MARGIN) -> bytes:
    """The face of `frame` (JPEG or PNG bytes) at `box`, with a margin, as a JPEG."""
    try:
        with Image.open(io.BytesIO(frame)) as image:
            image.load()
            piece = image.crop(crop_box(image.size, box, margin))
    except (UnidentifiedImageError, OSError) as err:
        raise InvalidInputError(f"the frame is not an image Pillow can read: {err}") from err
    if piece.mode not in ("RGB", "L"):
        piece = piece.convert("RGB")
    short = min(piece.size)
    if short < MIN_SIDE:
        scale = MIN_SIDE / short
        piece = piece.resize(
            (round(piece.width * scale), round(piece.height * scale)), Image.Resampling.LANCZOS
        )
    out = io.BytesIO()
    piece.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()
