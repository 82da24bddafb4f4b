"""Known people and what face recognition made of a detection's frame."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints

from cloud.models import Model

# Lower case: an ExternalImageId is [a-zA-Z0-9_.\-:]+, and names compare case-insensitively by
# being lower case; `:` is kept out (reserved).
PERSON_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
PersonName = Annotated[str, StringConstraints(pattern=PERSON_NAME_PATTERN)]


class FaceStatus(StrEnum):
    NAMED = "named"  # at least one face matched a known person
    UNKNOWN = "unknown"  # faces seen, none matched
    NO_FACE = "no-face"  # a person, but no face visible (from behind): not called unknown
    FAILED = "failed"  # the face APIs failed; the detection goes on without names


class FaceMatch(Model):
    """One face seen in a detection's frame."""

    name: PersonName | None  # None: unknown
    similarity: float | None  # percent, when named
    box: tuple[float, float, float, float]  # left, top, width, height, ratios of the frame


class FaceRecognition(Model):
    status: FaceStatus
    faces: tuple[FaceMatch, ...] = ()
    reason: str | None = None  # FAILED: why

    @property
    def names(self) -> list[str]:
        """The named faces' names, in order."""
        return [face.name for face in self.faces if face.name is not None]


class KnownPerson(Model):
    """A person's record, `faces/<name>/person.json`: the source of truth for `quiet` and the
    face ids."""

    name: PersonName
    quiet: bool = False
    face_ids: tuple[str, ...] = ()
    photos: tuple[str, ...] = ()  # s3:// URIs
