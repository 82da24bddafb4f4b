"""The main loop of a service: its turns, its reports, an error that does not stop it, and the
wind-down and last report once stopped."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from services.harness.config import ServiceConfig
from services.harness.heartbeat import Heartbeat
from services.harness.loop import MAX_WAIT_S, run_loop
from services.harness.stats import Reporter, Status

TIMEOUT_S = 10.0


class Service:
    """A service that counts its turns; it is ready until it winds down."""

    def __init__(self, heartbeat: Path, fail_on: int | None = None) -> None:
        self.turns = 0
        self.ready = True
        self.wound_down = threading.Event()
        self.fail_on = fail_on
        config = ServiceConfig(heartbeat_file=heartbeat, heartbeat_seconds=0.05)
        self.reporter = Reporter("test service", config, self.status)

    def status(self) -> Status:
        return Status(self.ready, "working" if self.ready else "stopped", {"turns": self.turns})

    def turn(self) -> float | None:
        self.turns += 1
        if self.turns == self.fail_on:
            raise RuntimeError("a bug")
        return None

    def wind_down(self) -> None:
        self.ready = False
        self.wound_down.set()


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def start(
    service: Service, stop: threading.Event, wake: threading.Event | None
) -> threading.Thread:
    thread = threading.Thread(
        target=run_loop, args=(stop, service.reporter, service.turn, wake, service.wind_down)
    )
    thread.start()
    return thread


def test_it_works_and_reports_until_stopped_then_winds_down_and_reports_last(
    tmp_path: Path,
) -> None:
    heartbeat = tmp_path / "heartbeat.json"
    service, stop = Service(heartbeat), threading.Event()
    thread = start(service, stop, wake=None)
    wait_for(
        lambda: (
            heartbeat.exists()
            and Heartbeat.model_validate_json(heartbeat.read_text()).counters["turns"] >= 3
        )
    )
    assert not service.wound_down.is_set()
    started = time.monotonic()
    stop.set()
    thread.join(TIMEOUT_S)
    assert time.monotonic() - started < 1.0  # waiting on `stop` ends at once
    assert service.wound_down.is_set()
    beat = Heartbeat.model_validate_json(heartbeat.read_text())
    assert (beat.ready, beat.detail, beat.counters) == (False, "stopped", {"turns": service.turns})


def test_an_error_in_a_turn_is_logged_and_the_loop_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service, stop = Service(tmp_path / "heartbeat.json", fail_on=2), threading.Event()
    with caplog.at_level(logging.ERROR, logger="services.harness.loop"):
        thread = start(service, stop, wake=None)
        wait_for(lambda: service.turns >= 4)
        stop.set()
        thread.join(TIMEOUT_S)
    (record,) = caplog.records
    assert record.getMessage() == "test service: error in the main loop, going on"
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError
    assert service.wound_down.is_set()


def test_wake_starts_the_next_turn_at_once(tmp_path: Path) -> None:
    service, stop, wake = Service(tmp_path / "heartbeat.json"), threading.Event(), threading.Event()
    service.reporter = Reporter(
        "test service", ServiceConfig(heartbeat_seconds=60), service.status
    )  # nothing due for a minute: only `wake` (or the longest wait) starts a turn
    thread = start(service, stop, wake)
    try:
        wait_for(lambda: service.turns >= 1)
        time.sleep(0.1)
        before, woken = service.turns, time.monotonic()
        wake.set()
        wait_for(lambda: service.turns > before)
        assert time.monotonic() - woken < MAX_WAIT_S / 2  # not the longest wait running out
    finally:
        stop.set()
        thread.join(TIMEOUT_S)
    assert not thread.is_alive()
