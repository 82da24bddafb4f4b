"""``DetectLabels`` on this endpoint: the request's image, the local detector, AWS's answer.

The image comes as ``Image.Bytes`` or from moto's S3 (``Image.S3Object``, ``s3_images``), is
checked and decoded (``image_input``), analysed by the detector the local stream processor uses
(``detection``, lent from a ``DetectorPool``) and answered in DetectLabels' shape (``labels``):
``Labels`` and ``LabelModelVersion``.

Errors: those of ``image_input`` and ``s3_images``; ``InvalidParameterException`` for a request
with both or neither of ``Bytes`` and ``S3Object``, and for the ``IMAGE_PROPERTIES`` feature,
which is not emulated (image quality and dominant colours).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stack.endpoint.exceptions import InvalidImageFormatException, InvalidParameterException
from stack.endpoint.rekognition.detection import Label, detector_for
from stack.endpoint.rekognition.detector_pool import DetectorPool
from stack.endpoint.rekognition.image_input import (
    INVALID_FORMAT,
    MAX_BYTES,
    MAX_S3_BYTES,
    decode_image,
)
from stack.endpoint.rekognition.labels import (
    DEFAULT_MIN_CONFIDENCE,
    LABEL_MODEL_VERSION,
    MAX_LABELS,
    GeneralLabelsSettings,
    labels_of,
)

logger = logging.getLogger(__name__)

S3Reader = Callable[[str, str, str, str, str | None], bytes]  # account, region, bucket, key, ver
DETECTED = frozenset({Label.PERSON})
DEFAULT_MAX_PARALLEL = 2


class Feature(StrEnum):
    GENERAL_LABELS = "GENERAL_LABELS"
    IMAGE_PROPERTIES = "IMAGE_PROPERTIES"


class S3ObjectRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bucket: str = Field(alias="Bucket", min_length=3, max_length=255)
    name: str = Field(alias="Name", min_length=1, max_length=1024)
    version: str | None = Field(None, alias="Version", min_length=1, max_length=1024)


class ImageRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str | None = Field(None, alias="Bytes")  # base64, as the JSON protocol carries it
    s3_object: S3ObjectRef | None = Field(None, alias="S3Object")


def image_bytes(
    read_s3: S3Reader, account_id: str, region: str, ref: ImageRef
) -> tuple[bytes, int]:
    """The request image's bytes and the size limit that applies to where they came from."""
    if ref.s3_object is not None:
        s3 = ref.s3_object
        return read_s3(account_id, region, s3.bucket, s3.name, s3.version), MAX_S3_BYTES
    try:
        return base64.b64decode(ref.data or "", validate=True), MAX_BYTES
    except (binascii.Error, ValueError) as err:
        raise InvalidImageFormatException(INVALID_FORMAT) from err


class DetectLabelsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    general_labels: GeneralLabelsSettings | None = Field(None, alias="GeneralLabels")
    image_properties: dict[str, Any] | None = Field(None, alias="ImageProperties")


class DetectLabelsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    image: ImageRef = Field(alias="Image")
    max_labels: int = Field(MAX_LABELS, alias="MaxLabels", ge=0)
    min_confidence: float = Field(DEFAULT_MIN_CONFIDENCE, alias="MinConfidence", ge=0, le=100)
    features: tuple[Feature, ...] = Field((), alias="Features", max_length=2)
    settings: DetectLabelsSettings | None = Field(None, alias="Settings")


def parse_detect_labels(body: Mapping[str, Any]) -> DetectLabelsRequest:
    try:
        request = DetectLabelsRequest.model_validate(dict(body))
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "request"
        raise InvalidParameterException(f"{where}: {first['msg']}") from err
    if (request.image.data is None) == (request.image.s3_object is None):
        raise InvalidParameterException("Image needs exactly one of Bytes or S3Object.")
    if Feature.IMAGE_PROPERTIES in request.features:
        raise InvalidParameterException(
            "The local endpoint does not emulate the IMAGE_PROPERTIES feature."
        )
    return request


class ImageAnalysis:
    """Serves DetectLabels. `read_s3` reads an S3 object of the caller's account."""

    def __init__(self, read_s3: S3Reader, pool: DetectorPool | None = None) -> None:
        self._read_s3 = read_s3
        self._pool = pool or DetectorPool(detector_for, DEFAULT_MAX_PARALLEL)

    def detect_labels(
        self, account_id: str, region: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        request = parse_detect_labels(body)
        image = decode_image(*image_bytes(self._read_s3, account_id, region, request.image))
        with self._pool.lent(DETECTED) as detector:
            detections = detector.detect(image)
        settings = request.settings.general_labels if request.settings else None
        labels = labels_of(
            detections, request.min_confidence, min(request.max_labels, MAX_LABELS), settings
        )
        logger.debug("DetectLabels: %d labels on a %s image", len(labels), image.shape)
        return {"Labels": labels, "LabelModelVersion": LABEL_MODEL_VERSION}
