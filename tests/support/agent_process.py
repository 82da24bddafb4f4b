"""The real camera agent as a separate process, for end-to-end tests and benchmarks."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from cloud.settings import FleetSettings
from tests.e2e.cli import cli_env

FAST = {
    "FLEET_AGENT_HEALTH_INTERVAL_SECONDS": "2",
    "FLEET_AGENT_PIPELINE__STALL_SECONDS": "3",
    "FLEET_AGENT_PIPELINE__RESTART_MIN_SECONDS": "0.3",
    "FLEET_AGENT_PIPELINE__RESTART_MAX_SECONDS": "2",
    "FLEET_AGENT_MQTT__RECONNECT_MIN_SECONDS": "0.2",
    "FLEET_AGENT_MQTT__RECONNECT_MAX_SECONDS": "1",
    "FLEET_AGENT_MQTT__KEEP_ALIVE_SECONDS": "10",
    "FLEET_AGENT_SOURCE__PATTERN": "ball",
    "FLEET_AGENT_SOURCE__WIDTH": "320",
    "FLEET_AGENT_SOURCE__HEIGHT": "240",
}


# A camera host runs `python -m device` (the `camera-fleet-agent` script); `fleet agent run` is
# the same code behind the operator's CLI, which imports Prefect and starts seconds slower.
AGENT = [sys.executable, "-m", "device"]


class RunningAgent:
    def __init__(
        self,
        settings: FleetSettings,
        config: Path,
        log: Path,
        env: dict[str, str],
        command: tuple[str, ...] = (*AGENT, "--config"),
    ):
        self.log_path = log
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            [*command, str(config)],
            env={**cli_env(settings), **FAST, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def log_tail(self, lines: int = 60) -> str:
        """The end of the agent's log, for an assertion's message (CI shows nothing else)."""
        return "\n".join(self.log().splitlines()[-lines:])

    def wait_log(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            assert self.proc.poll() is None or time.monotonic() < deadline, self.log()
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in the agent's log:\n{self.log()}")
            time.sleep(0.1)

    def motions(self) -> int:
        """The last motion sequence number the agent logged."""
        return max(int(n) for n in re.findall(r"motion (\d+) at", self.log()))

    def pipeline(self) -> psutil.Process:
        """The GStreamer child, once it runs."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            children = psutil.Process(self.proc.pid).children(recursive=True)
            gst = [c for c in children if "gst" in " ".join(c.cmdline())]
            if gst:
                return gst[0]
            time.sleep(0.1)
        raise AssertionError(f"no pipeline child:\n{self.log()}")

    def exited(self, timeout: float) -> int:
        """The exit code of an agent expected to stop by itself."""
        code = self.proc.wait(timeout)
        self._log.close()
        return code

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self._log.close()
        return code
