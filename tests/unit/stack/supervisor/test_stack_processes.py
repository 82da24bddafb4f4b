"""Process identity: a pid file counts only while its pid runs the part's exact command."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from stack.supervisor.processes import (
    ProcessSpec,
    alive,
    find_process,
    matches_command,
    read_pid,
    start,
    stop,
)

PREFECT = ["/v/bin/prefect", "server", "start", "--port", "4200"]


@pytest.mark.parametrize(
    ("cmdline", "expected"),
    [
        (PREFECT, True),
        (["/v/bin/python", *PREFECT], True),  # started through the script's shebang
        (["/v/bin/prefect", "server", "start", "--port", "4201"], False),
        (["/usr/sbin/sshd", "-D"], False),
        ([], False),
        (["/v/bin/python", "/v/bin/python", *PREFECT], False),
    ],
)
def test_matches_command(cmdline: list[str], expected: bool) -> None:
    assert matches_command(cmdline, PREFECT) is expected


def test_empty_expected_command_never_matches() -> None:
    assert not matches_command([], [])


@pytest.mark.parametrize(("text", "pid"), [("123\n", 123), ("", None), ("abc", None)])
def test_read_pid(tmp_path: Path, text: str, pid: int | None) -> None:
    pid_file = tmp_path / "x.pid"
    pid_file.write_text(text)
    assert read_pid(pid_file) == pid


def test_read_pid_of_missing_file(tmp_path: Path) -> None:
    assert read_pid(tmp_path / "missing.pid") is None


def _sleeper(tmp_path: Path, seconds: str = "30") -> ProcessSpec:
    return ProcessSpec(
        name="sleeper",
        argv=(
            sys.executable,
            "-c",
            "import time; time.sleep(float(__import__('sys').argv[1]))",
            seconds,
        ),
        log_file=tmp_path / "logs" / "sleeper.log",
        pid_file=tmp_path / "run" / "sleeper.pid",
        env=dict(os.environ),
    )


def test_start_find_and_stop_a_detached_process(tmp_path: Path) -> None:
    spec = _sleeper(tmp_path)
    pid = start(spec)
    try:
        proc = find_process(spec)
        assert proc is not None and proc.pid == pid
        assert os.getpgid(pid) == pid  # its own session and process group
    finally:
        assert stop(spec, timeout=5)
    assert find_process(spec) is None
    assert not spec.pid_file.exists()
    assert not stop(spec)


def test_pid_file_of_another_command_is_stale(tmp_path: Path) -> None:
    spec = _sleeper(tmp_path)
    spec.pid_file.parent.mkdir(parents=True)
    spec.pid_file.write_text(f"{os.getpid()}\n")  # alive, but it is pytest, not the sleeper

    assert find_process(spec) is None
    assert not stop(spec)
    assert os.getpid()  # still here


def test_pid_file_older_than_the_process_is_stale(tmp_path: Path) -> None:
    spec = _sleeper(tmp_path)
    pid = start(spec)
    try:
        old = time.time() - 3600  # as if written before a reboot, and the pid reused since
        os.utime(spec.pid_file, (old, old))
        assert find_process(spec) is None
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


def test_dead_process_is_not_running(tmp_path: Path) -> None:
    spec = _sleeper(tmp_path, seconds="0")
    pid = start(spec)
    os.waitpid(pid, 0)

    assert find_process(spec) is None


def test_a_started_process_is_alive_until_it_exits_reaped_or_not(tmp_path: Path) -> None:
    pid = start(_sleeper(tmp_path))
    assert alive(pid)
    os.kill(pid, 9)
    deadline = time.monotonic() + 5
    while alive(pid):  # a zombie until reaped: not alive
        assert time.monotonic() < deadline, "a killed process stayed alive"
        time.sleep(0.05)
    os.waitpid(pid, 0)
    assert not alive(pid)
