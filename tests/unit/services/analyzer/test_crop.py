"""A detection's crop: the box's pixels of the frame, clipped to it, as a JPEG."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from cloud.analysis.regions import Box
from cloud.errors import InvalidInputError
from services.analyzer.crop import crop_jpeg
from tests.unit.services.analyzer.fakes import jpeg


def size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        return image.size


def test_the_crop_is_the_box() -> None:
    frame = jpeg(400, 200)
    assert size(crop_jpeg(frame, Box(left=0.25, top=0.5, width=0.5, height=0.25))) == (200, 50)


def test_a_box_reaching_outside_the_frame_is_clipped() -> None:
    frame = jpeg(400, 200)
    assert size(crop_jpeg(frame, Box(left=-0.1, top=0.9, width=0.3, height=0.5))) == (80, 20)


def test_an_empty_box_still_gives_a_pixel() -> None:
    assert size(crop_jpeg(jpeg(400, 200), Box(left=1.2, top=0.5, width=0.0, height=0.0))) == (1, 1)


def test_a_frame_that_is_no_image_is_refused() -> None:
    with pytest.raises(InvalidInputError):
        crop_jpeg(b"not a jpeg", Box(left=0, top=0, width=1, height=1))
