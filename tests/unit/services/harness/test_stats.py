"""A service's reports: the heartbeat file at once and every `heartbeat_seconds`, written whole;
the counters logged every `stats_interval_seconds`."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.harness.config import ServiceConfig
from services.harness.heartbeat import Heartbeat, write_heartbeat
from services.harness.stats import Counters, Reporter, Status

STATS_LOGGER = "services.harness.stats"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class SomeCounters(Counters):
    received: int = 0
    failures: int = 0


def test_counters_snapshot_every_field_with_an_optional_prefix() -> None:
    counters = SomeCounters(received=3, failures=1)
    assert counters.snapshot() == {"received": 3, "failures": 1}
    assert counters.snapshot("webhook_") == {"webhook_received": 3, "webhook_failures": 1}


def test_heartbeats_at_once_then_every_interval(tmp_path: Path) -> None:
    path = tmp_path / "beats" / "service.heartbeat.json"
    counters = SomeCounters()
    clock = Clock()
    config = ServiceConfig(heartbeat_file=path, heartbeat_seconds=2, stats_interval_seconds=60)
    reporter = Reporter(
        "test service", config, lambda: Status(True, "polling", counters.snapshot()), clock=clock
    )

    assert reporter.report_due() == 2.0
    beat = Heartbeat.model_validate_json(path.read_text())
    assert (beat.ready, beat.detail, beat.counters) == (True, "polling", counters.snapshot())
    assert beat.pid > 0

    counters.received = 7
    clock.now += 1.5
    assert reporter.report_due() == pytest.approx(0.5)
    assert Heartbeat.model_validate_json(path.read_text()).counters["received"] == 0  # not yet
    clock.now += 0.5
    reporter.report_due()
    assert Heartbeat.model_validate_json(path.read_text()).counters["received"] == 7
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_the_counters_are_logged_every_stats_interval(caplog: pytest.LogCaptureFixture) -> None:
    counters = SomeCounters(received=4, failures=1)
    clock = Clock()
    config = ServiceConfig(heartbeat_seconds=2, stats_interval_seconds=10)
    reporter = Reporter(
        "bridge b-1", config, lambda: Status(True, "", counters.snapshot()), clock=clock
    )
    with caplog.at_level(logging.INFO, logger=STATS_LOGGER):
        reporter.report_due()
        clock.now += 9.9
        reporter.report_due()
        assert caplog.records == []
        clock.now += 0.1
        reporter.report_due()
        clock.now += 5
        reporter.report_due()
    assert [r.getMessage() for r in caplog.records] == ["bridge b-1: received=4 failures=1"]


def test_the_stats_line_may_count_more_than_the_heartbeat(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "heartbeat.json"
    reporter = Reporter(
        "bridge b-1",
        ServiceConfig(heartbeat_file=path),
        lambda: Status(False, "stopped", {"cameras": 2}),
        stats=lambda: {"cameras": 2, "pending": 1},
    )
    with caplog.at_level(logging.INFO, logger=STATS_LOGGER):
        reporter.report_now()
    beat = Heartbeat.model_validate_json(path.read_text())
    assert (beat.ready, beat.detail, beat.counters) == (False, "stopped", {"cameras": 2})
    assert [r.getMessage() for r in caplog.records] == ["bridge b-1: cameras=2 pending=1"]


def test_nothing_counted_yet_is_said(caplog: pytest.LogCaptureFixture) -> None:
    reporter = Reporter("results consumer", ServiceConfig(), lambda: Status(False, "starting", {}))
    with caplog.at_level(logging.INFO, logger=STATS_LOGGER):
        reporter.report_now()  # no heartbeat file: only the line
    assert [r.getMessage() for r in caplog.records] == ["results consumer: nothing counted yet"]


def test_a_heartbeat_that_cannot_be_written_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    config = ServiceConfig(heartbeat_file=blocker / "heartbeat.json")
    reporter = Reporter("test service", config, lambda: Status(True, "", {}))
    with caplog.at_level(logging.WARNING, logger=STATS_LOGGER):
        reporter.heartbeat()
    (record,) = caplog.records
    assert record.getMessage().startswith("test service: cannot write the heartbeat")


def test_a_reader_never_sees_half_a_heartbeat(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat.json"
    big = {f"counter_{i}": i for i in range(2000)}
    write_heartbeat(path, True, "first", big)
    done = threading.Event()
    torn: list[str] = []

    def read() -> None:
        while not done.is_set():
            text = path.read_text()
            try:
                Heartbeat.model_validate(json.loads(text))
            except ValueError:
                torn.append(text[-40:])

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(300):
            write_heartbeat(path, n % 2 == 0, f"beat {n}", big)
    finally:
        done.set()
        reader.join()
    assert torn == []
