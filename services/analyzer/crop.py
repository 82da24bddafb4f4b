"""The crop of a detection's box out of its frame, as a JPEG (Pillow)."""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

from cloud.analysis.regions import Box
from cloud.errors import InvalidInputError

JPEG_QUALITY = 90


def crop_jpeg(frame: bytes, box: Box, quality: int = JPEG_QUALITY) -> bytes:
    """`box` (ratios of the frame, clipped to it) cut out of the JPEG `frame`, at least a pixel."""
    try:
        with Image.open(io.BytesIO(frame)) as image:
            image.load()
            width, height = image.size
            inside = box.clipped()
            left = min(width - 1, int(inside.left * width))
            top = min(height - 1, int(inside.top * height))
            right = max(left + 1, min(width, round((inside.left + inside.width) * width)))
            bottom = max(top + 1, min(height, round((inside.top + inside.height) * height)))
            piece = image.crop((left, top, right, bottom))
            if piece.mode not in ("RGB", "L"):
                piece = piece.convert("RGB")
            out = io.BytesIO()
            piece.save(out, format="JPEG", quality=quality)
            return out.getvalue()
    except (UnidentifiedImageError, OSError) as err:
        raise InvalidInputError(f"the frame is not an image Pillow can read: {err}") from err
