"""The fleet status of 10,000 cameras: counts right, what needs attention first, artifacts bounded;
and which cameras' detections a run reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloud.fleet_index import FleetShadows
from cloud.models import ProcessorStatus
from cloud.rekognition_messages import DetectionRecord
from cloud.shadow import CameraStatus
from device.messages import PipelineState
from flows.fleet_status import moved_today
from flows.fleet_status_report import (
    ATTENTION_LINES,
    GALLERY_LINKS,
    TABLE_ROWS,
    CameraFacts,
    ProcessorState,
    build_status,
    summary_markdown,
    table_description,
    table_rows,
)
from tests.support.messages import health_event

NOW = datetime(2026, 5, 2, 18, 30, tzinfo=UTC)
CAMERAS = 10_000
RUNNING = ProcessorState(status=ProcessorStatus.RUNNING)


def _online(camera: str, pipeline: PipelineState = PipelineState.RUNNING) -> CameraStatus:
    return CameraStatus(
        online=True,
        last_seen=NOW - timedelta(seconds=10),
        status_since=NOW - timedelta(days=1),
        last_motion=NOW - timedelta(hours=1),
        health=health_event(camera_id=camera, pipeline=pipeline),
    )


def _detection(camera: str) -> DetectionRecord:
    return DetectionRecord(
        camera_id=camera,
        session_id="s1",
        label="PERSON",
        confidence=97.0,
        detected_at=NOW - timedelta(minutes=30),
        frame_uri=f"s3://bucket/cameras/{camera}/frame.jpg",
        processor=f"camfleet-{camera}",
    )


def _fleet() -> list[CameraFacts]:
    """Every 100th camera offline (for n minutes: camera 100 the shortest), every 250th online
    with a failed pipeline, every 500th never seen, every 20th with a detection today, the rest
    online and idle today."""
    facts = []
    for n in range(CAMERAS):
        camera = f"cam-{n:05d}"
        if n % 100 == 99:
            status = CameraStatus(
                online=False, last_seen=NOW, status_since=NOW - timedelta(minutes=n)
            )
        elif n % 250 == 1:
            status = _online(camera, PipelineState.FAILED)
        elif n % 500 == 2:
            status = CameraStatus()
        else:
            status = _online(camera)
        moved = n % 20 == 0
        facts.append(
            CameraFacts(
                camera_id=camera,
                status=status,
                processor=RUNNING,
                last_detection=_detection(camera) if moved else None,
                idle_today=not moved,
            )
        )
    return facts


def test_counts_attention_first_and_bounded_artifacts_at_10000_cameras() -> None:
    status = build_status("camfleet", _fleet(), NOW, budget_minutes=30.0)

    assert len(status.cameras) == CAMERAS
    assert (status.offline, status.never_seen, status.pipelines_failed) == (100, 20, 40)
    assert status.online == CAMERAS - 100 - 20
    assert (status.failing, status.processors_failed, status.detected_today) == (40, 0, 500)
    # Offline longest first, then the failed pipelines, then never seen.
    assert status.attention[0] == "cam-09999: offline for 6 d 22 h"
    assert status.attention[99] == "cam-00099: offline for 1 h 39 min"
    assert status.attention[100].startswith("cam-00001: pipeline failed")
    assert status.attention[140] == "cam-00002: never seen"
    assert len(status.attention) == 160

    rows = table_rows(status, TABLE_ROWS)
    assert len(rows) == TABLE_ROWS
    assert [r["online"] for r in rows[:100]] == ["no"] * 100
    assert rows[100]["pipeline state"] == "failed"
    assert rows[160]["camera"] == "cam-00000"  # then the cameras that need nothing
    assert len(table_rows(status)) == CAMERAS  # the CLI's table: every camera
    assert table_description(status).endswith(
        "; the first 200 rows, those needing attention first "
        "(9800 more: `fleet camera overview --json`)"
    )

    markdown = summary_markdown(status)
    assert markdown.count("\n- ") == ATTENTION_LINES + 1
    assert "- … and 60 more: `fleet camera overview --json`" in markdown
    assert markdown.count("/v2/artifacts/key/") == GALLERY_LINKS
    assert "(and 450 more)" in markdown
    assert len(markdown.encode()) < 20_000


def test_a_small_fleets_table_holds_every_camera_and_says_nothing_more() -> None:
    status = build_status("camfleet", _fleet()[:50], NOW, budget_minutes=30.0)

    assert len(table_rows(status, TABLE_ROWS)) == 50
    assert "more" not in table_description(status)


def test_detections_are_read_for_the_cameras_that_moved_today_and_the_unknown() -> None:
    day_start = datetime(2026, 5, 2, tzinfo=UTC)
    shadows = FleetShadows(
        camera_ids=["idle", "moved", "never", "unread", "yesterday"],
        statuses={
            "idle": CameraStatus(online=True),
            "moved": CameraStatus(last_motion=day_start),
            "never": CameraStatus(),
            "yesterday": CameraStatus(last_motion=day_start - timedelta(milliseconds=1)),
        },
        errors={"unread": "not a camera status"},
    )

    assert moved_today(shadows, day_start.date()) == ["moved", "unread"]
