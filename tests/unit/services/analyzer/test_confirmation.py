"""When a class counts: N sampled images in a row, once per session, early stop when all are."""

from __future__ import annotations

from cloud.analysis.labels import Sighting
from cloud.models import Label
from services.analyzer.confirmation import Confirmations

PERSON = Sighting(label=Label.PERSON, confidence=90.0, name="Person")
PET = Sighting(label=Label.PET, confidence=80.0, name="Dog")


def seen(*sightings: Sighting) -> dict[Label, Sighting]:
    return {s.label: s for s in sightings}


def test_a_class_counts_after_needed_images_in_a_row() -> None:
    tracker = Confirmations({Label.PERSON}, needed=3, interval_ms=1000)
    assert tracker.observe(0, seen(PERSON)) == []
    assert tracker.observe(1000, seen(PERSON)) == []
    assert tracker.observe(2000, seen(PERSON)) == [PERSON]
    assert tracker.complete


def test_an_image_without_it_starts_the_row_again() -> None:
    tracker = Confirmations({Label.PERSON}, needed=2, interval_ms=1000)
    assert tracker.observe(0, seen(PERSON)) == []
    assert tracker.observe(1000, seen()) == []
    assert tracker.observe(2000, seen(PERSON)) == []
    assert tracker.observe(3000, seen(PERSON)) == [PERSON]


def test_a_missing_sample_breaks_the_row() -> None:
    tracker = Confirmations({Label.PERSON}, needed=2, interval_ms=1000)
    assert tracker.observe(0, seen(PERSON)) == []
    assert tracker.observe(2000, seen(PERSON)) == []  # the image at 1000 was not analysed
    assert tracker.observe(3000, seen(PERSON)) == [PERSON]


def test_each_class_is_confirmed_once_and_only_wanted_ones() -> None:
    tracker = Confirmations({Label.PERSON, Label.PET}, needed=1, interval_ms=1000)
    other = Sighting(label=Label.PACKAGE, confidence=99.0, name="Box")
    assert tracker.observe(0, seen(PERSON, other)) == [PERSON]
    assert tracker.observe(1000, seen(PERSON)) == []
    assert not tracker.complete and tracker.remaining == {Label.PET}
    assert tracker.observe(2000, seen(PERSON, PET)) == [PET]
    assert tracker.complete


def test_classes_published_before_are_never_looked_for() -> None:
    tracker = Confirmations({Label.PERSON, Label.PET}, 1, 1000, confirmed={Label.PERSON})
    assert tracker.remaining == {Label.PET}
    assert tracker.observe(0, seen(PERSON)) == []
    assert Confirmations({Label.PERSON}, 2, 1000, confirmed={Label.PERSON}).complete
