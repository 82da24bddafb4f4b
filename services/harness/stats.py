"""What a service says about itself, and when: its heartbeat file every `heartbeat_seconds` and a
line of its counters every `stats_interval_seconds`. The service supplies its status; this module
only decides when to report it. It writes nothing but the heartbeat file and the log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields

from services.harness.config import ServiceConfig
from services.harness.heartbeat import write_heartbeat

log = logging.getLogger(__name__)


@dataclass
class Counters:
    """A service's counters: `int` fields, each written by one thread."""

    def snapshot(self, prefix: str = "") -> dict[str, int]:
        return {prefix + f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Status:
    ready: bool  # doing its job (connected, subscribed, polling)
    detail: str  # what it is doing, or what keeps it from it
    counters: Mapping[str, int]
    facts: Mapping[str, str] = field(default_factory=dict)  # what it follows (its analyzer)


class Reporter:
    """Heartbeat and stats line of one service. `status` is called for each report; the stats line
    logs `stats()` when given (counters too costly to count for every heartbeat), else the
    status' counters."""

    def __init__(
        self,
        name: str,
        config: ServiceConfig,
        status: Callable[[], Status],
        stats: Callable[[], Mapping[str, int]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._config = config
        self._status = status
        self._stats = stats
        self._clock = clock
        started = clock()
        self._next_beat = started  # the first heartbeat at once
        self._next_stats = started + config.stats_interval_seconds

    def report_due(self) -> float:
        """Write the heartbeat and log the counters if their time has come; returns the seconds
        until the next report."""
        now = self._clock()
        if now >= self._next_beat:
            self.heartbeat()
            self._next_beat = now + self._config.heartbeat_seconds
        if now >= self._next_stats:
            self.log_stats()
            self._next_stats = now + self._config.stats_interval_seconds
        return max(0.0, min(self._next_beat, self._next_stats) - now)

    def report_now(self) -> None:
        """Both, now: the last word of a service that stops."""
        self.heartbeat()
        self.log_stats()

    def heartbeat(self) -> None:
        path = self._config.heartbeat_file
        if path is None:
            return
        status = self._status()
        try:
            write_heartbeat(
                path, status.ready, status.detail, dict(status.counters), dict(status.facts)
            )
        except OSError as err:
            log.warning("%s: cannot write the heartbeat %s: %s", self.name, path, err)

    def log_stats(self) -> None:
        counters = self._stats() if self._stats is not None else self._status().counters
        log.info(
            "%s: %s",
            self.name,
            " ".join(f"{k}={v}" for k, v in counters.items()) or "nothing counted yet",
        )
