"""Rekognition `DetectLabels` on one image, asking only for the names of the wanted classes
(`cloud/analysis/labels.py`). $1.00 per 1,000 images (then $0.80): the caller decides how many.

The image goes as bytes (at most 5 MB, JPEG or PNG, at least 80 pixels a side). `MinConfidence`
is the camera's; labels under it are not returned, instances under it are dropped by
`labels.sightings`. Throttling (ThrottlingException, ProvisionedThroughputExceededException) is
retried by botocore's standard mode (`cloud/clients.py`); what is left becomes the project's
errors.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from cloud.analysis.labels import FoundInstance, FoundLabel, inclusion_filters
from cloud.analysis.regions import Box
from cloud.clients import AwsClients
from cloud.errors import InvalidInputError, aws_call
from cloud.models import Label

if TYPE_CHECKING:
    from types_boto3_rekognition.type_defs import InstanceTypeDef, LabelTypeDef

MAX_IMAGE_BYTES: Final = 5 * 1024 * 1024


def _instance(raw: InstanceTypeDef) -> FoundInstance | None:
    box = raw.get("BoundingBox")
    if not box:
        return None
    return FoundInstance(
        box=Box(
            left=float(box.get("Left", 0.0)),
            top=float(box.get("Top", 0.0)),
            width=max(0.0, float(box.get("Width", 0.0))),
            height=max(0.0, float(box.get("Height", 0.0))),
        ),
        confidence=min(100.0, max(0.0, float(raw.get("Confidence", 0.0)))),
    )


def _label(raw: LabelTypeDef) -> FoundLabel:
    instances = [_instance(i) for i in raw.get("Instances", [])]
    return FoundLabel(
        name=str(raw.get("Name", "")),
        confidence=min(100.0, max(0.0, float(raw.get("Confidence", 0.0)))),
        instances=tuple(i for i in instances if i is not None),
        aliases=tuple(str(a["Name"]) for a in raw.get("Aliases", []) if "Name" in a),
    )


def detect_labels(
    clients: AwsClients, image: bytes, classes: Iterable[Label], min_confidence: float
) -> list[FoundLabel]:
    """The labels of `classes` DetectLabels finds in `image` at `min_confidence` or more."""
    if len(image) > MAX_IMAGE_BYTES:
        raise InvalidInputError(
            f"DetectLabels takes images of at most {MAX_IMAGE_BYTES} bytes, not {len(image)}"
        )
    names = inclusion_filters(classes)
    if not names:
        return []
    with aws_call("detect labels"):
        answer = clients.rekognition.detect_labels(
            Image={"Bytes": image},
            MinConfidence=min_confidence,
            Features=["GENERAL_LABELS"],
            Settings={"GeneralLabels": {"LabelInclusionFilters": names}},
        )
    return [_label(raw) for raw in answer.get("Labels", [])]
