"""The period a report covers, from `--since 7d|24h|30d`. Pure: the clock is passed in."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from cloud.errors import InvalidInputError
from cloud.report.models import ReportWindow

MAX_SINCE = timedelta(days=92)  # a quarter: every day is a query per camera
_SINCE = re.compile(r"^\s*(\d{1,4})\s*([dh])\s*$")
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1)}


def parse_since(text: str) -> timedelta:
    """`7d`, `24h`, `30d`: a whole number of days or hours, from 1 h to 92 days."""
    match = _SINCE.match(text.lower())
    if match is None:
        raise InvalidInputError(
            f"--since {text!r}: give a whole number of days or hours, such as 7d, 24h or 30d"
        )
    since = int(match.group(1)) * _UNITS[match.group(2)]
    if not timedelta(hours=1) <= since <= MAX_SINCE:
        raise InvalidInputError(f"--since {text!r}: from 1h to {MAX_SINCE.days}d")
    return since


def window_ending(now: datetime, since: timedelta) -> ReportWindow:
    """From the UTC midnight at or before `now - since` to `now`.

    Analysed video is counted per UTC day, so the window starts on a day's boundary: each day's
    detections and usage then cover the same hours (the last day runs to `now`).
    """
    end = now.astimezone(UTC)
    first = (end - since).replace(hour=0, minute=0, second=0, microsecond=0)
    return ReportWindow(start=first, end=end)
