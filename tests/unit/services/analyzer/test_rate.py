"""The worker's DetectLabels rate: a token bucket on a fake clock."""

from __future__ import annotations

import threading

import pytest

from services.analyzer.rate import RateLimiter, TokenBucket


def test_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=2.0, now=0.0)
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == 0.0
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.25) == pytest.approx(0.25)
    assert bucket.take(0.5) == 0.0


def test_over_a_long_run_it_grants_the_rate() -> None:
    bucket = TokenBucket(rate=5.0, burst=1.0, now=0.0)
    now, granted = 0.0, 0
    while now < 10.0:
        wait = bucket.take(now)
        if wait == 0.0:
            granted += 1
        else:
            now += wait
    assert granted == 51  # one at 0, then five a second


def test_unused_time_saves_at_most_the_burst() -> None:
    bucket = TokenBucket(rate=1.0, burst=3.0, now=0.0)
    granted = sum(1 for _ in range(10) if bucket.take(1000.0) == 0.0)
    assert granted == 3


def test_the_limiter_waits_on_its_clock_and_gives_up_on_stop() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=1.0, clock=lambda: now[0])
    stop = threading.Event()
    assert limiter.acquire(stop)
    stop.set()
    assert not limiter.acquire(stop)


def test_a_bucket_needs_a_rate() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0.0, burst=1.0, now=0.0)
