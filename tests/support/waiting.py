"""Waiting, in end-to-end tests, for what the stack's services write: shadows and events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from prefect.events.schemas.events import ReceivedEvent

from cloud.clients import AwsClients
from cloud.settings import FleetSettings
from cloud.shadow import CameraShadow, get_reported
from flows.camera_events import read_camera_events


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
        found = asyncio.run(read_camera_events(camera_id, names, since))
        if len(found) >= wanted or time.monotonic() > deadline:
            return found
        time.sleep(0.5)
