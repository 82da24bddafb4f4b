"""`--since` and the report window."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from cloud.errors import InvalidInputError
from cloud.report.models import ReportWindow
from cloud.report.store import chart_key
from cloud.report.window import parse_since, window_ending

NOW = datetime(2026, 12, 7, 19, 24, 19, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "since"),
    [
        ("7d", timedelta(days=7)),
        ("24h", timedelta(hours=24)),
        ("30d", timedelta(days=30)),
        (" 1H ", timedelta(hours=1)),
        ("92d", timedelta(days=92)),
    ],
)
def test_since_is_days_or_hours(text: str, since: timedelta) -> None:
    assert parse_since(text) == since


@pytest.mark.parametrize("text", ["", "7", "d", "7w", "1.5d", "-7d", "7 days", "0h", "93d"])
def test_anything_else_is_refused_with_what_to_give(text: str) -> None:
    with pytest.raises(InvalidInputError, match="--since"):
        parse_since(text)


def test_the_window_starts_at_the_utc_midnight_before_now_minus_since() -> None:
    window = window_ending(NOW, timedelta(days=7))
    assert (window.start, window.end) == (datetime(2026, 11, 30, tzinfo=UTC), NOW)
    assert len(window.days) == 8 and window.days[-1] == date(2026, 12, 7)
    day = window_ending(NOW, timedelta(hours=24))
    assert day.days == (date(2026, 12, 6), date(2026, 12, 7))


def test_a_clock_in_another_zone_gives_the_same_utc_window() -> None:
    tokyo = NOW.astimezone(timezone(timedelta(hours=9)))
    assert window_ending(tokyo, timedelta(days=7)) == window_ending(NOW, timedelta(days=7))


def test_a_window_ends_after_it_starts_and_knows_its_zone() -> None:
    with pytest.raises(ValidationError):
        ReportWindow(start=NOW, end=NOW)
    with pytest.raises(ValidationError):
        ReportWindow(start=datetime(2026, 12, 1), end=datetime(2026, 12, 2))


def test_the_chart_is_kept_per_fleet_and_report_date() -> None:
    assert chart_key("home", date(2026, 12, 7)) == "reports/home/2026-12-07/detections.png"
