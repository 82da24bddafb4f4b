"""The fleet's Rekognition face collection and the image face APIs, as models.

Faces are indexed with the person's name as their ExternalImageId, so a person's faces are found
by ListFaces whatever any record says.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cloud.clients import AwsClients
from cloud.errors import ConflictError, InvalidInputError, NotFoundError, aws_call
from cloud.models import Model
from cloud.paging import listed

if TYPE_CHECKING:
    from types_boto3_rekognition.type_defs import BoundingBoxTypeDef, ImageTypeDef

log = logging.getLogger(__name__)

MAX_DELETE_FACES = 4096  # DeleteFaces' limit per call
LIST_PAGE = 1000


class FaceBox(Model):
    """A face's box, ratios of the image (Rekognition's BoundingBox), and its confidence."""

    left: float
    top: float
    width: float
    height: float
    confidence: float | None = None

    @property
    def area(self) -> float:
        return self.width * self.height

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.left, self.top, self.width, self.height)


class IndexedFace(Model):
    face_id: str
    external_image_id: str | None = None


class IndexOutcome(Model):
    """IndexFaces of a one-face photo: its face id, or why the face was not indexed."""

    face_id: str | None = None
    unindexed_reasons: tuple[str, ...] = ()


class FaceSearch(Model):
    """The best match of the largest face of an image (SearchFacesByImage, MaxFaces=1)."""

    searched: FaceBox | None = None
    name: str | None = None  # the match's ExternalImageId; None: no match at the threshold
    similarity: float | None = None
    face_id: str | None = None


def image_bytes(data: bytes) -> ImageTypeDef:
    return {"Bytes": data}


def s3_image(bucket: str, key: str) -> ImageTypeDef:
    return {"S3Object": {"Bucket": bucket, "Name": key}}


def _box(box: BoundingBoxTypeDef, confidence: float | None = None) -> FaceBox:
    return FaceBox(
        left=box.get("Left", 0.0),
        top=box.get("Top", 0.0),
        width=box.get("Width", 0.0),
        height=box.get("Height", 0.0),
        confidence=confidence,
    )


# The collection.


def ensure_collection(clients: AwsClients, collection: str, tags: dict[str, str]) -> bool:
    """Create the collection, tagged, unless it exists. True if this call created it."""
    try:
        with aws_call(f"create face collection {collection}"):
            clients.rekognition.create_collection(CollectionId=collection, Tags=tags)
    except ConflictError:
        return False
    log.info("created face collection %s", collection)
    return True


def collection_tags(clients: AwsClients, arn: str) -> dict[str, str] | None:
    """The collection's tags, or None if there is no such collection."""
    try:
        with aws_call(f"list the tags of face collection {arn}"):
            answer = clients.rekognition.list_tags_for_resource(ResourceArn=arn)
    except NotFoundError:
        return None
    return dict(answer.get("Tags", {}))


def delete_collection(clients: AwsClients, collection: str) -> bool:
    """Delete the collection and every face in it. True if it existed."""
    try:
        with aws_call(f"delete face collection {collection}"):
            clients.rekognition.delete_collection(CollectionId=collection)
    except NotFoundError:
        return False
    log.info("deleted face collection %s", collection)
    return True


def list_faces(clients: AwsClients, collection: str) -> list[IndexedFace] | None:
    """Every face of the collection; None if there is no such collection."""
    try:
        faces = listed(
            f"list the faces of collection {collection}",
            clients.rekognition.get_paginator("list_faces").paginate(
                CollectionId=collection, PaginationConfig={"PageSize": LIST_PAGE}
            ),
            lambda page: page.get("Faces", []),
        )
    except NotFoundError:
        return None
    return [
        IndexedFace(face_id=f["FaceId"], external_image_id=f.get("ExternalImageId"))
        for f in faces
        if "FaceId" in f
    ]


def index_face(
    clients: AwsClients, collection: str, image: ImageTypeDef, external_image_id: str, what: str
) -> IndexOutcome:
    """Index the one face of `image` as `external_image_id` (MaxFaces=1, QualityFilter AUTO)."""
    with aws_call(f"index the face of {what} in {collection}"):
        answer = clients.rekognition.index_faces(
            CollectionId=collection,
            Image=image,
            ExternalImageId=external_image_id,
            MaxFaces=1,
            QualityFilter="AUTO",
        )
    for record in answer.get("FaceRecords", []):
        face_id = record.get("Face", {}).get("FaceId")
        if face_id:
            return IndexOutcome(face_id=face_id)
    reasons = sorted({r for u in answer.get("UnindexedFaces", []) for r in u.get("Reasons", [])})
    return IndexOutcome(unindexed_reasons=tuple(reasons))


def delete_faces(clients: AwsClients, collection: str, face_ids: Sequence[str]) -> int:
    """Delete these faces; returns how many the collection deleted. No collection: 0."""
    deleted = 0
    ids = list(dict.fromkeys(face_ids))
    for start in range(0, len(ids), MAX_DELETE_FACES):
        batch = ids[start : start + MAX_DELETE_FACES]
        try:
            with aws_call(f"delete {len(batch)} faces of collection {collection}"):
                answer = clients.rekognition.delete_faces(CollectionId=collection, FaceIds=batch)
        except NotFoundError:
            return deleted
        deleted += len(answer.get("DeletedFaces", []))
    return deleted


# The image face APIs.


def detect_faces(clients: AwsClients, image: ImageTypeDef, what: str) -> list[FaceBox]:
    """The faces DetectFaces finds in `image`, largest first."""
    with aws_call(f"detect the faces of {what}"):
        answer = clients.rekognition.detect_faces(Image=image)
    boxes = [_box(d.get("BoundingBox", {}), d.get("Confidence")) for d in answer["FaceDetails"]]
    return sorted(boxes, key=lambda b: b.area, reverse=True)


def search_face(
    clients: AwsClients, collection: str, image: ImageTypeDef, threshold: float, what: str
) -> FaceSearch | None:
    """The best match of the largest face of `image` at `threshold` (percent); None when the
    image shows no face Rekognition can search. NotFoundError: no such collection."""
    try:
        with aws_call(f"search collection {collection} for the face of {what}"):
            answer = clients.rekognition.search_faces_by_image(
                CollectionId=collection, Image=image, MaxFaces=1, FaceMatchThreshold=threshold
            )
    except InvalidInputError as err:  # InvalidParameterException: no face in the image
        log.debug("no face to search in %s: %s", what, err)
        return None
    searched = answer.get("SearchedFaceBoundingBox")
    found = FaceSearch(
        searched=_box(searched, answer.get("SearchedFaceConfidence")) if searched else None
    )
    for match in answer.get("FaceMatches", []):
        face = match.get("Face", {})
        return found.model_copy(
            update={
                "name": face.get("ExternalImageId"),
                "similarity": match.get("Similarity"),
                "face_id": face.get("FaceId"),
            }
        )
    return found
