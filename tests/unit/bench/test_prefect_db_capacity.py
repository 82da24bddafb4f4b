"""bench/prefect_db_capacity.py: which ramp step was sustained, and cameras per measured rate."""

from __future__ import annotations

import pytest

from bench.prefect_db_capacity import (
    CameraLoad,
    Step,
    budget_sessions_per_hour,
    cameras_at_limit,
    ratio,
    sustained_step,
)

BOUND_MS = 5000.0


def step(rate: float, *, done: int = 10, errors: int = 0, p99: float | None = 300.0) -> Step:
    return Step(offered_per_s=rate, arrivals=10, completed=done, errors=errors, p99_ms=p99)


@pytest.mark.parametrize(
    ("candidate", "sustained"),
    [
        (step(1.0), True),
        (step(1.0, p99=BOUND_MS), True),
        (step(1.0, p99=BOUND_MS + 0.1), False),
        (step(1.0, errors=1), False),
        (step(1.0, done=9), False),
        (step(1.0, done=9, p99=None), False),
    ],
)
def test_a_step_is_sustained_with_every_run_done_none_failed_and_p99_within_bound(
    candidate: Step, sustained: bool
) -> None:
    assert candidate.sustained(BOUND_MS) is sustained


def test_the_sustained_rate_is_the_highest_below_the_first_failure() -> None:
    steps = [step(4.0, p99=9000.0), step(1.0), step(2.0), step(8.0)]
    best = sustained_step(steps, BOUND_MS)
    assert best is not None
    assert best.offered_per_s == 2.0


def test_no_rate_is_sustained_when_the_first_step_fails() -> None:
    assert sustained_step([step(1.0, errors=2), step(2.0)], BOUND_MS) is None
    assert sustained_step([], BOUND_MS) is None


def test_a_cameras_load_is_its_sessions_runs_and_their_events_plus_its_health() -> None:
    load = CameraLoad(
        sessions_per_hour=12,
        health_interval_s=300,
        events_per_run=8,
        detections_per_session=1,
        verdicts_per_session=1,
    )
    assert load.runs_per_s == pytest.approx(12 / 3600)
    # 12 sessions x 10 events an hour, and 12 healths an hour
    assert load.events_per_s == pytest.approx((120 + 12) / 3600)


@pytest.mark.parametrize(
    ("rate", "per_camera", "cameras"),
    [
        (3.5, 12 / 3600, 1050),
        (49.8, 12 / 3600, 14_940),
        (0.001, 12 / 3600, 0),
        (None, 12 / 3600, None),
        (3.5, 0.0, None),
    ],
)
def test_cameras_at_limit_is_the_whole_number_of_cameras_the_rate_serves(
    rate: float | None, per_camera: float, cameras: int | None
) -> None:
    assert cameras_at_limit(rate, per_camera) == cameras


def test_ratio_against_the_baseline() -> None:
    assert ratio(49.8, 17.3) == 2.88
    assert ratio(645.2, 1145.7) == 0.56
    assert ratio(None, 17.3) is None
    assert ratio(1.0, None) is None
    assert ratio(1.0, 0.0) is None


def test_the_daily_budget_caps_a_cameras_mean_sessions_an_hour() -> None:
    # 30 budget minutes a day of 30-second sessions: 60 sessions a day
    assert budget_sessions_per_hour() == pytest.approx(60 / 24)
