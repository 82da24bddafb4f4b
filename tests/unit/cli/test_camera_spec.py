from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from cli.camera import app as camera_app
from cli.camera_input import camera_spec, camera_specs_from_file, parse_region
from cloud.errors import InvalidInputError, NotFoundError
from cloud.models import CameraSpec, Label, RegistrationResult
from cloud.registry import (
    recognizes_faces,
    spec_from_attributes,
    thing_attributes,
)


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
    # At most three attributes: AWS IoT's limit for a thing without a thing type.
    assert attributes == {
        "fleet": "camfleet",
        "camera": "labels=PERSON/PET,min_confidence=72.5,retention_hours=3,"
        "max_duration_seconds=12,recognize_faces=false",
    }
    assert spec_from_attributes("cam1", attributes) == spec


def test_many_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ids = tmp_path / "ids.txt"
    ids.write_text("cam1\ncam2\n\n")
    assert [s.camera_id for s in camera_specs_from_file(ids)] == ["cam1", "cam2"]
    bad = tmp_path / "bad.json"
    bad.write_text('[{"camera_id": "ok"}, {"camera_id": "ok2", "min_confidence": 200}]')
    with pytest.raises(InvalidInputError, match=r"camera 2 .*min_confidence"):
        camera_specs_from_file(bad)


def test_faces_are_not_recognised_unless_asked() -> None:
    assert camera_spec("cam1", None, None, None, None, None).recognize_faces is False
    assert camera_spec("cam1", None, None, None, None, None, recognize_faces=True).recognize_faces


@pytest.mark.parametrize("recognize", [True, False])
def test_recognize_faces_round_trips_through_the_thing_attributes(recognize: bool) -> None:
    spec = CameraSpec(camera_id="cam1", recognize_faces=recognize)
    attributes = thing_attributes(spec, "camfleet")
    assert f"recognize_faces={str(recognize).lower()}" in attributes["camera"].split(",")
    assert spec_from_attributes("cam1", attributes) == spec
    assert recognizes_faces(attributes) is recognize


def test_a_camera_registered_before_the_settings_were_packed_is_read_as_it_was() -> None:
    attributes = {
        "fleet": "camfleet",
        "labels": "PERSON,PET",
        "min_confidence": "60",
        "retention_hours": "24",
        "max_duration_seconds": "30",
    }
    spec = spec_from_attributes("cam1", attributes)
    assert (spec.labels, spec.min_confidence) == (frozenset({Label.PERSON, Label.PET}), 60)
    assert spec.recognize_faces is False and recognizes_faces(attributes) is False
    packed = thing_attributes(CameraSpec(camera_id="cam1"), "camfleet")
    assert (
        recognizes_faces({**packed, "camera": packed["camera"].replace("=false", "=TRUE")}) is False
    )


def test_unreadable_settings_say_so() -> None:
    with pytest.raises(NotFoundError, match="lacks the settings"):
        spec_from_attributes("cam1", {"fleet": "camfleet", "camera": "labels=PERSON"})
    with pytest.raises(NotFoundError, match="unreadable"):
        spec_from_attributes(
            "cam1",
            {
                "fleet": "camfleet",
                "camera": "labels=NOPE,min_confidence=50,retention_hours=1,max_duration_seconds=5",
            },
        )


def test_a_many_file_may_ask_for_faces_per_camera(tmp_path: Path) -> None:
    listed = tmp_path / "cameras.json"
    listed.write_text('[{"camera_id": "door", "recognize_faces": true}, {"camera_id": "yard"}]')
    specs = camera_specs_from_file(listed)
    assert [(s.camera_id, s.recognize_faces) for s in specs] == [("door", True), ("yard", False)]


@dataclass
class _Registered:
    specs: list[CameraSpec] = field(default_factory=list)


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> _Registered:
    """`fleet camera register` up to the flow: the spec it would register, no flow run."""
    import cli.prefect_context
    import flows.register

    seen = _Registered()

    def flow(camera: CameraSpec, replace: bool = False) -> CameraSpec:
        seen.specs.append(camera)
        return camera

    def run_flow(settings: object, spec: CameraSpec) -> RegistrationResult:
        return RegistrationResult(
            camera_id=spec.camera_id,
            thing_name=spec.camera_id,
            stream_arn=f"arn:aws:kinesisvideo:us-east-1:123456789012:stream/{spec.camera_id}/1",
            processor_arn=None,
            role_arn=None,
            certificate_arn="arn:aws:iot:us-east-1:123456789012:cert/abc",
            bundle_dir=tmp_path,
            changed=(),
        )

    monkeypatch.setattr(flows.register, "register_camera_flow", flow)
    monkeypatch.setattr(cli.prefect_context, "run_flow", run_flow)
    monkeypatch.setenv("FLEET_HOME", str(tmp_path))
    return seen


@pytest.mark.parametrize(("flags", "expected"), [([], False), (["--recognize-faces"], True)])
def test_register_takes_the_recognize_faces_flag(
    registered: _Registered, flags: list[str], expected: bool
) -> None:
    result = CliRunner().invoke(camera_app, ["register", "door", *flags])
    assert result.exit_code == 0, result.output
    assert [(s.camera_id, s.recognize_faces) for s in registered.specs] == [("door", expected)]


def test_register_many_refuses_the_flag_for_every_camera(
    registered: _Registered, tmp_path: Path
) -> None:
    listed = tmp_path / "ids.txt"
    listed.write_text("door\n")
    result = CliRunner().invoke(
        camera_app, ["register", "--many", str(listed), "--recognize-faces"]
    )
    assert result.exit_code != 0
    assert "recognize_faces per camera in the file" in result.output
    assert registered.specs == []
