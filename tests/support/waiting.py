"""Waiting, in end-to-end tests, for what the stack's services write: shadows and events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from prefect.events.schemas.events import ReceivedEvent

from cloud.clients import AwsClients
from cloud.settings import FleetSettings
from cloud.shadow import CameraShadow, get_reported
from flows.camera_events import read_camera_events

T = TypeVar("T")


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run` in a thread of its own: usable anywhere, even while Playwright's sync API
    is started (its thread counts as running an event loop, where `asyncio.run` refuses)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def wait_for_shadow(
    settings: FleetSettings,
    camera_id: str,
    predicate: Callable[[CameraShadow], bool],
    timeout: float = 60.0,
) -> CameraShadow:
    """The camera's reported shadow once `predicate` holds for it."""
    clients = AwsClients(settings)
    deadline = time.monotonic() + timeout
    seen: CameraShadow | None = None
    while time.monotonic() < deadline:
        seen = get_reported(clients, camera_id)
        if seen is not None and predicate(seen):
            return seen
        time.sleep(0.3)
    raise AssertionError(f"the shadow of {camera_id} never matched; last: {seen}")


def wait_for_camera_events(
    camera_id: str, names: Sequence[str], since: datetime, wanted: int, timeout: float = 30.0
) -> list[ReceivedEvent]:
    """The camera's events with these names since `since`, once `wanted` of them have arrived
    (or the time is up: the caller asserts on what came)."""
    deadline = time.monotonic() + timeout
    while True:
        found = run_coroutine(read_camera_events(camera_id, names, since))
        if len(found) >= wanted or time.monotonic() > deadline:
            return found
        time.sleep(0.5)
