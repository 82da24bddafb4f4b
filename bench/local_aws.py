"""What every benchmark's own local stack starts from: its settings, and AWS-like latency."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cloud.settings import FleetSettings
from tests.support.endpoint_admin import clear_faults, inject_fault
from tests.support.ports import free_ports


def local_settings(home: Path, **overrides: Any) -> FleetSettings:
    """The settings of a stack of the benchmark's own in `home`, on free ports."""
    aws_port, mqtt_port, prefect_port = free_ports(3)
    return FleetSettings(
        home=home,
        aws_port=aws_port,
        mqtt_port=mqtt_port,
        prefect_port=prefect_port,
        **overrides,
    )


@contextmanager
def latency(endpoint: str, services: list[str], ms: int) -> Iterator[None]:
    """A delay of `ms` on every request to `services` at the local AWS endpoint (delay-only
    faults; none for 0), to model a real AWS round trip; cleared on the way out."""
    if ms:
        for service in services:
            inject_fault(endpoint, service, None, None, count=10**9, delay_seconds=ms / 1000)
    try:
        yield
    finally:
        clear_faults(endpoint)
