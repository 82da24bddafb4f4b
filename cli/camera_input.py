"""Parsing the CLI's camera options into a CameraSpec. Pure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cloud.errors import InvalidInputError
from cloud.models import CameraSpec


def describe_validation(err: ValidationError, what: str) -> str:
    parts = []
    for problem in err.errors():
        where = ".".join(str(p) for p in problem["loc"]) or what
        message = str(problem["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return f"invalid {what}: " + "; ".join(parts)


_BOX_FIELDS = ("left", "top", "width", "height")


def parse_region(text: str) -> dict[str, Any]:
    """`box:LEFT,TOP,WIDTH,HEIGHT` or `polygon:X,Y;X,Y;X,Y...`, as ratios of the frame (0 to 1)."""
    kind, _, body = text.partition(":")
    try:
        if kind == "box":
            values = [float(v) for v in body.split(",")]
            if len(values) != 4:
                raise ValueError("a box has 4 numbers")
            return {"box": dict(zip(_BOX_FIELDS, values, strict=True))}
        if kind == "polygon":
            points = [[float(v) for v in p.split(",")] for p in body.split(";") if p]
            if any(len(p) != 2 for p in points):
                raise ValueError("each polygon point is X,Y")
            return {"polygon": [{"x": x, "y": y} for x, y in points]}
    except ValueError as err:
        raise InvalidInputError(f"region of interest {text!r}: {err}") from err
    raise InvalidInputError(
        f"region of interest {text!r}: expected box:LEFT,TOP,WIDTH,HEIGHT or polygon:X,Y;X,Y;X,Y"
    )


def camera_spec(
    camera_id: str,
    labels: str | None,
    min_confidence: float | None,
    retention_hours: int | None,
    max_duration: int | None,
    regions: list[str] | None,
    *,
    recognize_faces: bool = False,
) -> CameraSpec:
    raw: dict[str, Any] = {"camera_id": camera_id, "recognize_faces": recognize_faces}
    if labels is not None:
        raw["labels"] = [v.strip().upper() for v in labels.split(",") if v.strip()]
    if min_confidence is not None:
        raw["min_confidence"] = min_confidence
    if retention_hours is not None:
        raw["retention_hours"] = retention_hours
    if max_duration is not None:
        raw["max_duration_seconds"] = max_duration
    if regions:
        raw["regions_of_interest"] = [parse_region(r) for r in regions]
    return CameraSpec.model_validate(raw)


def camera_specs_from_file(path: Path) -> list[CameraSpec]:
    """A JSON list of camera objects (the CameraSpec fields), or one camera id per line."""
    try:
        text = path.read_text()
    except OSError as err:
        raise InvalidInputError(f"{path}: {err.strerror}") from err
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError as err:
            raise InvalidInputError(f"{path}: not valid JSON: {err}") from err
    else:
        items = [{"camera_id": line.strip()} for line in text.splitlines() if line.strip()]
    specs = []
    for number, item in enumerate(items, start=1):
        try:
            specs.append(CameraSpec.model_validate(item))
        except ValidationError as err:
            raise InvalidInputError(describe_validation(err, f"camera {number} in {path}")) from err
    if not specs:
        raise InvalidInputError(f"{path}: no cameras listed")
    return specs
