"""The flows' composition root: settings read once per process, clients built once and reused."""

from __future__ import annotations

import threading
import time
from functools import cached_property
from pathlib import Path

from cloud.analysis import choice
from cloud.analysis.control import SessionControl, session_control
from cloud.clients import AwsClients
from cloud.fleet import fleet_names
from cloud.models import Analyzer
from cloud.naming import FleetNames
from cloud.settings import FleetSettings

# A running part follows a switch of the fleet's analyzer within this long.
ANALYZER_REREAD_S = 5.0


class Runtime:
    def __init__(self, settings: FleetSettings):
        self.settings = settings
        self.clients = AwsClients(settings)
        self._sessions: tuple[float, SessionControl] | None = None
        self._sessions_lock = threading.Lock()

    @property
    def known_analyzer(self) -> Analyzer | None:
        """The analyzer last read, without reading it (None before the first read)."""
        with self._sessions_lock:
            return self._sessions[1].analyzer if self._sessions else None

    @property
    def analyzer(self) -> Analyzer:
        """The fleet's recorded analyzer (InvalidInputError if FLEET_ANALYZER disagrees)."""
        return self.sessions().analyzer

    def sessions(self, max_age_s: float = ANALYZER_REREAD_S) -> SessionControl:
        """How this fleet starts and follows analysis sessions: the fleet's analyzer, read again
        when the last read is older than `max_age_s` (a fast path passes infinity and leaves the
        re-reading to a background loop)."""
        with self._sessions_lock:
            now = time.monotonic()
            if self._sessions is None or now - self._sessions[0] > max_age_s:
                recorded = choice.recorded_analyzer(self.clients, self.names)
                analyzer = choice.effective(self.settings.analyzer, recorded, self.names.fleet)
                control = session_control(
                    self.clients, self.names, analyzer, self.settings.frames_ingest_grace_seconds
                )
                self._sessions = (now, control)
            return self._sessions[1]

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
