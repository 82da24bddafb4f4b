"""The flows' composition root: settings read once per process, clients built once and reused."""

from __future__ import annotations

import threading
from functools import cached_property
from pathlib import Path

from cloud.clients import AwsClients
from cloud.fleet import fleet_names
from cloud.naming import FleetNames
from cloud.settings import FleetSettings


class Runtime:
    def __init__(self, settings: FleetSettings):
        self.settings = settings
        self.clients = AwsClients(settings)

    @cached_property
    def names(self) -> FleetNames:
        return fleet_names(self.clients)  # asks STS for the account id once, when a name needs it

    @property
    def broker_ca_file(self) -> Path:
        return self.settings.broker_ca_file

    @property
    def fragment_root(self) -> Path | None:
        """Local stack only: where agents write video fragments instead of kvssink."""
        return self.settings.stack_dir / "fragments" if self.settings.is_local else None


_lock = threading.Lock()
_current: Runtime | None = None


def runtime() -> Runtime:
    """The process's runtime, from the environment unless a composition root configured one."""
    global _current  # noqa: PLW0603 - one runtime per process is the point
    with _lock:
        if _current is None:
            _current = Runtime(FleetSettings())
        return _current


def configure(settings: FleetSettings) -> Runtime:
    global _current  # noqa: PLW0603
    with _lock:
        _current = Runtime(settings)
        return _current
