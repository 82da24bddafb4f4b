"""ConnectedHome's label classes as DetectLabels label names: the one mapping, used to build a
request's `LabelInclusionFilters` and to read its answer. Pure.

A stream processor reports three classes (PERSON, PET, PACKAGE; ALL is the three); DetectLabels
answers with the names of AWS's general label taxonomy (the list linked from the developer
guide's "Detecting objects and concepts" page, version 3.0). The names asked for per class:

| class   | DetectLabels names            | instance boxes |
| ------- | ----------------------------- | -------------- |
| PERSON  | Person                        | yes            |
| PET     | Dog, Cat                      | yes            |
|         | Pet                           | no (a concept) |
| PACKAGE | Box                           | yes            |
|         | Cardboard, Carton, Package    | no             |

A label whose name is not one of these counts when one of its `Aliases` is (the taxonomy moved
some former names into aliases). Parents are not read: the inclusion filters return only the
names asked for.

Limits:
- Boxes: DetectLabels gives instance boxes only for common objects (people, pets, some
  containers); a package is often reported only as Cardboard or Carton, without a box. A
  sighting without a box counts only on a camera without regions of interest (it cannot be
  placed in one), and its message then carries no `boundingBox` and no cropped image.
- A pet is a dog or a cat; other animals (birds, rabbits) are not asked for, as ConnectedHome's
  PET means household pets.
- Each sampled image is analysed alone: nothing follows an object from one image to the next, so
  the "seen in N images in a row" rule (`services/analyzer/confirmation.py`) stands in for the
  tracking a stream processor does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Final

from pydantic import Field

from cloud.analysis.regions import Box, in_regions
from cloud.models import Label, Model, RegionOfInterest

CLASSES: Final = (Label.PERSON, Label.PET, Label.PACKAGE)
CLASS_NAMES: Final[Mapping[Label, tuple[str, ...]]] = MappingProxyType(
    {
        Label.PERSON: ("Person",),
        Label.PET: ("Dog", "Cat", "Pet"),
        Label.PACKAGE: ("Box", "Cardboard", "Carton", "Package"),
    }
)
_CLASS_OF_NAME: Final = MappingProxyType(
    {name.casefold(): cls for cls, names in CLASS_NAMES.items() for name in names}
)


class FoundInstance(Model):
    """One instance of a label (DetectLabels' `Instances[]`): where it is and how sure."""

    box: Box
    confidence: float = Field(ge=0, le=100)


class FoundLabel(Model):
    """One label of a DetectLabels answer, as far as the analyzer reads it."""

    name: str
    confidence: float = Field(ge=0, le=100)
    instances: tuple[FoundInstance, ...] = ()
    aliases: tuple[str, ...] = ()


class Sighting(Model):
    """The best evidence of one class in one image: its box when DetectLabels gave one."""

    label: Label
    confidence: float = Field(ge=0, le=100)
    box: Box | None = None
    name: str = Field(description="The DetectLabels name it was read from.")


def wanted_classes(labels: Iterable[Label]) -> frozenset[Label]:
    """The classes a camera asks for: ALL is every class."""
    asked = set(labels)
    if Label.ALL in asked:
        return frozenset(CLASSES)
    return frozenset(label for label in asked if label in CLASSES)


def inclusion_filters(classes: Iterable[Label]) -> list[str]:
    """`LabelInclusionFilters` for these classes, sorted."""
    return sorted({name for cls in wanted_classes(classes) for name in CLASS_NAMES[cls]})


def class_of(name: str, aliases: Sequence[str] = ()) -> Label | None:
    """The class a DetectLabels label belongs to, by its name or one of its aliases."""
    for candidate in (name, *aliases):
        found = _CLASS_OF_NAME.get(candidate.casefold())
        if found is not None:
            return found
    return None


def sightings(
    found: Iterable[FoundLabel],
    classes: Iterable[Label],
    min_confidence: float,
    regions: Sequence[RegionOfInterest] = (),
) -> dict[Label, Sighting]:
    """The best sighting per wanted class in one image's answer.

    An instance counts at `min_confidence` or more with its box's centre inside `regions`; a label
    without instances counts at `min_confidence` or more only when there are no regions. A boxed
    sighting beats one without a box, then the higher confidence wins.
    """
    wanted = wanted_classes(classes)
    best: dict[Label, Sighting] = {}
    for label in found:
        cls = class_of(label.name, label.aliases)
        if cls is None or cls not in wanted:
            continue
        for candidate in _candidates(cls, label, min_confidence, regions):
            known = best.get(cls)
            if known is None or _rank(candidate) > _rank(known):
                best[cls] = candidate
    return best


def _candidates(
    cls: Label, label: FoundLabel, min_confidence: float, regions: Sequence[RegionOfInterest]
) -> list[Sighting]:
    if label.instances:
        return [
            Sighting(label=cls, confidence=i.confidence, box=i.box, name=label.name)
            for i in label.instances
            if i.confidence >= min_confidence and in_regions(i.box, regions)
        ]
    if label.confidence >= min_confidence and not regions:
        return [Sighting(label=cls, confidence=label.confidence, name=label.name)]
    return []


def _rank(sighting: Sighting) -> tuple[bool, float]:
    return sighting.box is not None, sighting.confidence
