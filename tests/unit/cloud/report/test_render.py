"""The report's markdown and summary line."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from cloud.models import Analyzer
from cloud.rekognition_messages import DailyUsage
from cloud.report.aggregate import FramesSampling, build_report
from cloud.report.cost import DEFAULT_PRICES
from cloud.report.models import (
    CameraReadings,
    ChartRef,
    DetectionFact,
    FleetReport,
    ReportWindow,
)
from cloud.report.render import hour_range, report_markdown, summary_line, usd

NOW = datetime(2026, 12, 7, 19, 0, tzinfo=UTC)
WINDOW = ReportWindow(start=datetime(2026, 12, 6, tzinfo=UTC), end=NOW)
LINK = "http://127.0.0.1:5000/camfleet-results/reports/home/2026-12-07/detections.png?X-Amz-Date=1"


def _report(analyzer: Analyzer = Analyzer.STREAM_PROCESSOR) -> FleetReport:
    readings = CameraReadings(
        camera_id="front_door",
        detections=(
            DetectionFact(
                label="PERSON",
                session_id="s1",
                detected_at=datetime(2026, 12, 6, 18, 5, tzinfo=UTC),
            ),
            DetectionFact(
                label="PACKAGE",
                session_id="s1",
                detected_at=datetime(2026, 12, 6, 18, 6, tzinfo=UTC),
            ),
        ),
        usage=(
            DailyUsage(
                camera_id="front_door", day=date(2026, 12, 6), processed_ms=90_000, sessions=1
            ),
        ),
    )
    return build_report(
        "home",
        WINDOW,
        analyzer,
        DEFAULT_PRICES,
        FramesSampling(search_ms=3000, confirmations=2),
        [readings, CameraReadings(camera_id="garage")],
        {"shed": "AccessDeniedException | no | access"},
        NOW,
    )


def test_the_markdown_has_the_tables_the_chart_and_the_assumed_price() -> None:
    chart = ChartRef(
        uri="s3://camfleet-results/reports/home/2026-12-07/detections.png",
        url=LINK,
        expires_at=NOW + timedelta(days=7),
    )
    text = report_markdown(_report().model_copy(update={"chart": chart}))
    assert text.startswith("# Fleet home: report 2026-12-06 to 2026-12-07\n")
    assert f"![Detections per day by label]({LINK})" in text
    assert "until 2026-12-14 19:00:00 UTC" in text
    assert "estimated, at $0.12 per minute of video analysed (an assumed price" in text
    assert (
        "| camera | detections | PERSON | PACKAGE | sessions | minutes analysed | est. cost |"
        in text
    )
    assert "| front\\_door | 2 | 1 | 1 | 1 | 1.5 | $0.1800 |" in text
    assert "| garage | 0 | 0 | 0 | 0 | 0.0 | $0.00 |" in text
    # A camera's error is shown as text: its pipes cannot break the table.
    assert "| shed | not read: AccessDeniedException \\| no \\| access |" in text
    assert "| front\\_door | 2026-12-06 | 1 | 1 | 1 | 1.5 | $0.1800 |" in text
    assert "2026-12-07 |" not in text  # days with nothing are left out
    assert "Fleet-wide: 18:00-19:00 (2)." in text
    assert "| front\\_door | 18:00-19:00 (2) |" in text


def test_a_chart_that_was_not_stored_is_said_so() -> None:
    text = report_markdown(_report().model_copy(update={"chart_error": "AccessDenied"}))
    assert "The chart could not be stored: AccessDenied." in text
    assert "![" not in text


def test_a_frames_fleet_reports_estimated_images_at_the_detect_labels_price() -> None:
    report = _report(Analyzer.FRAMES)
    text = report_markdown(report)
    # 90 s -> 30 searches, +1 for the session, +2 detections' confirmations.
    assert "| front\\_door | 2 | 1 | 1 | 1 | 33 | $0.0330 |" in text
    assert "images analysed (est.)" in text
    assert "at $0.001 per image sent to DetectLabels" in text
    assert "assumed" not in text
    assert "~33 images analysed" in summary_line(report)


def test_the_summary_line() -> None:
    assert summary_line(_report()) == (
        "3 cameras, 2 detections, 1 session, 1.5 min analysed, est. $0.1800 "
        "(2026-12-06 to 2026-12-07 UTC)"
    )


def test_an_empty_fleet_and_window_say_so() -> None:
    empty = build_report(
        "home",
        WINDOW,
        Analyzer.STREAM_PROCESSOR,
        DEFAULT_PRICES,
        FramesSampling(search_ms=3000, confirmations=2),
        [],
        {},
        NOW,
    )
    text = report_markdown(empty)
    assert "| no cameras registered |" in text
    assert "No detections and no analysis in the window." in text
    assert "Fleet-wide: none." in text


def test_small_helpers() -> None:
    assert (usd(0), usd(0.01234), usd(1234.5)) == ("$0.00", "$0.0123", "$1,234.50")
    assert (hour_range(0), hour_range(23)) == ("00:00-01:00", "23:00-00:00")
