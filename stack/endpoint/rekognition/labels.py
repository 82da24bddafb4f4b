"""What DetectLabels answers for what the local detector finds (pure).

The local detector (``detection.py``) finds people by their faces, frontal or in profile, so the
only label this endpoint reports is **Person** (AWS's label: alias "Human", category "Person
Description", no parents), with one instance per face found: its box is the head and shoulders
estimated from the face (AWS's box is the whole person), its confidence the cascade's. Every
other label of AWS's catalogue is never reported: pets ("Dog", "Cat", "Pet", "Animal"), packages
("Package", "Box", "Cardboard"), people seen from behind, objects, scenes,
concepts. A filter naming them simply finds nothing.

The request's knobs, as DetectLabels has them: ``MinConfidence`` (default 55) drops instances
below it and a label with none left; labels come by confidence, highest first, at most
``MaxLabels`` (default and maximum 1000); ``Settings.GeneralLabels``: ``LabelInclusionFilters``
keeps only the labels named, ``LabelExclusionFilters`` drops those named, and the ``Category``
filters do the same by category.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stack.endpoint.rekognition.detection import Detection, Label

LABEL_MODEL_VERSION = "3.0"
DEFAULT_MIN_CONFIDENCE = 55.0
MAX_LABELS = 1000


@dataclass(frozen=True)
class LabelInfo:
    """A label of AWS's catalogue: its name and where it sits in the taxonomy."""

    name: str
    parents: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()


CATALOGUE: dict[Label, LabelInfo] = {
    Label.PERSON: LabelInfo("Person", aliases=("Human",), categories=("Person Description",)),
}


class GeneralLabelsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    include: tuple[str, ...] = Field((), alias="LabelInclusionFilters", max_length=100)
    exclude: tuple[str, ...] = Field((), alias="LabelExclusionFilters", max_length=100)
    include_categories: tuple[str, ...] = Field(
        (), alias="LabelCategoryInclusionFilters", max_length=100
    )
    exclude_categories: tuple[str, ...] = Field(
        (), alias="LabelCategoryExclusionFilters", max_length=100
    )

    def admits(self, info: LabelInfo) -> bool:
        if self.include and info.name not in self.include:
            return False
        if info.name in self.exclude:
            return False
        if self.include_categories and not set(info.categories) & set(self.include_categories):
            return False
        return not set(info.categories) & set(self.exclude_categories)


def _instance(detection: Detection) -> dict[str, Any]:
    box = detection.box
    return {
        "BoundingBox": {
            "Width": box.width,
            "Height": box.height,
            "Left": box.left,
            "Top": box.top,
        },
        "Confidence": detection.confidence,
    }


def labels_of(
    detections: Iterable[Detection],
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    max_labels: int = MAX_LABELS,
    settings: GeneralLabelsSettings | None = None,
) -> list[dict[str, Any]]:
    """DetectLabels' ``Labels`` for the detections of one image."""
    settings = settings or GeneralLabelsSettings()
    by_label: dict[Label, list[Detection]] = {}
    for detection in detections:
        if detection.confidence >= min_confidence and detection.label in CATALOGUE:
            by_label.setdefault(detection.label, []).append(detection)
    labels: list[tuple[float, dict[str, Any]]] = []
    for label, found in by_label.items():
        info = CATALOGUE[label]
        if not settings.admits(info):
            continue
        found.sort(key=lambda d: d.confidence, reverse=True)
        entry = {
            "Name": info.name,
            "Confidence": found[0].confidence,
            "Instances": [_instance(d) for d in found],
            "Parents": [{"Name": name} for name in info.parents],
            "Aliases": [{"Name": name} for name in info.aliases],
            "Categories": [{"Name": name} for name in info.categories],
        }
        labels.append((found[0].confidence, entry))
    labels.sort(key=lambda scored: scored[0], reverse=True)
    return [entry for _, entry in labels[:max_labels]]
