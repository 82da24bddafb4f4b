"""A service's main loop: its own work, the reports that are due, a wait; until `stop`. Then the
service winds down and reports a last time. An exception in a turn is logged and the loop goes on:
a bug must not stop a service that a fleet depends on."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable

from services.harness.stats import Reporter

log = logging.getLogger(__name__)

# The longest wait on `wake`: `stop` is set from a signal handler, which cannot wake that wait.
MAX_WAIT_S = 1.0
_AFTER_ERROR_S = 1.0
_MIN_WAIT_S = 0.01


def run_loop(
    stop: threading.Event,
    reporter: Reporter,
    turn: Callable[[], float | None] | None = None,
    wake: threading.Event | None = None,
    wind_down: Callable[[], None] | None = None,
) -> None:
    """Until `stop` is set: `turn()` (which returns how soon it wants to run again, or None),
    the reports that are due, then a wait until the earliest of them. Without `wake` the wait ends
    at `stop`; with it, at `wake` (then cleared) or after at most `MAX_WAIT_S`. Then
    `wind_down()`, even after an error, and a last heartbeat and stats line."""
    try:
        while not stop.is_set():
            try:
                again = turn() if turn is not None else None
                wait = min(reporter.report_due(), math.inf if again is None else again)
            except Exception:
                log.exception("%s: error in the main loop, going on", reporter.name)
                stop.wait(_AFTER_ERROR_S)
                continue
            if wake is None:
                stop.wait(max(_MIN_WAIT_S, wait))
            else:
                wake.wait(max(_MIN_WAIT_S, min(wait, MAX_WAIT_S)))
                wake.clear()
    finally:
        if wind_down is not None:
            wind_down()
        reporter.report_now()
