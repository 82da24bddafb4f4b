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

from cloud.errors import FleetError
from cloud.settings import FleetSettings
from flows import runtime
from stack import local_stack

T = TypeVar("T")


def prefect_settings(settings: FleetSettings) -> dict[Any, str]:
    """The user's own Prefect server if configured, else the local stack's (which must be up)."""
    if os.environ.get("PREFECT_API_URL"):
        return {}
    current = local_stack.status(settings)
    if not current.healthy:
        down = [p.name for p in current.parts if not p.healthy]
        raise FleetError(
            f"the local stack is not running ({', '.join(down)} down): start it with `fleet up`"
        )
    env = local_stack.prefect_env(settings)
    return {
        PREFECT_API_URL: env["PREFECT_API_URL"],
        PREFECT_API_SSL_CERT_FILE: env["PREFECT_API_SSL_CERT_FILE"],
    }


def run_flow(settings: FleetSettings, coro: Coroutine[Any, Any, T]) -> T:
    """Run a flow in this process: it starts at once, and is still a run in the Prefect UI."""
    runtime.configure(settings)
    with temporary_settings(updates=prefect_settings(settings)):
        return asyncio.run(coro)
