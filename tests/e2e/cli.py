"""Run the real `fleet` command against the session's local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from cloud.settings import FleetSettings
from stack.local_stack import fleet_env, prefect_env

FLEET = [sys.executable, "-m", "cli"]


def cli_env(settings: FleetSettings) -> dict[str, str]:
    return {**os.environ, **prefect_env(settings), **fleet_env(settings)}


def fleet(
    settings: FleetSettings, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FLEET, *args],
        env=cli_env(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def fleet_json(settings: FleetSettings, *args: str) -> Any:
    done = fleet(settings, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def start_fleet(settings: FleetSettings, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*FLEET, *args],
        env=cli_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
