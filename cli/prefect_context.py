"""Run flows in this process against the fleet's Prefect server."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

from prefect.settings import PREFECT_API_URL, temporary_settings

from cloud.errors import FleetError
from cloud.settings import FleetSettings
from flows import runtime
from stack import local_stack

T = TypeVar("T")


def prefect_api_url(settings: FleetSettings) -> str:
    """The user's own Prefect server if configured, else the local stack's (which must be up)."""
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        return configured
    current = local_stack.status(settings)
    if not current.healthy:
        down = [p.name for p in current.parts if not p.healthy]
        raise FleetError(
            f"the local stack is not running ({', '.join(down)} down): start it with `fleet up`"
        )
    return current.prefect_api_url


def run_flow(settings: FleetSettings, coro: Coroutine[Any, Any, T]) -> T:
    runtime.configure(settings)
    with temporary_settings(updates={PREFECT_API_URL: prefect_api_url(settings)}):
        return asyncio.run(coro)
