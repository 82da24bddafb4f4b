"""The fleet index: the indexing configuration to write (pure), and the camera status in a thing's
indexed shadow document."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from cloud.errors import FleetError
from cloud.fleet_index import indexed_status, planned_indexing
from cloud.shadow import SHADOW_NAME, CameraStatus

WANTED = {
    "thingIndexingMode": "REGISTRY_AND_SHADOW",
    "namedShadowIndexingMode": "ON",
    "filter": {"namedShadowNames": [SHADOW_NAME]},
}


@pytest.mark.parametrize(
    ("current", "planned"),
    [
        ({"thingIndexingMode": "OFF"}, WANTED),
        ({}, WANTED),
        ({**WANTED, "thingIndexingMode": "REGISTRY"}, WANTED),
        ({**WANTED, "namedShadowIndexingMode": "OFF"}, WANTED),
        # What else the account indexes stays; AWS's managed fields are not sent back.
        (
            {
                "thingIndexingMode": "REGISTRY",
                "thingConnectivityIndexingMode": "STATUS",
                "namedShadowIndexingMode": "ON",
                "filter": {"namedShadowNames": ["$package"], "geoLocations": []},
                "managedFields": [{"name": "thingName", "type": "String"}],
                "customFields": [{"name": "attributes.site", "type": "String"}],
            },
            {
                "thingIndexingMode": "REGISTRY_AND_SHADOW",
                "thingConnectivityIndexingMode": "STATUS",
                "namedShadowIndexingMode": "ON",
                "filter": {"namedShadowNames": ["$package", SHADOW_NAME], "geoLocations": []},
                "customFields": [{"name": "attributes.site", "type": "String"}],
            },
        ),
        (WANTED, None),
        ({**WANTED, "filter": {"namedShadowNames": ["$package", SHADOW_NAME]}}, None),
    ],
)
def test_the_indexing_plan(current: dict[str, Any], planned: dict[str, Any] | None) -> None:
    assert planned_indexing(current) == planned


def _document(reported: object, **other_shadows: object) -> str:
    named = {SHADOW_NAME: {"reported": reported, "metadata": {}, "version": 3, "hasDelta": False}}
    return json.dumps({"reported": {"classic": 1}, "name": {**named, **other_shadows}})


def test_the_status_is_read_from_the_named_shadow() -> None:
    reported = {
        "presence": "offline",
        "reason": "connection lost",
        "status_at_ms": 1_777_000_000_000,
        "last_seen_ms": 1_777_000_001_000,
        "last_motion_ms": 1_777_000_002_000,
    }

    status = indexed_status("front", _document(reported, other={"reported": {"x": 1}}))

    assert status == CameraStatus(
        online=False,
        status_reason="connection lost",
        status_since=datetime.fromtimestamp(1_777_000_000, UTC),
        last_seen=datetime.fromtimestamp(1_777_000_001, UTC),
        last_motion=datetime.fromtimestamp(1_777_000_002, UTC),
    )


@pytest.mark.parametrize(
    "shadow",
    [None, "", json.dumps({"reported": {"classic": 1}}), json.dumps({"name": {"other": {}}})],
)
def test_without_a_status_shadow_the_camera_was_never_seen(shadow: str | None) -> None:
    assert indexed_status("front", shadow) == CameraStatus()


@pytest.mark.parametrize(
    "shadow",
    ["{not json", _document({"presence": "sideways"}), _document({"last_seen_ms": "soon"})],
)
def test_an_invalid_indexed_status_is_that_cameras_error(shadow: str) -> None:
    with pytest.raises(FleetError, match="front"):
        indexed_status("front", shadow)
