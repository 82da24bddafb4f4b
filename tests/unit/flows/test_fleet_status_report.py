"""The fleet status the `fleet-status` flow publishes, from what it read: rows, counts, what needs
attention, the table and the summary. And how the flow puts its reads together."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from cloud.errors import AccessDeniedError, RetryableError
from cloud.faces.models import FaceMatch, FaceRecognition, FaceStatus
from cloud.gallery import gallery_key
from cloud.models import ProcessorStatus
from cloud.rekognition_messages import DailyUsage, DetectionRecord
from cloud.settings import FleetSettings
from cloud.shadow import CameraStatus
from device.messages import PipelineState
from flows import runtime
from flows.fleet_status import LatestDetections, Reads, camera_facts, deployment, read_each
from flows.fleet_status_report import (
    COLUMNS,
    CameraFacts,
    Part,
    Presence,
    ProcessorState,
    _duration,
    build_status,
    summary_line,
    summary_markdown,
    table_rows,
)
from tests.support.messages import health_event

NOW = datetime(2026, 5, 2, 18, 30, tzinfo=UTC)
BUDGET = 30.0
STOPPED = ProcessorState(status=ProcessorStatus.STOPPED)
# As issue 5 lists them, and the last named visitor.
ISSUE_COLUMNS = (
    "(camera, online, last seen, pipeline state, fps, restarts, last motion, last detection, "
    "last visitor, processor status, analysed minutes today)"
)


def online(
    camera: str,
    pipeline: PipelineState = PipelineState.RUNNING,
    error: str | None = None,
    seen_ago: timedelta = timedelta(seconds=10),
    **health: object,
) -> CameraStatus:
    return CameraStatus(
        online=True,
        last_seen=NOW - seen_ago,
        status_since=NOW - timedelta(hours=3),
        health=health_event(camera_id=camera, pipeline=pipeline, pipeline_error=error, **health),
    )


def offline(minutes: float, reason: str | None = None) -> CameraStatus:
    return CameraStatus(
        online=False,
        last_seen=NOW - timedelta(minutes=minutes + 1),
        status_since=NOW - timedelta(minutes=minutes),
        status_reason=reason,
    )


def facts(camera: str, status: CameraStatus | None = None, **parts: object) -> CameraFacts:
    values: dict[str, object] = {"processor": STOPPED, **parts}
    return CameraFacts.model_validate(
        {"camera_id": camera, "status": status or CameraStatus(), **values}
    )


def detection(
    camera: str, at: datetime, label: str = "PERSON", names: tuple[str | None, ...] = ()
) -> DetectionRecord:
    faces = FaceRecognition(
        status=FaceStatus.NAMED,
        faces=tuple(
            FaceMatch(name=n, similarity=99.0 if n else None, box=(0.1, 0.1, 0.1, 0.1))
            for n in names
        ),
    )
    return DetectionRecord(
        camera_id=camera,
        session_id="s1",
        label=label,
        confidence=97.0,
        detected_at=at,
        frame_uri=f"s3://bucket/cameras/{camera}/frame.jpg",
        processor=f"camfleet-{camera}",
        faces=faces if names else None,
    )


def usage(camera: str, minutes: float) -> DailyUsage:
    return DailyUsage(
        camera_id=camera, day=NOW.date(), processed_ms=round(minutes * 60_000), sessions=3
    )


def test_counts_and_failing() -> None:
    status = build_status(
        "camfleet",
        [
            facts("front", online("front")),
            facts("porch", online("porch", PipelineState.FAILED, "no element x264enc")),
            facts("yard", online("yard", PipelineState.STALLED)),
            facts("attic", online("attic", PipelineState.RESTARTING)),
            facts("garage", offline(12, "connection lost")),
            # Offline with a failed pipeline last reported: offline is the news, not failing.
            facts(
                "cellar",
                offline(3).model_copy(
                    update={"health": health_event(pipeline=PipelineState.FAILED)}
                ),
            ),
            facts("shed"),
            facts("gate", online("gate"), processor=ProcessorState(status=ProcessorStatus.FAILED)),
        ],
        NOW,
        BUDGET,
    )
    assert (status.online, status.offline, status.never_seen, status.failing) == (5, 2, 1, 3)
    assert [r.camera for r in status.cameras] == sorted(
        ["front", "porch", "yard", "attic", "garage", "cellar", "shed", "gate"]
    )
    failing = {r.camera for r in status.cameras if r.failing}
    assert failing == {"porch", "yard", "gate"}
    assert status.day == date(2026, 5, 2) and status.at == NOW


def test_what_needs_attention_names_the_camera_and_the_problem() -> None:
    status = build_status(
        "camfleet",
        [
            facts("garage", offline(12, "connection lost")),
            facts("porch", online("porch", PipelineState.FAILED, "no element\n  x264enc")),
            facts("yard", online("yard", PipelineState.STALLED)),
            facts("shed"),
            facts("attic", online("attic", seen_ago=timedelta(minutes=5))),
            facts(
                "gate",
                online("gate"),
                processor=ProcessorState(status=ProcessorStatus.FAILED, message="role denied"),
            ),
            facts("side", online("side"), processor=None),
            facts("drive", online("drive"), usage_today=usage("drive", 30.2)),
            facts("front", online("front"), usage_today=usage("front", 29.9)),
        ],
        NOW,
        BUDGET,
    )
    # In the order to act: offline, failed, silent, never seen, the rest.
    assert status.attention == (
        "garage: offline for 12 min (connection lost)",
        "gate: stream processor FAILED: role denied",
        "porch: pipeline failed: no element x264enc",
        "yard: pipeline stalled",
        "attic: online but silent for 5 min",
        "shed: never seen",
        "drive: daily analysis budget used (30.2 of 30 min)",
        "side: no stream processor (register the camera again)",
    )
    by_camera = {r.camera: r for r in status.cameras}
    assert by_camera["front"].attention == ()
    assert by_camera["garage"].attention == ("garage: offline for 12 min (connection lost)",)


def test_parts_that_could_not_be_read_are_reported_not_guessed() -> None:
    unread = {Part.SHADOW: "AccessDenied", Part.PROCESSOR: "throttled", Part.USAGE: "x" * 500}
    status = build_status(
        "camfleet",
        [facts("porch", processor=None, unread=unread)],
        NOW,
        BUDGET,
    )
    [row] = status.cameras
    assert row.presence is Presence.UNKNOWN
    assert (row.processor_status, row.analysed_minutes_today) == (None, None)
    assert (status.online, status.offline, status.never_seen, status.failing) == (0, 0, 0, 0)
    # Neither "never seen" nor "no stream processor": that is not known.
    assert status.attention[:2] == (
        "porch: shadow not read: AccessDenied",
        "porch: stream processor not read: throttled",
    )
    assert status.attention[2].startswith("porch: usage not read: xxx")
    assert len(status.attention[2]) < 250


def test_the_table_has_the_issues_columns_and_one_row_per_camera() -> None:
    status = build_status(
        "camfleet",
        [
            facts(
                "front",
                online("front", fps=14.96, restarts=2).model_copy(
                    update={"last_motion": datetime(2026, 5, 2, 18, 29, 1, 500_000, tzinfo=UTC)}
                ),
                last_detection=detection("front", datetime(2026, 5, 2, 18, 29, 3, tzinfo=UTC)),
                last_visitor=detection(
                    "front",
                    datetime(2026, 5, 2, 9, 1, 2, tzinfo=UTC),
                    names=("alice", None, "bob", "alice"),
                ),
                usage_today=usage("front", 1.26),
            ),
            facts("garage", offline(12), processor=None),
            facts("shed"),
        ],
        NOW,
        BUDGET,
    )
    rows = table_rows(status)
    assert list(COLUMNS) == ISSUE_COLUMNS.strip("()").split(", ")
    assert all(list(row) == list(COLUMNS) for row in rows)
    # Those needing attention first: offline, then never seen, then the rest.
    assert [row["camera"] for row in rows] == ["garage", "shed", "front"]
    assert rows[2] == {
        "camera": "front",
        "online": "yes",
        "last seen": "2026-05-02 18:29:50 UTC",
        "pipeline state": "running",
        "fps": 15.0,
        "restarts": 2,
        "last motion": "2026-05-02 18:29:01 UTC",
        "last detection": "2026-05-02 18:29:03 UTC (PERSON)",
        "last visitor": "alice, bob (2026-05-02 09:01:02 UTC)",
        "processor status": "STOPPED",
        "analysed minutes today": 1.3,
    }
    assert rows[0]["online"] == "no" and rows[0]["processor status"] is None
    assert rows[0]["analysed minutes today"] == 0.0  # nothing analysed: zero, not unknown
    assert rows[1] == {
        **dict.fromkeys(COLUMNS),
        "camera": "shed",
        "online": "never seen",
        "processor status": "STOPPED",
        "analysed minutes today": 0.0,
    }


def test_the_summary_counts_and_lists_what_needs_attention() -> None:
    status = build_status(
        "camfleet",
        [
            facts("front", online("front")),
            facts("porch", online("porch", PipelineState.FAILED, "bad <caps> | *x*")),
            facts("garage", offline(90)),
        ],
        NOW,
        BUDGET,
    )
    markdown = summary_markdown(status)
    assert markdown.startswith("# Fleet camfleet: 3 cameras\n")
    assert (
        "| online | offline | never seen | failing | pipelines failed | processors failed "
        "| motion today | detections today |\n"
    ) in markdown
    assert "| 2 | 1 | 0 | 1 | 1 | 0 | 0 | 0 |" in markdown
    assert "- garage: offline for 1 h 30 min\n" in markdown
    # A camera's error is shown as written, not rendered as markdown.
    assert r"- porch: pipeline failed: bad \<caps\> \| \*x\*" in markdown
    assert summary_line(status) == (
        "3 cameras: 2 online, 1 offline, 0 never seen, 1 failing; 2 need attention"
    )

    quiet = build_status("camfleet", [facts("front", online("front"))], NOW, BUDGET)
    assert "## Needs attention\n\nNothing needs attention.\n" in summary_markdown(quiet)
    assert summary_markdown(quiet).startswith("# Fleet camfleet: 1 camera\n")


def test_an_empty_fleet() -> None:
    status = build_status("camfleet", [], NOW, BUDGET)
    assert table_rows(status) == [] and status.attention == ()
    assert "| 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 |" in summary_markdown(status)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "0 s"),
        (12, "12 s"),
        (60, "1 min"),
        (12 * 60 + 59, "12 min"),
        (3600, "1 h"),
        (3 * 3600 + 5 * 60, "3 h 5 min"),
        (2 * 86400 + 3 * 3600 + 59, "2 d 3 h"),
        (86400, "1 d"),
    ],
)
def test_durations_read_as_a_person_would_say_them(seconds: int, text: str) -> None:
    assert _duration(timedelta(seconds=seconds)) == text


def test_read_each_keeps_a_cameras_error_and_raises_a_retryable_one_after_all() -> None:
    read: list[str] = []

    def answer(camera: str) -> int:
        read.append(camera)
        if camera == "denied":
            raise AccessDeniedError("denied: AccessDeniedException")
        if camera == "busy":
            raise RetryableError("busy: ThrottlingException")
        return len(camera)

    reads = read_each(["front", "denied"], answer)
    assert reads.values == {"front": 5} and reads.errors == {
        "denied": "denied: AccessDeniedException"
    }
    read.clear()
    with pytest.raises(RetryableError):
        read_each(["busy", "front", "denied"], answer)
    assert sorted(read) == ["busy", "denied", "front"]  # every camera tried
    assert read_each([], answer) == Reads()


def test_a_part_that_could_not_be_read_is_unread_for_every_camera() -> None:
    shadows: Reads[CameraStatus] = Reads(
        values={"front": online("front")}, errors={"porch": "not a camera status"}
    )
    processors: Reads[ProcessorState | None] = Reads(values={"front": STOPPED, "porch": None})
    visitor = detection("front", datetime(2026, 5, 2, 9, 1, 2, tzinfo=UTC), names=("alice",))
    detections: Reads[LatestDetections] = Reads(
        values={"front": (None, visitor), "porch": (None, None)}
    )
    gathered = camera_facts(
        ["front", "porch"], shadows, processors, detections, "read-usage failed: AccessDenied"
    )
    front, porch = gathered
    assert front.status == shadows.values["front"] and front.processor == STOPPED
    assert (front.last_detection, front.last_visitor) == (None, visitor)
    assert front.unread == {Part.USAGE: "read-usage failed: AccessDenied"}
    assert porch.status == CameraStatus() and porch.processor is None
    assert porch.unread == {
        Part.SHADOW: "not a camera status",
        Part.USAGE: "read-usage failed: AccessDenied",
    }


def test_the_served_deployment_runs_every_status_interval(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(runtime, "_current", None)  # the process's runtime comes back after
    runtime.configure(FleetSettings(home=tmp_path))
    default = deployment()
    assert default.name == "fleet-status"
    [schedule] = default.schedules or []
    assert getattr(schedule.schedule, "interval", None) == timedelta(seconds=60)

    monkeypatch.setenv("FLEET_STATUS_INTERVAL_SECONDS", "300")
    runtime.configure(FleetSettings(home=tmp_path))
    [slower] = deployment().schedules or []
    assert getattr(slower.schedule, "interval", None) == timedelta(minutes=5)
    with pytest.raises(ValidationError):
        FleetSettings(home=tmp_path, status_interval_seconds=5)


def test_the_summary_links_the_cameras_with_detections_today_to_their_gallery() -> None:
    earlier, yesterday = NOW - timedelta(hours=2), NOW - timedelta(days=1)
    status = build_status(
        "camfleet",
        [
            facts("front-door", online("front-door"), last_detection=detection("front-door", NOW)),
            facts("back_yard", offline(5), last_detection=detection("back_yard", earlier)),
            facts("porch", online("porch"), last_detection=detection("porch", yesterday)),
            facts("shed", online("shed"), idle_today=True),
        ],
        NOW,
        BUDGET,
    )
    absolute = summary_markdown(status, ui_url="http://127.0.0.1:4200/")
    back_yard = gallery_key("back_yard")
    assert (
        "## Detections today\n\nLatest detections per camera: "
        "[front-door](http://127.0.0.1:4200/v2/artifacts/key/camera-front-door-detections) · "
        f"[back\\_yard](http://127.0.0.1:4200/v2/artifacts/key/{back_yard})\n"
    ) in absolute
    assert "porch" not in absolute and status.detected_today == 2
    assert table_rows(status)[-1]["last detection"] == "idle today"
    assert "`fleet camera events ID`" in absolute
    # Without the UI's address: paths the UI resolves against its own.
    assert "[front-door](/v2/artifacts/key/camera-front-door-detections)" in (
        summary_markdown(status)
    )
    assert "## Detections" not in summary_markdown(build_status("camfleet", [], NOW, BUDGET))
