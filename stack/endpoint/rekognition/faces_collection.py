"""The faces a collection holds, and what can be done to them without an image (pure).

A face is kept as ``IndexedFace``: its ids, the ``ExternalImageId`` it was indexed with, its box
and confidence in the indexed image, and its descriptor (``faces_search``), never the image.

Ids, as AWS assigns them: an image's ``ImageId`` is a name-based UUID of its bytes, so the same
image always has the same one. A face indexed with an ``ExternalImageId`` gets a name-based
``FaceId`` (of the image, that id and the face's box), so indexing the same image into the same
collection with the same ``ExternalImageId`` again finds the faces already there and adds none
("doesn't save duplicate face metadata"); without one, every indexing adds new faces with new ids.

Not emulated: users (``UserId``): no face belongs to one, a ``UserId`` filter matches none and a
deletion is never refused with ``ASSOCIATED_TO_AN_EXISTING_USER``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from stack.endpoint.rekognition import faces_search

FACE_MODEL_VERSION = "7.0"
_IDS = uuid.UUID("6f0b2f3e-3c1d-4d55-9a57-5b1f6c0c6a11")  # namespace of the name-based ids


@dataclass(frozen=True)
class IndexedFace:
    face_id: str
    image_id: str
    external_image_id: str | None
    box: tuple[float, float, float, float]  # Width, Height, Left, Top as ratios of the image
    confidence: float
    descriptor: bytes  # faces_search.encode

    def describe(self) -> dict[str, Any]:
        """AWS's ``Face``."""
        width, height, left, top = self.box
        out: dict[str, Any] = {
            "FaceId": self.face_id,
            "BoundingBox": {"Width": width, "Height": height, "Left": left, "Top": top},
            "ImageId": self.image_id,
            "Confidence": self.confidence,
            "IndexFacesModelVersion": FACE_MODEL_VERSION,
        }
        if self.external_image_id is not None:
            out["ExternalImageId"] = self.external_image_id
        return out


def image_id_of(image: bytes) -> str:
    return str(uuid.uuid5(_IDS, hashlib.sha256(image).hexdigest()))


def stable_face_id(
    image_id: str, external_image_id: str, box: tuple[float, float, float, float]
) -> str:
    """The id a face gets when indexed with an ``ExternalImageId``: the same every time."""
    place = ",".join(f"{value:.6f}" for value in box)
    return str(uuid.uuid5(_IDS, f"{image_id}/{external_image_id}/{place}"))


def add_faces(
    faces: MutableMapping[str, IndexedFace], new: Iterable[IndexedFace]
) -> list[IndexedFace]:
    """Add ``new`` faces; those already there (same face id) are kept as they are.

    Returns the faces as the collection holds them, in ``new``'s order.
    """
    stored: list[IndexedFace] = []
    for face in new:
        stored.append(faces.setdefault(face.face_id, face))
    return stored


def delete_faces(
    faces: MutableMapping[str, IndexedFace], face_ids: Sequence[str]
) -> tuple[list[str], list[str]]:
    """Delete the faces named; returns (deleted, not found), each in the request's order."""
    deleted: list[str] = []
    missing: list[str] = []
    for face_id in dict.fromkeys(face_ids):
        if faces.pop(face_id, None) is None:
            missing.append(face_id)
        else:
            deleted.append(face_id)
    return deleted, missing


def listed_ids(
    faces: Mapping[str, IndexedFace], face_ids: Sequence[str] | None, user_id: str | None
) -> list[str]:
    """The ids ``ListFaces`` pages through, in order (by face id, as AWS lists them)."""
    if user_id is not None:
        return []
    wanted = faces.keys() if face_ids is None else [i for i in face_ids if i in faces]
    return sorted(set(wanted))


def matches(
    faces: Mapping[str, IndexedFace],
    query: bytes,
    threshold: float,
    max_faces: int,
    exclude: str | None = None,
) -> list[tuple[IndexedFace, float]]:
    """The collection's faces like ``query``, best first (``faces_search.ranked``)."""
    candidates = [(f.face_id, f.descriptor) for f in faces.values() if f.face_id != exclude]
    ranked = faces_search.ranked(query, candidates, threshold, max_faces)
    return [(faces[face_id], score) for face_id, score in ranked]


def face_match(face: IndexedFace, score: float) -> dict[str, Any]:
    """AWS's ``FaceMatch``."""
    return {"Similarity": score, "Face": face.describe()}
