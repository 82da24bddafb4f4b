"""wait_until_healthy: polls until every part answers, and names the one that does not."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from services.harness.heartbeat import Heartbeat
from stack.supervisor.errors import StackError
from stack.supervisor.health import (
    HeartbeatProbe,
    PartCheck,
    ProbeFailedError,
    tail,
    wait_until_healthy,
)


class _AnswersAfter:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def check(self, timeout: float) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise ProbeFailedError("connection refused")


def test_waits_until_every_part_answers(tmp_path: Path) -> None:
    slow, fast = _AnswersAfter(2), _AnswersAfter(0)

    wait_until_healthy(
        [PartCheck("slow", slow, tmp_path / "slow.log"), PartCheck("fast", fast, tmp_path / "f")],
        timeout=10,
    )

    assert (slow.calls, fast.calls) == (3, 1)


def test_timeout_names_the_part_and_quotes_its_log(tmp_path: Path) -> None:
    log = tmp_path / "prefect.log"
    log.write_text("".join(f"line {n}\n" for n in range(100)) + "database is locked\n")

    with pytest.raises(StackError) as caught:
        wait_until_healthy([PartCheck("prefect", _AnswersAfter(10**6), log)], timeout=0.3)

    message = str(caught.value)
    assert message.startswith("prefect did not come up: it did not answer within 0.3 s")
    assert "connection refused" in message
    assert str(log) in message
    assert message.endswith("database is locked")
    assert "line 50\n" not in message  # only the tail


def test_a_part_whose_process_died_fails_at_once(tmp_path: Path) -> None:
    dead = PartCheck("mosquitto", _AnswersAfter(10**6), tmp_path / "m.log", alive=lambda: False)

    with pytest.raises(StackError, match="mosquitto did not come up: its process exited"):
        wait_until_healthy([dead], timeout=60)


def test_tail_of_a_missing_log(tmp_path: Path) -> None:
    assert tail(tmp_path / "missing.log") == "(no log yet)"


def _beat(path: Path, *, ready: bool, age_s: float = 0.0, detail: str = "") -> None:
    beat = Heartbeat(
        pid=1, ready=ready, detail=detail, updated_at_ms=int((time.time() - age_s) * 1000)
    )
    path.write_text(beat.model_dump_json())


@pytest.mark.parametrize(
    ("ready", "age_s", "problem"),
    [
        (True, 0.0, None),
        (False, 0.0, "cannot connect: TLS"),
        (True, 60.0, "last heartbeat 60 s ago"),
    ],
)
def test_heartbeat_probe_wants_a_fresh_ready_heartbeat(
    tmp_path: Path, ready: bool, age_s: float, problem: str | None
) -> None:
    path = tmp_path / "bridge.heartbeat.json"
    _beat(path, ready=ready, age_s=age_s, detail="cannot connect: TLS")
    probe = HeartbeatProbe(path, max_age_s=15)
    if problem is None:
        probe.check(1.0)
        return
    with pytest.raises(ProbeFailedError, match=problem):
        probe.check(1.0)


def test_heartbeat_probe_without_a_file_or_with_junk(tmp_path: Path) -> None:
    path = tmp_path / "bridge.heartbeat.json"
    with pytest.raises(ProbeFailedError, match="no heartbeat"):
        HeartbeatProbe(path).check(1.0)
    path.write_text("{")
    with pytest.raises(ProbeFailedError, match="heartbeat"):
        HeartbeatProbe(path).check(1.0)
