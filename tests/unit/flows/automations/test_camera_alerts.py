"""What the alert flows tell the user: pure texts and the back-online check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.shadow import CameraStatus
from flows.automations.camera_alerts import (
    AlertKind,
    CameraProblem,
    back_online,
    duration_text,
    failing_alert,
    offline_alert,
)

SINCE = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (44.6, "45 s"),
        (60, "1 min"),
        (719, "11 min"),
        (3600, "1 h"),
        (7500, "2 h 5 min"),
    ],
)
def test_durations_read_as_people_say_them(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


def test_offline_text_says_how_long_why_and_when_last_seen() -> None:
    status = CameraStatus(online=False, last_seen=SINCE - timedelta(seconds=20))
    alert = offline_alert("garage", SINCE, "connection lost", status, SINCE + timedelta(minutes=12))
    assert alert.kind is AlertKind.OFFLINE and alert.subject == "garage offline"
    assert alert.message == (
        "garage offline for 12 min (connection lost), last seen 2030-01-01 11:59:40 UTC"
    )
    bare = offline_alert("garage", SINCE, "", CameraStatus(), SINCE + timedelta(seconds=30))
    assert bare.message == "garage offline for 30 s"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (CameraStatus(online=True, status_since=SINCE + timedelta(seconds=5)), True),
        (CameraStatus(online=True, status_since=SINCE - timedelta(seconds=5)), False),
        (CameraStatus(online=False, status_since=SINCE + timedelta(seconds=5)), False),
        (CameraStatus(online=True), False),
        (CameraStatus(), False),
    ],
)
def test_only_a_camera_seen_online_since_is_back(status: CameraStatus, expected: bool) -> None:
    assert back_online(status, SINCE) is expected


def test_failing_texts() -> None:
    pipeline = failing_alert(
        "porch", CameraProblem.PIPELINE_FAILED, SINCE, "no element kvssink", 1, 0
    )
    assert pipeline.kind is AlertKind.PIPELINE_FAILED
    assert pipeline.subject == "porch: pipeline failed"
    assert (
        pipeline.message == "porch: pipeline failed at 2030-01-01 12:00:00 UTC: no element kvssink"
    )
    analyses = failing_alert("porch", CameraProblem.ANALYSES_FAILING, SINCE, " boom ", 3, 900)
    assert analyses.subject == "porch: analyses failing"
    assert analyses.message == (
        "porch: 3 analyses failed within 15 min (latest at 2030-01-01 12:00:00 UTC: boom)"
    )
    one = failing_alert("porch", CameraProblem.ANALYSES_FAILING, SINCE, "", 1, 0)
    assert one.message == "porch: an analysis failed (latest at 2030-01-01 12:00:00 UTC)"
