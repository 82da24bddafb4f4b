"""bench/fleet_sim.py's planning and bench/fleet.py's books: pure parts, no network."""

from __future__ import annotations

import itertools
import random
from types import SimpleNamespace
from typing import Any

import pytest

from bench.fleet import account_motion, shadow_lags
from bench.fleet_sim import (
    HEALTH_INTERVAL_S,
    MOTION_GAP_S,
    health_delay,
    motion_restarts,
    storm_members,
)

IDS = [f"c{i}" for i in range(1000)]


@pytest.mark.parametrize(("fraction", "count"), [(0.01, 10), (0.05, 50), (0.0001, 1), (2.0, 1000)])
def test_storm_takes_its_fraction_of_distinct_cameras(fraction: float, count: int) -> None:
    members = storm_members(IDS, fraction, random.Random(1))
    assert len(members) == len(set(members)) == count
    assert set(members) <= set(IDS)


def test_health_delay_stays_within_its_jitter() -> None:
    rng = random.Random(2)
    delays = [health_delay(rng) for _ in range(1000)]
    assert min(delays) >= HEALTH_INTERVAL_S * 0.9 and max(delays) <= HEALTH_INTERVAL_S * 1.1
    assert max(delays) - min(delays) > 1  # jittered, not one value


def test_motion_restarts_leave_the_agent_gap_between_motions() -> None:
    times = motion_restarts(random.Random(3), 60)
    assert 0 <= times[0] < 1 and times[-1] < 60
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(1 + MOTION_GAP_S <= g <= 5 + MOTION_GAP_S for g in gaps)
    assert len(times) >= 60 // (5 + MOTION_GAP_S)


def _record(camera: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {"camera": camera, "kind": kind, "seq": None, "phase": "storm", "sent_ms": 0,
            "acked_ms": 1, "error": None, "presence": None, **fields}  # fmt: skip


def _event(name: str, camera: str, **payload: Any) -> Any:
    return SimpleNamespace(
        event=name, resource=SimpleNamespace(id=f"camera.{camera}"), payload=payload
    )


def test_motion_is_accounted_by_a_start_or_a_verdict_naming_it() -> None:
    records = [
        _record("a", "motion", seq=0, sent_ms=10_000),
        _record("a", "motion", seq=1, sent_ms=17_000),
        _record("b", "motion", seq=0, sent_ms=12_000),
        _record("c", "motion", seq=0, sent_ms=13_000),  # nothing names it
        _record("d", "motion", seq=0, sent_ms=13_000, acked_ms=None),  # never acknowledged
        _record("a", "health"),
    ]
    events = [
        _event("camera.analysis.requested", "a", sequence=0, started_at_ms=10_040),
        _event("camera.analysis.coalesced", "a", sequence=1, reason="coalesced"),
        _event("camera.analysis.requested", "b", sequence=0, started_at_ms=12_060),
        _event("camera.analysis.requested", "c", sequence=None, started_at_ms=13_500),  # follow-up
        _event("camera.analysis.started", "c", start_ms=11_000, attempt=1, follow_up=False),
    ]
    books = account_motion(records, events)
    assert (books["published"], books["acked"], books["started"]) == (5, 4, 2)
    assert books["verdicts"] == {"coalesced": 1}
    assert (books["accounted"], books["unaccounted"]) == (3, 1)
    assert books["unaccounted_sample"] == [("c", 0)]
    # From the motion's publish to its session's start: 40 ms (a) and 60 ms (b).
    assert books["to_start"]["storm"]["samples"] == 2
    assert books["to_start"]["storm"]["max_ms"] == 60.0


def test_shadow_lag_is_from_publish_to_the_first_poll_showing_it() -> None:
    records = [
        _record("a", "status", phase="flip", presence="offline", sent_ms=1_000),
        _record("a", "status", phase="flip", presence="online", sent_ms=6_000),
        _record("a", "health", phase="flip", sent_ms=6_500),
    ]
    seen = {
        ("a", "online", 500): 700,  # the presence before the flip: not this change
        ("a", "offline", 1_010): 1_300,
        ("a", "online", 6_020): 6_400,
    }
    lags = shadow_lags(records, seen)
    assert [(lag.ms, lag.at_least) for lag in lags] == [(300.0, False), (400.0, False)]
