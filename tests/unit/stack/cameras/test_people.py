"""The local stack's photographs of people and the JPEG helpers."""

from __future__ import annotations

import numpy as np
import pytest

from stack.cameras.people import astronaut, cameraman, from_jpeg, jpeg


@pytest.mark.parametrize("photo", [astronaut, cameraman])
def test_a_photo_is_rgb_512_and_read_only(photo: object) -> None:
    assert callable(photo)
    image = photo()
    assert image.shape == (512, 512, 3) and image.dtype == np.uint8
    with pytest.raises(ValueError, match="read-only"):
        image[0, 0, 0] = 1


def test_the_cameraman_is_grey_and_the_astronaut_in_colour() -> None:
    grey = cameraman()
    assert np.array_equal(grey[..., 0], grey[..., 1])
    assert np.array_equal(grey[..., 1], grey[..., 2])
    colour = astronaut()
    assert not np.array_equal(colour[..., 0], colour[..., 2])


def test_jpeg_round_trip_keeps_the_picture() -> None:
    encoded = jpeg(astronaut())
    assert encoded[:3] == b"\xff\xd8\xff"
    decoded = from_jpeg(encoded)
    assert decoded.shape == (512, 512, 3)
    difference = np.abs(decoded.astype(int) - astronaut().astype(int)).mean()
    assert difference < 4  # RGB order kept: swapped channels would differ by tens
    assert len(jpeg(astronaut(), quality=30)) < len(encoded)


def test_from_jpeg_refuses_what_is_not_an_image() -> None:
    with pytest.raises(ValueError, match="not an image"):
        from_jpeg(b"not a jpeg")
