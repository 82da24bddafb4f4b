from typing import Any

import pytest
from pydantic import ValidationError

from cli.camera_input import camera_spec, camera_specs_from_file, parse_region
from cloud.errors import InvalidInputError
from cloud.models import CameraSpec, Label
from cloud.registry import spec_from_attributes, thing_attributes


def test_defaults() -> None:
    spec = camera_spec("cam1", None, None, None, None, None)
    assert spec.labels == {Label.PERSON, Label.PET, Label.PACKAGE}
    assert (spec.min_confidence, spec.retention_hours, spec.max_duration_seconds) == (50, 24, 30)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"labels": "PERSON,CAR"}, "labels"),
        ({"labels": ""}, "labels"),
        ({"labels": "ALL,PET"}, "ALL already includes"),
        ({"min_confidence": -1}, "min_confidence"),
        ({"min_confidence": 100.5}, "min_confidence"),
        ({"max_duration": 0}, "max_duration_seconds"),
        ({"max_duration": 121}, "max_duration_seconds"),
        ({"retention_hours": 0}, "retention_hours"),
        ({"regions": ["box:0.5,0.5,0.6,0.1"]}, "beyond the frame"),
        ({"regions": ["polygon:0.1,0.1;0.2,0.2"]}, "polygon"),
        ({"regions": ["box:0.1,0.1,0.2,0.2"] * 11}, "regions_of_interest"),
    ],
)
def test_bad_input_names_the_field(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, Any] = {
        "labels": None,
        "min_confidence": None,
        "retention_hours": None,
        "max_duration": None,
        "regions": None,
    }
    args.update(kwargs)
    with pytest.raises(ValidationError, match=field):
        camera_spec("cam1", **args)


@pytest.mark.parametrize("text", ["box:1,2,3", "circle:1,2", "polygon:1;2;3", "box:a,b,c,d"])
def test_malformed_regions(text: str) -> None:
    with pytest.raises(InvalidInputError, match="region of interest"):
        parse_region(text)


def test_regions_parse() -> None:
    spec = camera_spec("cam1", "person", 80, 48, 10, ["box:0.1,0.2,0.3,0.4", "polygon:0,0;1,0;1,1"])
    assert spec.labels == {Label.PERSON}
    assert spec.regions_of_interest[0].box is not None
    assert spec.regions_of_interest[0].box.width == 0.3
    assert spec.regions_of_interest[1].polygon is not None
    assert len(spec.regions_of_interest[1].polygon) == 3


def test_attributes_round_trip() -> None:
    spec = CameraSpec(
        camera_id="cam1",
        labels=frozenset({Label.PET, Label.PERSON}),
        min_confidence=72.5,
        retention_hours=3,
        max_duration_seconds=12,
    )
    attributes = thing_attributes(spec, "camfleet")
    assert attributes["labels"] == "PERSON,PET"
    assert spec_from_attributes("cam1", attributes) == spec


def test_many_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ids = tmp_path / "ids.txt"
    ids.write_text("cam1\ncam2\n\n")
    assert [s.camera_id for s in camera_specs_from_file(ids)] == ["cam1", "cam2"]
    bad = tmp_path / "bad.json"
    bad.write_text('[{"camera_id": "ok"}, {"camera_id": "ok2", "min_confidence": 200}]')
    with pytest.raises(InvalidInputError, match=r"camera 2 .*min_confidence"):
        camera_specs_from_file(bad)
