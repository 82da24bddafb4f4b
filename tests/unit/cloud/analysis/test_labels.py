"""The class mapping: LabelInclusionFilters out, DetectLabels' answers read back."""

from __future__ import annotations

from cloud.analysis.labels import (
    CLASS_NAMES,
    FoundInstance,
    FoundLabel,
    class_of,
    inclusion_filters,
    sightings,
    wanted_classes,
)
from cloud.analysis.regions import Box
from cloud.models import BoundingBox, Label, RegionOfInterest

LEFT_HALF = RegionOfInterest(box=BoundingBox(left=0.0, top=0.0, width=0.5, height=1.0))


def boxed(name: str, *instances: tuple[float, float], label_confidence: float = 95.0) -> FoundLabel:
    return FoundLabel(
        name=name,
        confidence=label_confidence,
        instances=tuple(
            FoundInstance(box=Box(left=x, top=0.4, width=0.1, height=0.2), confidence=c)
            for x, c in instances
        ),
    )


def test_all_is_every_class() -> None:
    assert wanted_classes({Label.ALL}) == {Label.PERSON, Label.PET, Label.PACKAGE}
    assert wanted_classes({Label.PET}) == {Label.PET}


def test_the_filters_are_the_mapped_names_and_every_name_maps_back() -> None:
    assert inclusion_filters({Label.PERSON}) == ["Person"]
    assert inclusion_filters({Label.ALL}) == sorted(n for ns in CLASS_NAMES.values() for n in ns)
    for cls, names in CLASS_NAMES.items():
        for name in names:
            assert class_of(name) is cls
            assert len(name) <= 50  # LabelInclusionFilters' limit


def test_an_alias_maps_a_label_to_its_class() -> None:
    assert class_of("Canine", aliases=("Dog",)) is Label.PET
    assert class_of("Mobile Phone", aliases=("Cell Phone",)) is None


def test_the_best_instance_inside_the_regions_at_the_confidence() -> None:
    person = boxed("Person", (0.1, 70.0), (0.2, 90.0), (0.7, 99.0), (0.3, 40.0))
    found = sightings([person], {Label.PERSON}, 60.0, (LEFT_HALF,))
    assert found[Label.PERSON].confidence == 90.0
    box = found[Label.PERSON].box
    assert box is not None and box.left == 0.2


def test_unwanted_classes_are_not_read() -> None:
    assert sightings([boxed("Dog", (0.1, 99.0))], {Label.PERSON}, 50.0) == {}


def test_a_label_without_a_box_counts_only_without_regions() -> None:
    cardboard = FoundLabel(name="Cardboard", confidence=80.0)
    assert sightings([cardboard], {Label.PACKAGE}, 50.0)[Label.PACKAGE].box is None
    assert sightings([cardboard], {Label.PACKAGE}, 50.0, (LEFT_HALF,)) == {}
    assert sightings([cardboard], {Label.PACKAGE}, 85.0) == {}


def test_a_box_beats_a_surer_label_without_one() -> None:
    found = sightings(
        [FoundLabel(name="Pet", confidence=99.0), boxed("Dog", (0.1, 70.0))], {Label.PET}, 50.0
    )
    assert found[Label.PET].name == "Dog"
