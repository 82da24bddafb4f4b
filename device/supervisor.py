"""Runs the GStreamer pipeline as a child process and keeps it running.

The child is `gst-launch-1.0 -m -v -e` (or `gst_child.py` when a secret must reach an element
without a command line). Its output is parsed line by line: buffers feed the stream meter and
the stall watchdog, fragment messages name the local fragments, motion messages become motion
events. A child that exits or stalls is restarted after an exponential, jittered delay; a
missing element is reported once with what to install, then re-checked slowly instead of
restarting in a loop. A stop sends EOS (SIGINT) so the last fragment is complete.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from device.config import AgentConfig, SinkKind, SourceKind
from device.fragments import FragmentStore
from device.gst_output import (
    Buffer,
    EndOfStream,
    FragmentClosed,
    FragmentOpened,
    GstEvent,
    MissingElement,
    MotionBegan,
    PipelineError,
    Playing,
    parse_line,
)
from device.health import StreamMeter
from device.messages import PipelineState, now_ms
from device.pipeline import build_pipeline, child_env, fragment_start_ms, install_hint
from device.rtsp_credentials import RtspCredentials

log = logging.getLogger(__name__)

_WATCH_S = 0.25
# A pipeline that ran this long without trouble earns a fresh backoff.
_HEALTHY_RUN_S = 30.0
_CONTEXT_LINES = 20
# A missing element is looked for again this often (`gst-inspect-1.0 --exists`).
MISSING_RECHECK_S = 60.0
# A supervised pipeline must not outlive its agent, even one killed with SIGKILL: the kernel
# kills the child when the thread that started it (the supervising thread) ends.
# setpriv is util-linux's, on every Debian-based host.
_DIE_WITH_AGENT = ("setpriv", "--pdeathsig", "KILL", "--")


@dataclass(frozen=True)
class StateChanged:
    state: PipelineState
    error: str | None


@dataclass(frozen=True)
class MotionStarted:
    producer_timestamp_ms: int
    cells: int


@dataclass(frozen=True)
class FragmentWritten:
    path: Path
    start_ms: int


SupervisorEvent = StateChanged | MotionStarted | FragmentWritten


def backoff_delay(attempt: int, low: float, high: float, rng: random.Random) -> float:
    """Exponential from `low`, capped at `high`, with jitter over its upper half."""
    ceiling = min(high, low * 2**attempt)
    return rng.uniform(ceiling / 2, ceiling)


class PipelineSupervisor:
    def __init__(
        self,
        config: AgentConfig,
        emit: Callable[[SupervisorEvent], None],
        meter: StreamMeter,
        credentials: RtspCredentials | None = None,
        rng: random.Random | None = None,
    ):
        self._config = config
        self._emit = emit
        self._meter = meter
        self._credentials = credentials
        self._rng = rng or random.Random()
        self._store = (
            FragmentStore(config.sink.fragment_dir, config.sink.local_retention_minutes * 60_000)
            if config.sink.kind is SinkKind.LOCAL and config.sink.fragment_dir is not None
            else None
        )
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._restart_now = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pipeline", daemon=True)
        self._proc: subprocess.Popen[str] | None = None
        self.state = PipelineState.STARTING
        self.error: str | None = None
        self.restarts = 0
        self.motion_count = 0
        self.last_fragment_ms: int | None = None
        # per child
        self._anchor_ms: int | None = None
        self._last_progress = 0.0
        self._missing: str | None = None  # what to install, when an element is missing
        self._missing_element: str | None = None
        self._ended = False  # the child reached EOS by itself
        self._last_error: str | None = None
        self._context: deque[str] = deque(maxlen=_CONTEXT_LINES)

    @property
    def child_pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def start(self) -> None:
        if self._store is not None:
            self._store.recover()
        self._thread.start()

    def restart(self) -> None:
        """Asked for by a command: stop the child now, start it again at once."""
        self._restart_now.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            self._interrupt(proc)

    def stop(self) -> None:
        self._stopping.set()
        self._restart_now.set()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            self._interrupt(proc)
        self._thread.join(self._config.pipeline.stop_timeout_seconds + 5)

    # the supervising thread

    def _run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                self._run_child()
            except Exception as err:  # a bug here must not end supervision
                log.exception("pipeline supervision failed")
                self._last_error = f"agent error: {err}"
            if self._stopping.is_set():
                break
            if self._missing is not None:
                self._set_state(PipelineState.FAILED, self._missing)
                self._await_install()
                continue
            if self._restart_now.is_set():
                self._restart_now.clear()
                self.restarts += 1
                continue
            if self._ended and self._config.source.kind is SourceKind.FILE:
                continue  # a clip stands in for a camera: at its end, play it again
            if time.monotonic() - started >= _HEALTHY_RUN_S:
                attempt = 0
            delay = backoff_delay(
                attempt,
                self._config.pipeline.restart_min_seconds,
                self._config.pipeline.restart_max_seconds,
                self._rng,
            )
            attempt += 1
            self.restarts += 1
            if self.state is not PipelineState.STALLED:
                self._set_state(PipelineState.RESTARTING, self._last_error)
            log.warning("pipeline restarts in %.1f s (restart %d)", delay, self.restarts)
            self._wait(delay)
        self._set_state(PipelineState.STOPPED, None)

    def _await_install(self) -> None:
        """Not a restart loop: look for the element once a minute, start when it is there."""
        element = self._missing_element
        while not self._stopping.is_set():
            if self._wait(MISSING_RECHECK_S):
                return
            if element is None or self._installed(element):
                log.info("retrying the pipeline: %s may be installed now", element or "a part")
                return

    def _installed(self, element: str) -> bool:
        try:
            found = subprocess.run(
                [self._config.pipeline.gst_inspect, "--exists", element],
                capture_output=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return found.returncode == 0

    def _wait(self, seconds: float) -> bool:
        """Sleep; True when woken early by a restart command or a stop."""
        woken = self._restart_now.wait(seconds)
        if not self._stopping.is_set():
            self._restart_now.clear()
        return woken

    def _run_child(self) -> None:
        store = self._store
        run_dir = store.new_run(time.time_ns()) if store else self._config.state_dir / "run"
        plan = build_pipeline(self._config, run_dir, self._credentials)
        self._anchor_ms, self._missing, self._last_error = None, None, None
        self._ended = False
        self._context.clear()
        self._meter.restarted()
        self._last_progress = time.monotonic()
        if self.state is not PipelineState.STARTING:
            self._set_state(PipelineState.STARTING, None)
        log.info("starting pipeline: %s", plan.description)
        if shutil.which(plan.argv[0]) is None:
            needs = (
                "python3-gi"
                if plan.argv[0] == self._config.pipeline.gi_python
                else "gst-launch-1.0"
            )
            self._missing = f"cannot run {plan.argv[0]}: not installed. {install_hint(needs)}"
            self._missing_element = None
            return
        proc = subprocess.Popen(
            [*_DIE_WITH_AGENT, *plan.argv],
            env=child_env(os.environ),
            stdin=subprocess.PIPE if plan.stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # a Ctrl-C on the agent's terminal is ours to relay
        )
        self._proc = proc
        if plan.stdin is not None and proc.stdin is not None:
            proc.stdin.write(plan.stdin.decode())
            proc.stdin.close()
        reader = threading.Thread(target=self._read, args=(proc,), name="pipeline-out")
        reader.start()
        self._watch(proc)
        reader.join(5)
        if store is not None:
            store.end_run(run_dir)
        if not self._stopping.is_set() and self._missing is None:
            code = proc.returncode
            detail = self._last_error or f"exited with code {code}"
            self._last_error = detail
            log.warning("pipeline stopped: %s", detail)
            for line in self._context:
                log.info("  gst: %s", line)

    def _watch(self, proc: subprocess.Popen[str]) -> None:
        stall_s = self._config.pipeline.stall_seconds
        while proc.poll() is None:
            if self._stopping.wait(_WATCH_S):
                self._finish(proc)
                return
            if time.monotonic() - self._last_progress > stall_s and self._missing is None:
                self._last_error = f"stalled: no video for {stall_s:g} s"
                self._set_state(PipelineState.STALLED, self._last_error)
                log.warning("pipeline %s; killing it", self._last_error)
                proc.kill()  # a frozen child would ignore EOS
                proc.wait()
                return
        proc.wait()

    def _finish(self, proc: subprocess.Popen[str]) -> None:
        try:
            proc.wait(self._config.pipeline.stop_timeout_seconds)
        except subprocess.TimeoutExpired:
            log.warning("pipeline did not finish after EOS; killing it")
            proc.kill()
            proc.wait()

    def _interrupt(self, proc: subprocess.Popen[str]) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)  # gst-launch -e: EOS, then exit

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = parse_line(line)
            if event is None:
                if not line.startswith(("/Gst", "Got message")):
                    self._context.append(line.rstrip())
                continue
            self._handle(event)

    def _handle(self, event: GstEvent) -> None:
        now = time.monotonic()
        match event:
            case Buffer():
                self._meter.record(now, event.size, event.pts_ns, event.duration_ns)
                self._last_progress = now
                if self.state is not PipelineState.RUNNING and self._anchor_ms is not None:
                    self._set_state(PipelineState.RUNNING, None)
            case Playing():
                self._anchor_ms = now_ms()
            case FragmentOpened():
                self._last_progress = now
                if self._store is not None:
                    self._store.opened(event.location, self._producer_ms(event.running_time_ns))
            case FragmentClosed():
                self._last_progress = now
                if self._store is not None:
                    self._fragment_closed(self._store, event.location)
            case MotionBegan():
                self.motion_count += 1
                self._emit(MotionStarted(self._producer_ms(event.running_time_ns), event.cells))
            case MissingElement():
                self._missing_element = event.element
                self._missing = (
                    f"GStreamer element {event.element!r} is missing: {install_hint(event.element)}"
                )
                log.error("%s", self._missing)
            case PipelineError():
                where = f"{event.element}: " if event.element else ""
                self._last_error = f"{where}{event.message}"
                log.warning("pipeline error: %s", self._last_error)
            case EndOfStream():
                self._ended = True

    def _fragment_closed(self, store: FragmentStore, location: Path) -> None:
        done = store.closed(location)
        if done is not None:
            self.last_fragment_ms = done[1]
            self._emit(FragmentWritten(*done))
            store.prune(now_ms())

    def _producer_ms(self, running_time_ns: int) -> int:
        anchor = self._anchor_ms if self._anchor_ms is not None else now_ms()
        return fragment_start_ms(anchor, running_time_ns)

    def _set_state(self, state: PipelineState, error: str | None) -> None:
        with self._lock:
            if state is self.state and error == self.error:
                return
            self.state, self.error = state, error
        log.info("pipeline %s%s", state.value, f": {error}" if error else "")
        self._emit(StateChanged(state, error))
