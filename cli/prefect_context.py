"""Run flows in this process against the fleet's Prefect server."""

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

from cloud.errors import UnavailableError
from cloud.settings import FleetSettings
from flows import runtime
from stack.supervisor import local_stack
from stack.supervisor.layout import PartName

T = TypeVar("T")
_OPTIONAL = (PartName.BRIDGE, PartName.RESULTS)


def require_stack(settings: FleetSettings) -> None:
    """Fail with one clear line when the local stack a command needs is not up. No command needs
    the MQTT bridge (it may be reconnecting after a broker restart) or the results consumer:
    `fleet status` shows them."""
    current = local_stack.status(settings)
    down = [
        p.name for p in current.parts if not (p.healthy or p.skipped) and p.name not in _OPTIONAL
    ]
    if down:
        raise UnavailableError(
            f"the local stack is not running ({', '.join(down)} down): start it with `fleet up`"
        )


def control_plane(settings: FleetSettings) -> runtime.Runtime:
    """The runtime for a command that calls AWS directly; on the local stack, it must be up."""
    if settings.is_local:
        require_stack(settings)
    return runtime.configure(settings)


def prefect_settings(settings: FleetSettings) -> dict[Any, str]:
    """The user's own Prefect server if configured, else the local stack's (which must be up)."""
    if os.environ.get("PREFECT_API_URL"):
        return {}
    require_stack(settings)
    env = local_stack.prefect_env(settings)
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
