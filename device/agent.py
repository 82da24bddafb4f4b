"""The camera-host agent: MQTT link, supervised pipeline, motion events and health reports.

Threads: the SDK's (MQTT callbacks), the pipeline supervisor's, the motion delivery loop, and
the main loop, which alone owns the agent's state: every other thread hands it events through
one queue. Stopping (SIGTERM/SIGINT, or a failure of the main loop, which then exits 1 for
systemd to restart it) sends the pipeline EOS, publishes a last health report and the retained
`offline` status, then disconnects.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from device.config import AgentConfig, AgentConfigError, SourceKind, load_agent_config
from device.health import ProcessStats, StreamMeter, host_temperature_c, versions
from device.messages import Command as CommandKind
from device.messages import (
    HealthEvent,
    InvalidMessageError,
    MotionEvent,
    TopicKind,
    encode,
    now_ms,
    parse_command,
    topic,
)
from device.mqtt import CameraLink, acked
from device.outbox import MotionOutbox
from device.rtsp_credentials import RtspCredentialsError, load_rtsp_credentials
from device.supervisor import (
    FragmentWritten,
    MotionStarted,
    PipelineSupervisor,
    StateChanged,
    SupervisorEvent,
)

log = logging.getLogger("device.agent")

_TICK_S = 0.5
_ACK_WAIT_S = 10.0
# Cells of motioncells' default grid (10 x 10): the score is the fraction that moved.
_GRID_CELLS = 100


@dataclass(frozen=True)
class Connected:
    pass


@dataclass(frozen=True)
class CommandReceived:
    topic: str


AgentEvent = SupervisorEvent | Connected | CommandReceived


def check_private_key(path: Path) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError as err:
        raise AgentConfigError(f"mqtt.key: private key {path} does not exist") from err
    if mode & 0o077:
        raise AgentConfigError(
            f"mqtt.key: private key {path} is readable by other users (mode {mode:04o}); "
            f"run `chmod 600 {path}`"
        )


def check_files(config: AgentConfig) -> None:
    for field in ("cert", "ca"):
        path: Path = getattr(config.mqtt, field)
        if not path.is_file():
            raise AgentConfigError(f"mqtt.{field}: {path} does not exist")
    check_private_key(config.mqtt.key)


class SequenceCounter:
    """Motion sequence numbers survive restarts, so the cloud can spot duplicates and gaps."""

    def __init__(self, path: Path):
        self._path = path
        try:
            self._next = int(path.read_text().strip()) + 1
        except (FileNotFoundError, ValueError):
            self._next = 0

    def take(self) -> int:
        value, self._next = self._next, self._next + 1
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(str(value))
        tmp.replace(self._path)
        return value


class Agent:
    def __init__(self, config: AgentConfig):
        check_files(config)
        try:
            credentials = (
                load_rtsp_credentials(config.source)
                if config.source.kind is SourceKind.RTSP
                else None
            )
        except RtspCredentialsError as err:
            raise AgentConfigError(str(err)) from err
        config.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.config = config
        self._events: queue.Queue[AgentEvent] = queue.Queue()
        self._stop = threading.Event()
        self.meter = StreamMeter()
        self._stats = ProcessStats()
        self.outbox = MotionOutbox(config.mqtt.motion_queue_limit)
        self._sequence = SequenceCounter(config.state_dir / "motion-sequence")
        self.link = CameraLink(
            config,
            on_command=lambda t: self._events.put(CommandReceived(t)),
            on_connected=lambda: self._events.put(Connected()),
        )
        self.supervisor = PipelineSupervisor(config, self._events.put, self.meter, credentials)
        self._versions = versions(config.pipeline.gst_launch)
        self._started = time.monotonic()
        self._topics = {k: topic(config.camera_id, k) for k in TopicKind}
        self._delivery = threading.Thread(target=self._deliver_motion, name="motion", daemon=True)

    def request_stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        self.link.start()
        self.supervisor.start()
        self._delivery.start()
        next_health = time.monotonic() + self.config.health_interval_seconds
        # A bug that ends this loop ends the agent as a stop does: EOS, so the last fragment is
        # complete (not cut by the child's death signal), and `offline` from us, not the Will.
        try:
            while not self._stop.is_set():
                try:
                    event = self._events.get(timeout=_TICK_S)
                except queue.Empty:
                    event = None
                if event is not None and self._handle(event):
                    next_health = time.monotonic() + self.config.health_interval_seconds
                if time.monotonic() >= next_health:
                    self._publish_health()
                    next_health = time.monotonic() + self.config.health_interval_seconds
        finally:
            self._shutdown()

    def _handle(self, event: AgentEvent) -> bool:
        """Act on one event; True when a health report went out because of it."""
        match event:
            case StateChanged() | Connected():
                return self._publish_health()
            case MotionStarted():
                self._queue_motion(event)
            case FragmentWritten():
                log.debug("fragment %s", event.path.name)
            case CommandReceived():
                return self._command(event.topic)
        return False

    def _command(self, topic_name: str) -> bool:
        try:
            command = parse_command(self.config.camera_id, topic_name)
        except InvalidMessageError as err:
            log.warning("ignored command: %s", err)
            return False
        log.info("command: %s", command.value)
        if command is CommandKind.RESTART_PIPELINE:
            self.supervisor.restart()
            return False
        return self._publish_health()

    def _queue_motion(self, motion: MotionStarted) -> None:
        event = MotionEvent(
            camera_id=self.config.camera_id,
            sent_at_ms=now_ms(),
            sequence=self._sequence.take(),
            producer_timestamp_ms=motion.producer_timestamp_ms,
            score=min(1.0, motion.cells / _GRID_CELLS),
        )
        dropped = self.outbox.put(event)
        log.info("motion %d at %d", event.sequence, event.producer_timestamp_ms)
        if dropped is not None:
            log.warning("motion queue full: dropped motion %d", dropped.sequence)

    def _deliver_motion(self) -> None:
        """Oldest first, removed only once acknowledged: an outage delays motion, never loses it."""
        while not self._stop.is_set():
            event = self.outbox.peek(timeout=_TICK_S)
            if event is None or not self.link.connected.wait(_TICK_S):
                continue
            try:
                acked(self.link.publish(self._topics[TopicKind.MOTION], encode(event)), _ACK_WAIT_S)
            except PermissionError as err:  # the policy refuses it: retrying cannot help
                log.error("motion %d refused: %s", event.sequence, err)
            except Exception as err:
                log.info("motion %d not delivered yet (%s); will retry", event.sequence, err)
                self._stop.wait(_TICK_S)
                continue
            self.outbox.delivered(event)

    def health(self) -> HealthEvent:
        now = time.monotonic()
        supervisor = self.supervisor
        return HealthEvent(
            camera_id=self.config.camera_id,
            sent_at_ms=now_ms(),
            pipeline=supervisor.state,
            pipeline_error=(supervisor.error or "")[:1024] or None,
            uptime_seconds=round(now - self._started, 1),
            restarts=supervisor.restarts,
            fps=self.meter.fps(now),
            bitrate_kbps=self.meter.bitrate_kbps(now),
            dropped_frames=self.meter.dropped_frames,
            last_fragment_ms=supervisor.last_fragment_ms,
            motion_count=supervisor.motion_count,
            agent_cpu_percent=self._stats.cpu_percent(),
            agent_rss_mb=self._stats.rss_mb(),
            temperature_c=host_temperature_c(),
            versions=self._versions,
        )

    def _publish_health(self) -> bool:
        if not self.link.connected.is_set():
            return False  # a fresh report goes out on reconnect
        report = self.health()
        try:
            self.link.publish(self._topics[TopicKind.HEALTH], encode(report))
        except Exception as err:
            log.info("health not sent: %s", err)
            return False
        return True

    def _shutdown(self) -> None:
        log.info("stopping: sending EOS to the pipeline")
        self.supervisor.stop()
        if self.link.connected.is_set():
            try:
                acked(self.link.publish(self._topics[TopicKind.HEALTH], encode(self.health())), 2)
            except Exception as err:
                log.info("last health not sent: %s", err)
        if len(self.outbox):
            log.warning("%d motion events undelivered at stop", len(self.outbox))
        self.link.stop()
        log.info("stopped")


def run(config_path: Path) -> int:
    """Run until SIGTERM or SIGINT. Returns the process exit code."""
    try:
        agent = Agent(load_agent_config(config_path))
    except AgentConfigError as err:
        log.error("%s", err)
        return 2

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        agent.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("agent %s starting (pid %d)", agent.config.camera_id, os.getpid())
    try:
        agent.run()
    except Exception:
        log.exception("agent failed; stopped it for its service manager to restart")
        return 1
    return 0
