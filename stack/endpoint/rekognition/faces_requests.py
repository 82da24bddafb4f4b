"""The face APIs' requests, parsed and checked as Rekognition checks them.

botocore checks types and minimums; these also check what it leaves to the service: maximums,
patterns (``CollectionId``, ``ExternalImageId``, ``FaceId``, ``UserId``), the enums, and an
``Image`` with exactly one of ``Bytes`` and ``S3Object``. Every failure is an
``InvalidParameterException``.

Defaults and limits (the API reference): ``IndexFaces`` ``QualityFilter`` AUTO, ``MaxFaces`` at
least 1 (at most the 100 largest faces are seen); ``SearchFacesByImage`` ``QualityFilter`` NONE;
``SearchFaces[ByImage]`` ``FaceMatchThreshold`` 0 to 100 (default 80), ``MaxFaces`` 1 to 4096
(default 80); ``ListFaces`` ``MaxResults`` 0 to 4096 (0 or none: 1000 a page), ``NextToken`` at
most 255 characters, ``FaceIds`` 1 to 4096.

Attributes: ``DEFAULT``, ``ALL``, ``EYES_OPEN`` and ``MOUTH_OPEN`` are served (``faces_detail``);
naming another one (``AGE_RANGE``, ``EMOTIONS``, ...) is refused, since the local models cannot
tell it; ``ALL`` returns what they can.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stack.endpoint.exceptions import InvalidParameterException
from stack.endpoint.rekognition import validation
from stack.endpoint.rekognition.faces_detail import QualityFilter
from stack.endpoint.rekognition.image_analysis import ImageRef

DEFAULT_THRESHOLD = 80.0
DEFAULT_MAX_MATCHES = 80
MAX_MATCHES = 4096
MAX_PAGE = 4096


class Attribute(StrEnum):
    DEFAULT = "DEFAULT"
    ALL = "ALL"
    AGE_RANGE = "AGE_RANGE"
    BEARD = "BEARD"
    EMOTIONS = "EMOTIONS"
    EYE_DIRECTION = "EYE_DIRECTION"
    EYEGLASSES = "EYEGLASSES"
    EYES_OPEN = "EYES_OPEN"
    GENDER = "GENDER"
    MOUTH_OPEN = "MOUTH_OPEN"
    MUSTACHE = "MUSTACHE"
    FACE_OCCLUDED = "FACE_OCCLUDED"
    SMILE = "SMILE"
    SUNGLASSES = "SUNGLASSES"


SERVED_ATTRIBUTES = frozenset(
    {Attribute.DEFAULT, Attribute.ALL, Attribute.EYES_OPEN, Attribute.MOUTH_OPEN}
)
ALL_SERVED = (Attribute.EYES_OPEN.value, Attribute.MOUTH_OPEN.value)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    collection_id: str = Field(alias="CollectionId")


class IndexFacesRequest(_Request):
    image: ImageRef = Field(alias="Image")
    external_image_id: str | None = Field(None, alias="ExternalImageId")
    attributes: tuple[Attribute, ...] = Field((), alias="DetectionAttributes")
    max_faces: int | None = Field(None, alias="MaxFaces", ge=1)
    quality_filter: QualityFilter = Field(QualityFilter.AUTO, alias="QualityFilter")


class SearchFacesByImageRequest(_Request):
    image: ImageRef = Field(alias="Image")
    max_faces: int = Field(DEFAULT_MAX_MATCHES, alias="MaxFaces", ge=1, le=MAX_MATCHES)
    threshold: float = Field(DEFAULT_THRESHOLD, alias="FaceMatchThreshold", ge=0, le=100)
    quality_filter: QualityFilter = Field(QualityFilter.NONE, alias="QualityFilter")


class SearchFacesRequest(_Request):
    face_id: str = Field(alias="FaceId")
    max_faces: int = Field(DEFAULT_MAX_MATCHES, alias="MaxFaces", ge=1, le=MAX_MATCHES)
    threshold: float = Field(DEFAULT_THRESHOLD, alias="FaceMatchThreshold", ge=0, le=100)


class ListFacesRequest(_Request):
    next_token: str | None = Field(None, alias="NextToken", max_length=255)
    max_results: int | None = Field(None, alias="MaxResults", ge=0, le=MAX_PAGE)
    user_id: str | None = Field(None, alias="UserId")
    face_ids: list[str] | None = Field(None, alias="FaceIds", min_length=1)


class DeleteFacesRequest(_Request):
    face_ids: list[str] = Field(alias="FaceIds", min_length=1)


class DetectFacesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    image: ImageRef = Field(alias="Image")
    attributes: tuple[Attribute, ...] = Field((), alias="Attributes")


RequestT = TypeVar("RequestT", bound=BaseModel)


def _parse(model: type[RequestT], body: Mapping[str, Any]) -> RequestT:
    try:
        request = model.model_validate(dict(body))
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "request"
        raise InvalidParameterException(f"{where}: {first['msg']}") from err
    collection_id = getattr(request, "collection_id", None)
    if collection_id is not None:
        validation.check_collection_id(collection_id)
    image = getattr(request, "image", None)
    if isinstance(image, ImageRef) and (image.data is None) == (image.s3_object is None):
        raise InvalidParameterException("Image needs exactly one of Bytes or S3Object.")
    return request


def extra_attributes(attributes: tuple[Attribute, ...]) -> tuple[tuple[str, ...], bool]:
    """(the attributes beyond the default set to answer, whether every landmark is wanted)."""
    refused = sorted({a.value for a in attributes} - {a.value for a in SERVED_ATTRIBUTES})
    if refused:
        raise InvalidParameterException(
            f"The local endpoint does not emulate the face attributes {', '.join(refused)}."
        )
    if Attribute.ALL in attributes:
        return ALL_SERVED, True
    return tuple(a.value for a in attributes if a.value in ALL_SERVED), False


def parse_index_faces(body: Mapping[str, Any]) -> IndexFacesRequest:
    request = _parse(IndexFacesRequest, body)
    if request.external_image_id is not None:
        validation.check_external_image_id(request.external_image_id)
    extra_attributes(request.attributes)
    return request


def parse_search_faces_by_image(body: Mapping[str, Any]) -> SearchFacesByImageRequest:
    return _parse(SearchFacesByImageRequest, body)


def parse_search_faces(body: Mapping[str, Any]) -> SearchFacesRequest:
    request = _parse(SearchFacesRequest, body)
    validation.check_pattern(request.face_id, "faceId", validation.FACE_ID)
    return request


def parse_list_faces(body: Mapping[str, Any]) -> ListFacesRequest:
    request = _parse(ListFacesRequest, body)
    if request.user_id is not None:
        validation.check_user_id(request.user_id)
    if request.face_ids is not None:
        validation.check_face_ids(request.face_ids, "faceIds")
    return request


def parse_delete_faces(body: Mapping[str, Any]) -> DeleteFacesRequest:
    request = _parse(DeleteFacesRequest, body)
    validation.check_face_ids(request.face_ids, "faceIds")
    return request


def parse_detect_faces(body: Mapping[str, Any]) -> DetectFacesRequest:
    request = _parse(DetectFacesRequest, body)
    extra_attributes(request.attributes)
    return request
