"""At most a few warnings of a kind per window; the next line logged says how many were not."""

from __future__ import annotations

import logging
import threading

import pytest

from services.harness.log_limit import LimitedLog, LogLimiter

LOGGER = "tests.harness.limited"


def test_the_limiter_suppresses_then_reports_the_count() -> None:
    limiter = LogLimiter(per_window=2, window_s=60)
    assert [limiter.allow("k", t) for t in (0.0, 1.0, 2.0, 3.0, 59.0)] == [
        (True, 0),
        (True, 0),
        (False, 0),
        (False, 0),
        (False, 0),
    ]
    assert limiter.allow("k", 60.0) == (True, 3)
    assert limiter.allow("k", 61.0) == (True, 0)  # the count was reported once
    assert limiter.allow("other", 61.0) == (True, 0)  # keys are independent


def test_a_limited_log_logs_a_bounded_number_of_lines_then_the_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = [0.0]
    warn = LimitedLog(logging.getLogger(LOGGER), LogLimiter(3, 60), clock=lambda: clock[0])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        logged = [warn.warning("shadow", "camera %s: write failed", "porch") for _ in range(100)]
        assert logged.count(True) == 3
        clock[0] = 60.0
        assert warn.warning("shadow", "camera %s: write failed", "porch")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == 3 * ["camera porch: write failed"] + [
        "camera porch: write failed (97 more like it not logged)"
    ]
    assert {r.name for r in caplog.records} == {LOGGER}
    assert {r.levelno for r in caplog.records} == {logging.WARNING}
    assert {r.pathname for r in caplog.records} == {
        __file__
    }  # the caller's line, not the limiter's


def test_exception_logs_the_error_being_handled(caplog: pytest.LogCaptureFixture) -> None:
    warn = LimitedLog(logging.getLogger(LOGGER))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        try:
            raise ValueError("bad handler")
        except ValueError:
            warn.exception("handler-error", "message on %s not handled", "fleet/porch/status")
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "message on fleet/porch/status not handled"
    assert record.exc_info is not None and record.exc_info[0] is ValueError


def test_threads_share_one_limit(caplog: pytest.LogCaptureFixture) -> None:
    warn = LimitedLog(logging.getLogger(LOGGER), LogLimiter(per_window=5, window_s=3600))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        threads = [
            threading.Thread(target=lambda: [warn.warning("k", "failed") for _ in range(200)])
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(caplog.records) == 5
