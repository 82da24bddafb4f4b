"""The bridge's motion fast path: start, coalesce, follow up, cooldown, budget, duplicates."""

import pytest
from pydantic import ValidationError

from cloud.settings import FleetSettings
from device.messages import MotionEvent
from services.bridge.motion_gate import GateSettings, MotionGate, Verdict

T0 = 1_795_000_000_000


def motion(at_ms: int, sequence: int, camera: str = "porch") -> MotionEvent:
    return MotionEvent(
        camera_id=camera,
        sent_at_ms=at_ms,
        sequence=sequence,
        producer_timestamp_ms=at_ms,
        score=0.2,
    )


def test_first_motion_starts_at_its_timestamp_minus_the_preroll() -> None:
    gate = MotionGate(GateSettings(preroll_ms=2000, max_duration_s=30))
    decision = gate.decide(motion(T0, 0), T0 + 50)
    assert decision.verdict is Verdict.START and decision.plan is not None
    assert decision.plan.start_ms == T0 - 2000 and decision.plan.duration_s == 30
    assert decision.plan.motion_ms == T0 and not decision.plan.follow_up


def test_motion_during_a_session_is_coalesced_and_late_motion_asks_for_a_follow_up() -> None:
    gate = MotionGate(GateSettings(preroll_ms=0, max_duration_s=30, tail_s=5))
    gate.decide(motion(T0, 0), T0)
    assert gate.decide(motion(T0 + 10_000, 1), T0 + 10_000).verdict is Verdict.COALESCED
    assert gate.decide(motion(T0 + 26_000, 2), T0 + 26_000).verdict is Verdict.FOLLOW_UP
    follow = gate.ended("porch", T0 + 31_000)
    assert follow is not None and follow.plan is not None
    assert follow.plan.follow_up and follow.plan.start_ms == T0 + 30_000  # no gap
    assert follow.plan.motion_ms is None


def test_no_follow_up_without_late_motion_and_a_cooldown_after_a_session() -> None:
    gate = MotionGate(GateSettings(preroll_ms=0, max_duration_s=30, cooldown_s=10))
    gate.decide(motion(T0, 0), T0)
    assert gate.ended("porch", T0 + 31_000) is None
    assert gate.decide(motion(T0 + 35_000, 1), T0 + 35_000).verdict is Verdict.COOLDOWN
    assert gate.decide(motion(T0 + 41_000, 2), T0 + 41_000).verdict is Verdict.START


def test_the_daily_budget_shortens_then_skips_and_resets_the_next_day() -> None:
    gate = MotionGate(
        GateSettings(preroll_ms=0, max_duration_s=30, cooldown_s=0, daily_budget_s=45)
    )
    gate.decide(motion(T0, 0), T0)
    gate.ended("porch", T0 + 31_000)
    second = gate.decide(motion(T0 + 40_000, 1), T0 + 40_000)
    assert second.plan is not None and second.plan.duration_s == 15
    gate.ended("porch", T0 + 60_000)
    assert gate.decide(motion(T0 + 70_000, 2), T0 + 70_000).verdict is Verdict.BUDGET
    day = 24 * 3600 * 1000
    assert gate.decide(motion(T0 + day, 3), T0 + day).verdict is Verdict.START
    assert gate.analysed_today_s("porch") == 30


def test_duplicates_stale_motion_and_cameras_apart() -> None:
    gate = MotionGate(GateSettings(retention_s=3600))
    assert gate.decide(motion(T0, 7), T0).verdict is Verdict.START
    assert gate.decide(motion(T0, 7), T0).verdict is Verdict.DUPLICATE
    assert gate.decide(motion(T0, 0, "garage"), T0).verdict is Verdict.START
    old = motion(T0 - 2 * 3600 * 1000, 1, "shed")
    assert gate.decide(old, T0).verdict is Verdict.STALE


def test_a_cameras_own_session_length_wins_and_holds_for_its_follow_ups() -> None:
    gate = MotionGate(GateSettings(preroll_ms=0, max_duration_s=30, tail_s=5))
    first = gate.decide(motion(T0, 0), T0, max_duration_s=10)
    assert first.plan is not None and first.plan.duration_s == 10
    assert gate.decide(motion(T0 + 6_000, 1), T0 + 6_000).verdict is Verdict.FOLLOW_UP
    follow = gate.ended("porch", T0 + 11_000)
    assert follow is not None and follow.plan is not None and follow.plan.duration_s == 10


def test_the_fleet_settings_choose_preroll_cooldown_and_budget() -> None:
    settings = FleetSettings(
        analysis_preroll_ms=500, analysis_cooldown_seconds=0, analysis_daily_budget_minutes=1
    )
    gate = MotionGate(GateSettings.from_fleet(settings))
    first = gate.decide(motion(T0, 0), T0, max_duration_s=40)
    assert first.plan is not None and first.plan.start_ms == T0 - 500
    assert first.plan.duration_s == 40
    gate.ended("porch", T0 + 40_000)
    # No cooldown; the budget (60 s) has 20 s left for the next session.
    second = gate.decide(motion(T0 + 40_000, 1), T0 + 40_000, max_duration_s=40)
    assert second.plan is not None and second.plan.duration_s == 20
    gate.ended("porch", T0 + 60_000)
    assert gate.decide(motion(T0 + 60_000, 2), T0 + 60_000).verdict is Verdict.BUDGET


def test_bad_analysis_settings_are_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="analysis_daily_budget_minutes"):
        FleetSettings(analysis_daily_budget_minutes=0)


def test_a_session_shortened_to_the_cameras_own_length_follows_up_and_cools_down_from_it() -> None:
    """The bridge learns a camera's session length after planning its first start."""
    gate = MotionGate(GateSettings(preroll_ms=0, max_duration_s=30, tail_s=5, cooldown_s=10))
    first = gate.decide(motion(T0, 0), T0)
    assert first.plan is not None and first.plan.duration_s == 30
    shortened = gate.limit_session("porch", 10)
    assert shortened is not None and shortened.end_ms == T0 + 10_000
    assert gate.analysed_today_s("porch") == 10  # the unused 20 s are refunded
    # 6 s in: the last 5 s of a 10 s window, not the middle of a 30 s one.
    assert gate.decide(motion(T0 + 6_000, 1), T0 + 6_000).verdict is Verdict.FOLLOW_UP
    follow_up = gate.ended("porch", T0 + 11_000)
    assert follow_up is not None and follow_up.plan is not None
    assert follow_up.plan.start_ms == T0 + 10_000 and follow_up.plan.duration_s == 10
    gate.ended("porch", T0 + 21_000)
    # The cooldown counts from the end of the real window (T0 + 20 s).
    assert gate.decide(motion(T0 + 29_000, 2), T0 + 29_000).verdict is Verdict.COOLDOWN
    assert gate.decide(motion(T0 + 31_000, 3), T0 + 31_000).verdict is Verdict.START
