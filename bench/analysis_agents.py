"""The cameras of the analyzers' benchmark: each camera's real agent from its bundle
(`python -m device`, what a camera host runs and `fleet camera simulate` starts) with its source
switched to a scene file, for a set time, then stopped as systemd would (SIGTERM). What a run
leaves: its motion events (the agent's log) and where its video starts (its first fragment)."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.analysis_core import AgentRun
from cloud.settings import FleetSettings
from device.messages import now_ms
from stack.cameras.scenes import Scene, SceneKind
from stack.endpoint.rekognition.video_source import Fragment, list_fragments

_MOTION_LINE = re.compile(r"motion \d+ at (\d+)")  # the agent's log line for a motion it publishes
_STOP_TIMEOUT_S = 30


class Agent:
    """The camera's real agent from its bundle (`python -m device`, as `fleet camera simulate`
    runs it) with its source switched to a scene file."""

    def __init__(
        self, settings: FleetSettings, camera_id: str, scene: Scene, scene_file: Path, log: Path
    ) -> None:
        self.settings = settings
        self.camera_id = camera_id
        self.log = log
        env = {"FLEET_AGENT_SOURCE__KIND": "file", "FLEET_AGENT_SOURCE__PATH": str(scene_file)}
        if scene is SceneKind.STORM:  # every burst of motion an event of its own
            env["FLEET_AGENT_MOTION__GAP_SECONDS"] = "1"
        config = settings.bundles_dir / camera_id / "agent.toml"
        self.started_ms = now_ms()
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "device", "--config", str(config)],
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> AgentRun:
        stopped = now_ms()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        motions = tuple(int(m) for m in _MOTION_LINE.findall(self.log.read_text(errors="replace")))
        directory = self.settings.stack_dir / "fragments" / self.camera_id
        fragments = [f for f in list_fragments(directory) if f.start_ms >= self.started_ms - 1000]
        return AgentRun(
            self.camera_id,
            self.started_ms,
            stopped,
            motions,
            min((f.start_ms for f in fragments), default=None),
            _ingest_lag_ms(directory, fragments),
        )


def _ingest_lag_ms(directory: Path, fragments: list[Fragment]) -> int | None:
    """The median of how long after its video ended each fragment was closed (its file's last
    write; its video ends where the next one starts): how far the camera's pipeline lagged
    behind real time, plus the last write."""
    lags = []
    for fragment, following in itertools.pairwise(sorted(fragments, key=lambda f: f.start_ms)):
        with contextlib.suppress(FileNotFoundError):
            written_ms = fragment.path(directory).stat().st_mtime_ns // 1_000_000
            lags.append(written_ms - following.start_ms)
    return round(statistics.median(lags)) if lags else None


def play(
    settings: FleetSettings,
    scene: Scene,
    scene_file: Path,
    cameras: tuple[str, ...],
    seconds: int,
    logs: Path,
    stagger_s: float,
) -> list[AgentRun]:
    """Each camera's agent plays the scene for `seconds`, the agents `stagger_s` apart."""
    agents = []
    for index, camera in enumerate(cameras):
        if index:
            time.sleep(stagger_s)
        log = logs / f"{camera}-{now_ms()}.log"
        agents.append(Agent(settings, camera, scene, scene_file, log))
    runs = []
    for agent in agents:
        time.sleep(max(0.0, agent.started_ms / 1000 + seconds - time.time()))
        runs.append(agent.stop())
    return runs
