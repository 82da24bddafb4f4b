"""A person's name and photos are checked before anything is stored: pure."""

from __future__ import annotations

import hashlib
import io
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from pydantic import TypeAdapter, ValidationError

from cloud.errors import InvalidInputError
from cloud.faces.checks import (
    MAX_IMAGE_BYTES,
    ImageFormat,
    check_photo,
    face_count_problem,
    image_format,
    validate_person_name,
)
from cloud.faces.models import PersonName

# Rekognition's ExternalImageId (botocore's model): every person name must be one.
EXTERNAL_IMAGE_ID = re.compile(r"[a-zA-Z0-9_.\-:]+")


def _image(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 90), (200, 150, 100)).save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize("name", ["alice", "bob-smith", "j.doe", "x", "a_1", "7of9", "a" * 63])
def test_good_names_pass_as_they_are(name: str) -> None:
    assert validate_person_name(name) == name
    assert TypeAdapter(PersonName).validate_python(name) == name


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "it is empty"),
        ("Alice", "names are lower case: 'alice'"),
        ("al ice", "it contains ' '"),
        ("ali:ce", "it contains ':'"),
        ("-alice", "does not start with a lower-case letter or digit"),
        (".alice", "does not start with a lower-case letter or digit"),
        ("a" * 64, "64 characters long (at most 63)"),
        ("élise", "it contains 'é'"),
        ("a/b", "it contains '/'"),
    ],
)
def test_bad_names_are_refused_with_the_reason(name: str, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(reason)):
        validate_person_name(name)
    with pytest.raises(ValidationError):
        TypeAdapter(PersonName).validate_python(name)


@given(st.text(max_size=70))
def test_a_name_is_accepted_exactly_when_the_model_accepts_it(name: str) -> None:
    try:
        TypeAdapter(PersonName).validate_python(name)
        model_ok = True
    except ValidationError:
        model_ok = False
    try:
        validate_person_name(name)
        check_ok = True
    except InvalidInputError:
        check_ok = False
    assert check_ok == model_ok
    if check_ok:  # an accepted name is a valid ExternalImageId and one S3 key segment
        assert EXTERNAL_IMAGE_ID.fullmatch(name)
        assert "/" not in name and name == name.lower()


@pytest.mark.parametrize(
    ("fmt", "expected"), [("JPEG", ImageFormat.JPEG), ("PNG", ImageFormat.PNG)]
)
def test_jpeg_and_png_photos_are_taken(fmt: str, expected: ImageFormat) -> None:
    data = _image(fmt)
    photo = check_photo("me.img", data)
    assert (photo.format, photo.label) == (expected, "me.img")
    assert photo.sha256 == hashlib.sha256(data).hexdigest()
    assert photo.format.extension == ("jpg" if fmt == "JPEG" else "png")


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "WEBP"])
def test_other_formats_are_refused_naming_the_file(fmt: str) -> None:
    data = _image(fmt)
    assert image_format(data) is None
    with pytest.raises(InvalidInputError, match=r"^me\.img: not a JPEG or PNG"):
        check_photo("me.img", data)


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"me\.jpg: the file is empty"):
        check_photo("me.jpg", b"")


def test_the_5_mb_limit_is_rekognitions_own() -> None:
    jpeg = _image("JPEG")
    at_limit = jpeg + b"\0" * (MAX_IMAGE_BYTES - len(jpeg))
    assert check_photo("big.jpg", at_limit).format is ImageFormat.JPEG
    with pytest.raises(InvalidInputError, match=r"big\.jpg: 5,242,881 bytes, more than"):
        check_photo("big.jpg", at_limit + b"\0")


@pytest.mark.parametrize(
    ("faces", "problem"),
    [
        (1, None),
        (0, "photo.jpg: no face found, a photo of alice must show one face"),
        (2, "photo.jpg: 2 faces found, a photo of alice must show one face"),
        (7, "photo.jpg: 7 faces found, a photo of alice must show one face"),
    ],
)
def test_a_photo_must_show_one_face(faces: int, problem: str | None) -> None:
    photo = check_photo("photo.jpg", _image("JPEG"))
    assert face_count_problem(photo, faces, "alice") == problem
