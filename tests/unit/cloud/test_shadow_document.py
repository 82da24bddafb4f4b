"""The shadow update documents the bridge sends, and the status `fleet camera show` prints."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cloud.errors import InvalidInputError
from cloud.shadow import (
    MAX_DOCUMENT_BYTES,
    CameraShadow,
    PresenceReport,
    ShadowUpdate,
    camera_status,
    reported_patch,
    shadow_document,
)
from device.messages import HealthEvent, Presence
from tests.support.messages import health_event

AT = 1_800_000_000_000


def health(**fields: object) -> HealthEvent:
    return health_event(**{"sent_at_ms": AT, "versions": {"agent": "2"}, **fields})


def test_only_the_parts_that_changed_are_sent() -> None:
    assert reported_patch(ShadowUpdate(last_seen_ms=AT)) == {"last_seen_ms": AT}
    assert reported_patch(ShadowUpdate(last_motion_ms=AT - 40)) == {"last_motion_ms": AT - 40}
    assert not ShadowUpdate(last_motion_ms=AT).empty
    presence = PresenceReport(presence=Presence.OFFLINE, status_at_ms=AT)
    assert reported_patch(ShadowUpdate(presence=presence)) == {
        "presence": "offline",
        "reason": None,  # null: the shadow deletes a reason left from an earlier presence
        "status_at_ms": AT,
    }


def test_a_health_is_sent_whole_with_nulls_and_stale_version_keys_deleted() -> None:
    patch = reported_patch(ShadowUpdate(health=health(), stale_versions=("agent", "gstreamer")))
    sent = patch["health"]
    assert sent["schema"] == 1 and sent["type"] == "health"
    assert sent["pipeline_error"] is None and sent["temperature_c"] is None
    assert sent["versions"] == {"agent": "2", "gstreamer": None}


def test_a_document_round_trips_through_the_read_model() -> None:
    update = ShadowUpdate(
        presence=PresenceReport(
            presence=Presence.ONLINE, reason="health received", status_at_ms=AT
        ),
        last_seen_ms=AT + 5,
        last_motion_ms=AT - 40,
        health=health(temperature_c=41.5),
    )
    reported = json.loads(shadow_document(update))["state"]["reported"]
    stored = {k: v for k, v in reported.items() if v is not None}  # what a shadow keeps
    stored["health"] = {k: v for k, v in stored["health"].items() if v is not None}
    shadow = CameraShadow.model_validate(stored)
    assert shadow.online is True
    assert shadow.health == health(temperature_c=41.5)
    assert camera_status(shadow).last_motion == datetime.fromtimestamp((AT - 40) / 1000, UTC)


def test_a_bulky_health_loses_its_details_to_fit_the_shadow_limit() -> None:
    bulky = health(pipeline_error="e" * 1000, versions={f"plugin{i}": "x" * 200 for i in range(60)})
    body = shadow_document(ShadowUpdate(health=bulky, last_seen_ms=AT))
    assert len(body) <= MAX_DOCUMENT_BYTES
    sent = json.loads(body)["state"]["reported"]["health"]
    assert sent["versions"] == {} and sent["pipeline_error"] is None
    assert sent["pipeline"] == "running"


def test_a_document_that_cannot_fit_is_refused() -> None:
    reason = "r" * MAX_DOCUMENT_BYTES
    presence = PresenceReport(presence=Presence.OFFLINE, reason=reason, status_at_ms=AT)
    with pytest.raises(InvalidInputError):
        shadow_document(ShadowUpdate(presence=presence))


def test_camera_status_for_show() -> None:
    assert camera_status(None).model_dump() == {
        "online": None,
        "last_seen": None,
        "status_reason": None,
        "status_since": None,
        "last_motion": None,
        "health": None,
    }
    shown = camera_status(
        CameraShadow(presence=Presence.OFFLINE, reason="connection lost", status_at_ms=AT)
    )
    assert shown.online is False and shown.last_seen is None
    assert shown.status_since == datetime.fromtimestamp(AT / 1000, UTC)
    assert camera_status(CameraShadow(last_seen_ms=AT)).online is None
