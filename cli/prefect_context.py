"""Run flows in this process against the fleet's Prefect server. Imported by the commands that
run a flow, when they run: Prefect is the largest import the CLI has."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

from prefect.settings import (
    PREFECT_API_SSL_CERT_FILE,
    PREFECT_API_URL,
    temporary_settings,
)

from cli.stack_guard import prefect_env, require_stack
from cloud.settings import FleetSettings
from flows import runtime

T = TypeVar("T")


def prefect_settings(settings: FleetSettings) -> dict[Any, str]:
    """The user's own Prefect server if configured, else the local stack's (which must be up)."""
    if os.environ.get("PREFECT_API_URL"):
        return {}
    require_stack(settings)
    env = prefect_env(settings)
    return {
        PREFECT_API_URL: env["PREFECT_API_URL"],
        PREFECT_API_SSL_CERT_FILE: env["PREFECT_API_SSL_CERT_FILE"],
    }


def run_flow(settings: FleetSettings, coro: Coroutine[Any, Any, T]) -> T:
    """Run a flow in this process: it starts at once, and is still a run in the Prefect UI."""
    try:
        updates = prefect_settings(settings)
    except BaseException:
        coro.close()  # never started: do not leave it to warn at exit
        raise
    runtime.configure(settings)
    with temporary_settings(updates=updates):
        return asyncio.run(coro)
