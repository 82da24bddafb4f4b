"""Run the real `fleet` command against the session's local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from cloud.settings import FleetSettings
from stack.supervisor.local_stack import fleet_env, prefect_env

FLEET = [sys.executable, "-m", "cli"]


def cli_env(settings: FleetSettings) -> dict[str, str]:
    return {**os.environ, **prefect_env(settings), **fleet_env(settings)}


def fleet(
    settings: FleetSettings, *args: str, timeout: float = 120, app_id: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`app_id` goes into the command's AWS User-Agent (`app/<id>`): the endpoint's request log
    then tells its requests from the stack's own background traffic."""
    env = cli_env(settings)
    if app_id is not None:
        env["AWS_SDK_UA_APP_ID"] = app_id
    return subprocess.run(
        [*FLEET, *args],
        env=env,
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
