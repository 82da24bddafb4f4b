"""Detached child processes supervised through pid files.

A part is started in its own session (so it outlives `fleet up` and a terminal's Ctrl-C, and can
be stopped as a process group), with stdout and stderr appended to its log file, and its pid
written to its pid file. A pid file alone proves nothing after a reboot or a crash: the pid may
belong to anything by now. So a process counts as the part only if it is alive, runs the part's
exact command line, and was created no later than the pid file was written.

Secrets never go on a command line (anyone can read /proc/<pid>/cmdline); pass them through the
environment or a 0600 file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from stack.supervisor.errors import StackError

logger = logging.getLogger(__name__)

# A process is created a little before its pid file is written; allow for clock granularity.
_CREATE_TIME_SLACK_S = 2.0


@dataclass(frozen=True)
class ProcessSpec:
    """How to run one part: its command, environment, log file and pid file."""

    name: str
    argv: tuple[str, ...]
    log_file: Path
    pid_file: Path
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None


def matches_command(cmdline: Sequence[str], argv: Sequence[str]) -> bool:
    """Whether a running process's command line is `argv`.

    A script started through its shebang shows the interpreter first
    (`[.venv/bin/python, .venv/bin/prefect, server, ...]`), so one leading interpreter is allowed.
    """
    expected = list(argv)
    actual = list(cmdline)
    if not expected:
        return False
    if actual == expected:
        return True
    return len(actual) == len(expected) + 1 and actual[1:] == expected


def read_pid(pid_file: Path) -> int | None:
    try:
        text = pid_file.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def find_process(spec: ProcessSpec) -> psutil.Process | None:
    """The running process of this part, or None if the pid file is missing or stale."""
    pid = read_pid(spec.pid_file)
    if pid is None:
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        cmdline = proc.cmdline()
        created = proc.create_time()
        written = spec.pid_file.stat().st_mtime
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, FileNotFoundError):
        return None
    if not matches_command(cmdline, spec.argv):
        logger.debug("pid %d of %s runs %s, not the part: stale pid file", pid, spec.name, cmdline)
        return None
    if created > written + _CREATE_TIME_SLACK_S:
        logger.debug("pid %d of %s started after its pid file: stale pid file", pid, spec.name)
        return None
    return proc


def alive(pid: int) -> bool:
    """Whether our own child `pid` has not exited (a zombie has)."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def is_running(spec: ProcessSpec) -> bool:
    return find_process(spec) is not None


def start(spec: ProcessSpec) -> int:
    """Start the part detached, in a new session; returns its pid."""
    spec.log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    spec.pid_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    log_fd = os.open(spec.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(
            list(spec.argv),
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=subprocess.STDOUT,
            env=dict(spec.env),
            cwd=spec.cwd,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as err:
        raise StackError(f"cannot start {spec.name} ({spec.argv[0]}): {err}") from err
    finally:
        os.close(log_fd)
    _write_pid(spec.pid_file, proc.pid)
    logger.info("started %s (pid %d), log %s", spec.name, proc.pid, spec.log_file)
    return proc.pid


def stop(spec: ProcessSpec, timeout: float = 10.0) -> bool:
    """SIGTERM the part's process group, wait, then SIGKILL; True if it was running."""
    proc = find_process(spec)
    if proc is None:
        spec.pid_file.unlink(missing_ok=True)
        return False
    logger.info("stopping %s (pid %d)", spec.name, proc.pid)
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except psutil.TimeoutExpired:
        logger.warning("%s did not stop within %.0f s; killing it", spec.name, timeout)
        _signal_group(proc.pid, signal.SIGKILL)
        try:
            proc.wait(5.0)
        except psutil.TimeoutExpired as err:
            raise StackError(f"{spec.name} (pid {proc.pid}) survived SIGKILL") from err
    _wait_group_gone(proc.pid, timeout=5.0)
    spec.pid_file.unlink(missing_ok=True)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the process group the part leads (it started a session), or just the process."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_group_gone(pgid: int, timeout: float) -> None:
    """Children left in the group (a server's workers) get SIGKILL if they outlive the leader."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        members = [p for p in psutil.process_iter() if _pgid(p) == pgid]
        if not members:
            return
        time.sleep(0.1)
    _signal_group_members(pgid)


def _signal_group_members(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _pgid(proc: psutil.Process) -> int | None:
    try:
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return os.getpgid(proc.pid)
    except (psutil.NoSuchProcess, psutil.ZombieProcess, ProcessLookupError, PermissionError):
        return None


def _write_pid(pid_file: Path, pid: int) -> None:
    tmp = pid_file.with_name(pid_file.name + ".tmp")
    tmp.write_text(f"{pid}\n", encoding="utf-8")
    tmp.replace(pid_file)
