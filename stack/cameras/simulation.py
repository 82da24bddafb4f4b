"""A simulated camera: the real agent, from the camera's own bundle, playing a synthetic scene.

`fleet camera simulate` runs `python -m device --config <bundle>/agent.toml` (what a camera host
runs) with its source switched to a scene file from `stack/cameras/scenes.py`, which loops.
Everything after that is the product's own path: the agent's motion detector, MQTT, the bridge,
the stream processor, the results consumer. `storm` also shortens the agent's motion gap to 1 s,
so each burst of motion is an event of its own.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cloud.errors import NotFoundError
from cloud.naming import validate_camera_id
from cloud.settings import FleetSettings
from stack.cameras.scenes import SUFFIX, VISIT_PERIOD_S, SceneKind, write_scene

# Long enough for the scenes' movements to repeat (the file source loops on end of stream).
SCENE_SECONDS = {
    SceneKind.PERSON: 24,
    SceneKind.EMPTY: 24,
    SceneKind.STORM: 32,
    SceneKind.VISITOR: VISIT_PERIOD_S,
    SceneKind.STRANGER: VISIT_PERIOD_S,
}
# The agent's log line for a motion it publishes (device/agent.py).
_MOTION_LINE = re.compile(r"motion (\d+) at (\d+)")
_STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class SimulatedCamera:
    camera_id: str
    scenario: SceneKind
    config: Path  # the camera's bundle: agent.toml
    scene: Path

    def agent_env(self) -> dict[str, str]:
        """The agent's setting overrides (FLEET_AGENT_*), on top of its bundle."""
        env = {"FLEET_AGENT_SOURCE__KIND": "file", "FLEET_AGENT_SOURCE__PATH": str(self.scene)}
        if self.scenario is SceneKind.STORM:
            env["FLEET_AGENT_MOTION__GAP_SECONDS"] = "1"
        return env

    def agent_command(self) -> list[str]:
        return [sys.executable, "-m", "device", "--config", str(self.config)]


def prepare(settings: FleetSettings, camera_id: str, scenario: SceneKind) -> SimulatedCamera:
    """The camera's bundle (it must be registered) and its scene, written once and reused."""
    validate_camera_id(camera_id)
    config = settings.bundles_dir / camera_id / "agent.toml"
    if not config.is_file():
        raise NotFoundError(
            f"camera {camera_id} has no device bundle at {config.parent}: "
            f"register it first (`fleet camera register {camera_id}`)"
        )
    return SimulatedCamera(camera_id, scenario, config, scene_file(settings, scenario))


def scene_file(settings: FleetSettings, scenario: SceneKind) -> Path:
    path = settings.home / "scenes" / f"{scenario.value}{SUFFIX}"
    if not path.exists():  # written beside it, then renamed: a half-written scene is never used
        # A name of this writer's own: cameras simulated at once may each write the scene.
        writer = f"{os.getpid()}-{threading.get_ident()}"
        partial = path.with_name(f".{path.stem}.{writer}.partial{SUFFIX}")
        write_scene(scenario, partial, SCENE_SECONDS[scenario])
        partial.replace(path)
    return path


@dataclass(frozen=True)
class AgentRun:
    exit_code: int
    motions: list[int]  # producer timestamps (ms) of the motion events the agent published


def run_agent(
    camera: SimulatedCamera,
    seconds: float,
    on_line: Callable[[str], None],
    stop: threading.Event | None = None,
) -> AgentRun:
    """Run the agent for `seconds` (or until `stop`), then stop it as systemd would (SIGTERM)."""
    stop = stop or threading.Event()
    process = subprocess.Popen(
        camera.agent_command(),
        env={**os.environ, **camera.agent_env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # Ctrl-C reaches it through us, once, as a SIGTERM
    )
    motions: list[int] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            found = _MOTION_LINE.search(line)
            if found:
                motions.append(int(found.group(2)))
            on_line(line.rstrip("\n"))

    reader = threading.Thread(target=read, name="agent-output", daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + seconds
        while process.poll() is None and time.monotonic() < deadline and not stop.is_set():
            stop.wait(0.2)
    except KeyboardInterrupt:  # Ctrl-C ends the simulation, not the summary after it
        on_line("interrupted: stopping the agent")
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        reader.join(5)
    return AgentRun(code, motions)
