"""A service stops cleanly on SIGTERM and SIGINT, and a FleetError ends it with its exit code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.harness.process import stop_on_signals

ROOT = Path(__file__).resolve().parents[4]
TIMEOUT_S = 20.0

# A service whose work says it is running, then waits for `stop`.
SERVICE = textwrap.dedent(
    """
    import sys
    from cloud.errors import NotFoundError
    from services.harness.process import run_service

    def work(stop):
        if sys.argv[1] == "fail":
            raise NotFoundError("no bridge identity")
        print("running", flush=True)
        stop.wait(30)
        print("stopped" if stop.is_set() else "timed out", flush=True)

    sys.exit(run_service("test service", "INFO", work))
    """
)


@pytest.fixture
def restored_handlers() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_sets_the_stop_event(restored_handlers: None, signum: int) -> None:
    stop = stop_on_signals("test service")
    assert not stop.is_set()
    os.kill(os.getpid(), signum)
    deadline = time.monotonic() + TIMEOUT_S  # the handler runs in this thread, between bytecodes
    while not stop.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stop.is_set()


def _start(mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SERVICE, mode],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_service_finishes_its_work_and_exits_0_on_a_signal(signum: int) -> None:
    service = _start("run")
    try:
        assert service.stdout is not None
        assert service.stdout.readline().strip() == "running"
        service.send_signal(signum)
        out, err = service.communicate(timeout=TIMEOUT_S)
    finally:
        service.kill()
    assert service.returncode == 0, err
    assert out.strip() == "stopped"
    assert f"signal {int(signum)}: stopping the test service" in err


def test_a_fleet_error_is_one_line_and_its_exit_code() -> None:
    service = _start("fail")
    try:
        _, err = service.communicate(timeout=TIMEOUT_S)
    finally:
        service.kill()
    assert service.returncode == 3  # NotFoundError's
    assert "ERROR services.harness.process: no bridge identity" in err
    assert "Traceback" not in err
