"""What a person's name and photo must be before anything is stored. Pure: no I/O."""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum

from pydantic import Field

from cloud.errors import InvalidInputError
from cloud.faces.models import PERSON_NAME_PATTERN
from cloud.models import Model
from cloud.naming import name_problems

PERSON_NAME_MAX = 63
_PERSON_NAME = re.compile(PERSON_NAME_PATTERN)
# Rekognition takes image bytes up to 5 MB (botocore's ImageBlob: at most 5,242,880 bytes).
MAX_IMAGE_BYTES = 5 * 1024 * 1024


class ImageFormat(StrEnum):
    """The formats Rekognition's image APIs read."""

    JPEG = "jpeg"
    PNG = "png"

    @property
    def extension(self) -> str:
        return "jpg" if self is ImageFormat.JPEG else "png"

    @property
    def content_type(self) -> str:
        return f"image/{self.value}"


_SIGNATURES = {ImageFormat.JPEG: b"\xff\xd8\xff", ImageFormat.PNG: b"\x89PNG\r\n\x1a\n"}


class Photo(Model):
    """A photo given to the gallery: `label` names it to people (the file as typed)."""

    label: str
    data: bytes = Field(repr=False)
    format: ImageFormat
    sha256: str


def validate_person_name(value: str) -> str:
    """A known person's name: it is the faces' ExternalImageId and a key prefix in S3."""
    if _PERSON_NAME.fullmatch(value):
        return value
    reasons = name_problems(value, PERSON_NAME_MAX, "_.-")
    hint = ""
    if value != value.lower() and _PERSON_NAME.fullmatch(value.lower()):
        hint = f" (names are lower case: {value.lower()!r})"
    raise InvalidInputError(
        f"person name {value!r} is not valid: {', '.join(reasons)}{hint}. A name may use only "
        f"a-z, 0-9, '.', '-' and '_' (1 to {PERSON_NAME_MAX} characters, starting with a "
        "letter or digit)"
    )


def image_format(data: bytes) -> ImageFormat | None:
    """JPEG or PNG by the file's signature; None for anything else."""
    for fmt, signature in _SIGNATURES.items():
        if data.startswith(signature):
            return fmt
    return None


def check_photo(label: str, data: bytes) -> Photo:
    """The photo, if Rekognition can take it as image bytes (JPEG or PNG, at most 5 MB)."""
    if not data:
        raise InvalidInputError(f"{label}: the file is empty")
    fmt = image_format(data)
    if fmt is None:
        raise InvalidInputError(f"{label}: not a JPEG or PNG image (Rekognition reads only those)")
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidInputError(
            f"{label}: {len(data):,} bytes, more than the {MAX_IMAGE_BYTES:,} bytes (5 MB) "
            "Rekognition takes: make it smaller"
        )
    return Photo(label=label, data=data, format=fmt, sha256=hashlib.sha256(data).hexdigest())


def face_count_problem(photo: Photo, faces: int, name: str) -> str | None:
    """Why a photo of `name` showing `faces` faces cannot be indexed; None if it can."""
    if faces == 1:
        return None
    found = "no face found" if faces == 0 else f"{faces} faces found"
    return f"{photo.label}: {found}, a photo of {name} must show one face"
