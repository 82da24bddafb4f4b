"""The shared face models: a person's record round-trips through its JSON, recognitions name
their named faces in order."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cloud.faces.checks import check_photo
from cloud.faces.models import FaceMatch, FaceRecognition, FaceStatus, KnownPerson
from cloud.faces.photos import object_tags, photo_key, record_key


def test_a_person_record_round_trips_through_its_json() -> None:
    person = KnownPerson(
        name="alice",
        quiet=True,
        face_ids=("11111111-2222-3333-4444-555555555555",),
        photos=("s3://camfleet-results/faces/alice/ab.jpg",),
    )
    assert KnownPerson.model_validate_json(person.model_dump_json()) == person


@pytest.mark.parametrize("body", ['{"name": "Alice"}', '{"name": "bob", "extra": 1}', "{}"])
def test_a_record_that_is_not_one_is_refused(body: str) -> None:
    with pytest.raises(ValidationError):
        KnownPerson.model_validate_json(body)


def test_names_are_the_named_faces_in_order() -> None:
    recognition = FaceRecognition(
        status=FaceStatus.NAMED,
        faces=(
            FaceMatch(name="bob", similarity=98.5, box=(0.5, 0.1, 0.2, 0.3)),
            FaceMatch(name=None, similarity=None, box=(0.1, 0.1, 0.1, 0.1)),
            FaceMatch(name="alice", similarity=99.9, box=(0.0, 0.0, 0.1, 0.1)),
        ),
    )
    assert recognition.names == ["bob", "alice"]
    assert FaceRecognition.model_validate_json(recognition.model_dump_json()) == recognition


def test_a_photo_is_kept_under_its_person_by_content() -> None:
    photo = check_photo("me.jpg", b"\xff\xd8\xff" + b"x" * 10)
    assert photo_key("faces/", "alice", photo) == f"faces/alice/{photo.sha256}.jpg"
    assert record_key("faces/", "alice") == "faces/alice/person.json"
    tags = object_tags("camfleet", "alice", quiet=True)
    assert tags["camera-fleet:fleet"] == "camfleet"
    assert (tags["camera-fleet:person"], tags["camera-fleet:quiet"]) == ("alice", "true")
