"""The Rekognition face APIs that look at an image: ``IndexFaces``, ``SearchFacesByImage``,
``DetectFaces``, with dlib's face models (``faces_model``), answered in AWS's shapes.

The image comes as ``Image.Bytes`` or from moto's S3 and is checked and decoded as for
DetectLabels (``image_input``, ``s3_images``: the same errors and limits). The faces found
(``faces_model``), their details and quality (``faces_detail``) and, for the faces kept, their
descriptors; the collection's part (``faces_collection``) runs on the Rekognition state under its
lock, the models outside it.

- ``IndexFaces``: the collection must exist (``ResourceNotFoundException``) before the image is
  looked at. Faces that miss the ``QualityFilter``'s bar are not indexed (``UnindexedFaces`` with
  their reasons); of the others, the largest ``MaxFaces`` are, the rest are ``EXCEEDS_MAX_FACES``.
  ``FaceRecords`` come largest face first. An image without a face indexes nothing (no error).
  ``OrientationCorrection`` is left out (face model 7.0: always null).
- ``SearchFacesByImage``: the largest face that passes the ``QualityFilter`` (default ``NONE``)
  is searched; none: ``InvalidParameterException`` "There are no faces in the image. Should be at
  least 1.". ``FaceMatches`` by ``faces_search``'s similarity.
- ``DetectFaces``: every face found (at most the 100 largest), with ``faces_detail``'s attributes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from stack.endpoint.exceptions import InvalidParameterException
from stack.endpoint.rekognition import faces_detail, faces_requests, faces_search
from stack.endpoint.rekognition.faces_collection import (
    FACE_MODEL_VERSION,
    IndexedFace,
    face_match,
    image_id_of,
    stable_face_id,
)
from stack.endpoint.rekognition.faces_detail import FaceFacts, Reason
from stack.endpoint.rekognition.faces_model import FaceModelPool, shared_pool
from stack.endpoint.rekognition.faces_seen import SeenImage, SeenImages
from stack.endpoint.rekognition.image_analysis import ImageRef, S3Reader, image_bytes
from stack.endpoint.rekognition.image_input import (
    decode_image,
)
from stack.endpoint.rekognition.models import RekognitionBackend, RekognitionState

logger = logging.getLogger(__name__)

NO_FACE = "There are no faces in the image. Should be at least 1."
NewId = Callable[[], str]


def choose(
    facts: list[FaceFacts], max_faces: int | None, level: faces_detail.QualityFilter
) -> tuple[list[int], dict[int, list[Reason]]]:
    """Which faces (largest first) IndexFaces indexes, and why each other one is not."""
    kept: list[int] = []
    refused: dict[int, list[Reason]] = {}
    for index, face in enumerate(facts):
        reasons = faces_detail.reasons_against(face, level)
        if reasons:
            refused[index] = reasons
        elif max_faces is not None and len(kept) >= max_faces:
            refused[index] = [Reason.EXCEEDS_MAX_FACES]
        else:
            kept.append(index)
    return kept, refused


class FaceAnalysis:
    """Serves the image face APIs. ``read_s3`` reads an S3 object of the caller's account."""

    def __init__(
        self,
        read_s3: S3Reader,
        pool: FaceModelPool | None = None,
        new_face_id: NewId | None = None,
    ) -> None:
        self._read_s3 = read_s3
        self._images = SeenImages(pool or shared_pool())
        self._new_face_id = new_face_id or (lambda: str(uuid.uuid4()))

    def index_faces(
        self, state: RekognitionState, account_id: str, region: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        request = faces_requests.parse_index_faces(body)
        extras, every = faces_requests.extra_attributes(request.attributes)
        collection_id = request.collection_id
        state.run(account_id, region, lambda backend: backend.get_collection(collection_id))
        looked = self._look(account_id, region, request.image)
        kept, refused = choose(looked.facts, request.max_faces, request.quality_filter)
        image_id = image_id_of(looked.data)
        descriptors = looked.descriptors(kept, self._images.pool)
        new = [
            self._indexed(looked, index, image_id, request.external_image_id, descriptor)
            for index, descriptor in zip(kept, descriptors, strict=True)
        ]

        def store(backend: RekognitionBackend) -> list[IndexedFace]:
            return backend.index_faces(collection_id, new)

        stored: list[IndexedFace] = state.run(account_id, region, store)
        logger.info(
            "IndexFaces into %s: %d indexed, %d not", collection_id, len(stored), len(refused)
        )
        return {
            "FaceRecords": [
                {"Face": face.describe(), "FaceDetail": looked.detail(index, extras, every)}
                for face, index in zip(stored, kept, strict=True)
            ],
            "UnindexedFaces": [
                {
                    "Reasons": [reason.value for reason in reasons],
                    "FaceDetail": looked.detail(index, extras, every),
                }
                for index, reasons in refused.items()
            ],
            "FaceModelVersion": FACE_MODEL_VERSION,
        }

    def search_faces_by_image(
        self, state: RekognitionState, account_id: str, region: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        request = faces_requests.parse_search_faces_by_image(body)
        collection_id = request.collection_id
        state.run(account_id, region, lambda backend: backend.get_collection(collection_id))
        looked = self._look(account_id, region, request.image)
        passing = [
            index
            for index, facts in enumerate(looked.facts)
            if not faces_detail.reasons_against(facts, request.quality_filter)
        ]
        if not passing:
            raise InvalidParameterException(NO_FACE)
        searched = passing[0]  # faces come largest first
        [descriptor] = looked.descriptors([searched], self._images.pool)
        query = faces_search.encode(descriptor)

        def search(backend: RekognitionBackend) -> list[tuple[IndexedFace, float]]:
            return backend.search_descriptor(
                collection_id, query, request.threshold, request.max_faces
            )

        found: list[tuple[IndexedFace, float]] = state.run(account_id, region, search)
        return {
            "SearchedFaceBoundingBox": faces_detail.bounding_box(
                looked.faces[searched], looked.width, looked.height
            ),
            "SearchedFaceConfidence": looked.facts[searched].confidence,
            "FaceMatches": [face_match(face, score) for face, score in found],
            "FaceModelVersion": FACE_MODEL_VERSION,
        }

    def detect_faces(self, account_id: str, region: str, body: Mapping[str, Any]) -> dict[str, Any]:
        request = faces_requests.parse_detect_faces(body)
        extras, every = faces_requests.extra_attributes(request.attributes)
        looked = self._look(account_id, region, request.image)
        return {
            "FaceDetails": [
                looked.detail(index, extras, every) for index in range(len(looked.faces))
            ]
        }

    def _look(self, account_id: str, region: str, ref: ImageRef) -> SeenImage:
        data, limit = image_bytes(self._read_s3, account_id, region, ref)
        seen = self._images.look(data, decode_image(data, limit))
        logger.debug("%d faces in a %dx%d image", len(seen.faces), seen.width, seen.height)
        return seen

    def _indexed(
        self,
        looked: SeenImage,
        index: int,
        image_id: str,
        external_image_id: str | None,
        descriptor: faces_search.Descriptor,
    ) -> IndexedFace:
        box = looked.box(index)
        face_id = (
            self._new_face_id()
            if external_image_id is None
            else stable_face_id(image_id, external_image_id, box)
        )
        return IndexedFace(
            face_id=face_id,
            image_id=image_id,
            external_image_id=external_image_id,
            box=box,
            confidence=looked.facts[index].confidence,
            descriptor=faces_search.encode(descriptor),
        )
