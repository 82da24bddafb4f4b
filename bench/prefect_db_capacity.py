"""bench/prefect_db.py's arithmetic, pure: which step of a ramp was sustained, and how many
cameras each measured rate of the Prefect server serves.

A camera costs the server, per second: one `analyze-motion` flow run per analysis session, and
the events about it (its `camera.health` at most every `health_event_interval_seconds` while
unchanged, and per session the events of its flow run, its detections and the verdicts on the
motions that join or miss it). Presence changes (online, offline) are rare next to these and left
out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from cloud.models import CameraSpec
from cloud.settings import FleetSettings


@dataclass(frozen=True)
class Step:
    """One rate of an open-loop ramp: runs offered at `offered_per_s` for a while."""

    offered_per_s: float
    arrivals: int
    completed: int
    errors: int
    p99_ms: float | None

    def sustained(self, p99_bound_ms: float) -> bool:
        """Every run done, none failed, and the slowest 1 % within the bound."""
        return (
            self.errors == 0
            and self.completed == self.arrivals
            and self.p99_ms is not None
            and self.p99_ms <= p99_bound_ms
        )


def sustained_step(steps: Sequence[Step], p99_bound_ms: float) -> Step | None:
    """The highest rate of a rising ramp sustained with every lower rate sustained too."""
    best: Step | None = None
    for step in sorted(steps, key=lambda s: s.offered_per_s):
        if not step.sustained(p99_bound_ms):
            break
        best = step
    return best


@dataclass(frozen=True)
class CameraLoad:
    """What one camera asks of the Prefect server."""

    sessions_per_hour: float
    health_interval_s: float
    events_per_run: float  # measured: the run's own events and `camera.analysis.started`
    detections_per_session: float
    verdicts_per_session: float

    @property
    def runs_per_s(self) -> float:
        return self.sessions_per_hour / 3600

    @property
    def events_per_s(self) -> float:
        per_session = self.events_per_run + self.detections_per_session + self.verdicts_per_session
        return 1 / self.health_interval_s + self.runs_per_s * per_session


def cameras_at_limit(rate_per_s: float | None, per_camera_per_s: float) -> int | None:
    """The number of cameras whose load reaches a measured rate (None: nothing measured)."""
    if rate_per_s is None or per_camera_per_s <= 0:
        return None
    # The tolerance keeps a whole quotient whole despite binary fractions (49.8 / (12 / 3600)).
    return math.floor(rate_per_s / per_camera_per_s + 1e-9)


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or not baseline:
        return None
    return round(value / baseline, 2)


def budget_sessions_per_hour() -> float:
    """A camera's mean sessions an hour at the fleet's defaults when it uses its whole daily
    analysis budget: the most it can average over a day."""
    budget_min = FleetSettings.model_fields["analysis_daily_budget_minutes"].default
    session_s = CameraSpec.model_fields["max_duration_seconds"].default
    return float(budget_min * 60 / session_s / 24)


def default_health_interval_s() -> float:
    return float(FleetSettings.model_fields["health_event_interval_seconds"].default)
