"""The report's counts per camera, UTC day and label, its busiest hours and its costs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cloud.models import Analyzer
from cloud.rekognition_messages import DailyUsage
from cloud.report.aggregate import FramesSampling, build_report, busiest_hours, label_order
from cloud.report.cost import DEFAULT_PRICES, day_cost, estimated_images
from cloud.report.models import CameraReadings, DetectionFact, Prices, ReportWindow

WINDOW = ReportWindow(
    start=datetime(2026, 11, 30, tzinfo=UTC), end=datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
)
SAMPLING = FramesSampling(search_ms=3000, confirmations=2)
PRICES = Prices(stream_processor_per_minute=0.5, detect_labels_per_image=0.001)
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 30, hour, minute, tzinfo=UTC) + timedelta(days=day)


def seen(label: str, moment: datetime, session: str = "s1") -> DetectionFact:
    return DetectionFact(label=label, session_id=session, detected_at=moment)


def usage(camera: str, day: date, ms: int, sessions: int) -> DailyUsage:
    return DailyUsage(camera_id=camera, day=day, processed_ms=ms, sessions=sessions)


FRONT = CameraReadings(
    camera_id="front",
    detections=(
        seen("PERSON", at(0, 8)),
        seen("PERSON", at(0, 8, 30), "s2"),
        seen("PACKAGE", at(0, 8, 31), "s2"),
        seen("PET", at(1, 23, 59)),
        seen("PERSON", at(2, 11, 59)),
        # Outside the window: the day before, and at its end (exclusive).
        seen("PERSON", at(-1, 23, 59)),
        seen("PERSON", NOW),
    ),
    usage=(
        usage("front", date(2026, 11, 30), 90_000, 2),
        usage("front", date(2026, 12, 1), 30_000, 1),
    ),
)
BACK = CameraReadings(
    camera_id="back",
    detections=(seen("PET", at(1, 8, 5)), seen("PET", at(1, 9)), seen("PET", at(1, 9, 10))),
    usage=(usage("back", date(2026, 12, 1), 60_000, 3),),
)


def report(analyzer: Analyzer = Analyzer.STREAM_PROCESSOR, unread: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return build_report(
        "home", WINDOW, analyzer, PRICES, SAMPLING, [FRONT, BACK], unread or {}, NOW
    )


def test_the_window_covers_each_utc_day_it_touches() -> None:
    assert WINDOW.days == (date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2))


def test_detections_are_counted_per_camera_utc_day_and_label_inside_the_window() -> None:
    built = report()
    assert [c.camera_id for c in built.cameras] == ["back", "front"]
    front = {d.day: d.detections_by_label for d in built.cameras[1].days}
    assert front == {
        date(2026, 11, 30): {"PERSON": 2, "PACKAGE": 1},
        date(2026, 12, 1): {"PET": 1},
        date(2026, 12, 2): {"PERSON": 1},
    }
    back = {d.day: d.detections_by_label for d in built.cameras[0].days}
    assert back == {date(2026, 11, 30): {}, date(2026, 12, 1): {"PET": 3}, date(2026, 12, 2): {}}
    assert (built.detections, built.cameras[1].detections, built.cameras[0].detections) == (8, 5, 3)
    assert built.labels == ("PERSON", "PET", "PACKAGE")
    assert [d.detections_by_label for d in built.fleet_days] == [
        {"PERSON": 2, "PACKAGE": 1},
        {"PET": 4},
        {"PERSON": 1},
    ]


def test_sessions_and_video_come_from_each_days_usage() -> None:
    front = report().cameras[1]
    assert [(d.sessions, d.processed_ms) for d in front.days] == [(2, 90_000), (1, 30_000), (0, 0)]
    assert (front.sessions, front.minutes) == (3, 2.0)


def test_stream_processor_cost_is_minutes_times_the_price() -> None:
    built = report()
    front, back = built.cameras[1], built.cameras[0]
    assert [d.cost_usd for d in front.days] == pytest.approx([0.75, 0.25, 0.0])
    assert back.cost_usd == pytest.approx(0.5)
    assert built.cost_usd == pytest.approx(1.5)
    assert all(d.images is None for c in built.cameras for d in c.days)


def test_frames_cost_is_estimated_images_times_the_price() -> None:
    built = report(Analyzer.FRAMES)
    front = built.cameras[1]
    # Day 1: 90 s of video -> 30 searches, +2 sessions' first searches, +3 detections confirmed.
    assert [d.images for d in front.days] == [35, 12, 1]
    assert [d.cost_usd for d in front.days] == pytest.approx([0.035, 0.012, 0.001])
    assert front.images == 48


@pytest.mark.parametrize(
    ("processed_ms", "sessions", "detections", "expected"),
    [
        (0, 0, 0, 0),
        (2000, 1, 1, 3),  # a short visit: the first search, one more search, one confirmation
        (7000, 1, 0, 4),
        (14000, 1, 1, 7),
        (3000, 1, 0, 2),
    ],
)
def test_estimated_images(processed_ms: int, sessions: int, detections: int, expected: int) -> None:
    assert (
        estimated_images(processed_ms, sessions, detections, search_ms=3000, confirmations=2)
        == expected
    )


def test_more_confirmations_cost_more_images_per_detection() -> None:
    assert estimated_images(0, 1, 2, search_ms=3000, confirmations=3) == 5


def test_day_cost_prices_what_the_analyzer_bills() -> None:
    assert day_cost(Analyzer.STREAM_PROCESSOR, PRICES, 120_000, None) == pytest.approx(1.0)
    assert day_cost(Analyzer.FRAMES, PRICES, 120_000, 250) == pytest.approx(0.25)
    assert DEFAULT_PRICES.assumed == ("stream_processor_per_minute",)


def test_busiest_hours_are_utc_hours_of_day_busiest_first_earlier_on_ties() -> None:
    east = datetime(2026, 12, 1, 10, 0, tzinfo=UTC).astimezone().tzinfo
    moments = [
        at(0, 9),
        at(1, 9, 30),
        at(0, 20),
        at(1, 20, 5),
        at(0, 7),
        at(2, 23).astimezone(east),
        at(1, 9, 59),
    ]
    assert [(h.hour, h.detections) for h in busiest_hours(moments)] == [(9, 3), (20, 2), (7, 1)]


def test_the_report_has_fleet_wide_and_per_camera_busiest_hours() -> None:
    built = report()
    assert [(h.hour, h.detections) for h in built.busiest_hours] == [(8, 4), (9, 2), (11, 1)]
    back = built.cameras[0]
    assert [(h.hour, h.detections) for h in back.busiest_hours] == [(9, 2), (8, 1)]


def test_an_unread_camera_is_reported_with_nothing_counted() -> None:
    built = report(unread={"garage": "AccessDenied"})
    garage = next(c for c in built.cameras if c.camera_id == "garage")
    assert garage.unread == "AccessDenied"
    assert (garage.detections, garage.sessions, len(garage.days)) == (0, 0, 3)
    assert built.detections == 8


def test_labels_put_connected_home_classes_first() -> None:
    assert label_order(["dog", "PACKAGE", "PERSON", "PACKAGE"]) == ("PERSON", "PACKAGE", "dog")


def test_the_json_carries_the_totals() -> None:
    data = report().model_dump(mode="json")
    assert data["detections"] == 8
    assert data["cameras"][1]["sessions"] == 3
    assert data["cameras"][1]["days"][0]["detections"] == 3
