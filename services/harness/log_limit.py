"""Rate-limited warnings: at most a few lines per kind of warning and minute, the rest counted
and reported with the next line logged. A flood of bad messages or failures cannot fill the disk.
`LogLimiter` is the pure count (the clock is passed in); `LimitedLog` puts it in front of a logger.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Window:
    start: float
    logged: int = 0
    suppressed: int = 0


@dataclass
class LogLimiter:
    """At most `per_window` lines per key and window of `window_s` seconds."""

    per_window: int = 5
    window_s: float = 60.0
    _windows: dict[str, _Window] = field(default_factory=dict)

    def allow(self, key: str, now: float) -> tuple[bool, int]:
        """(log this one?, how many were suppressed since the last logged line)."""
        window = self._windows.get(key)
        if window is None or now - window.start >= self.window_s:
            suppressed = window.suppressed if window is not None else 0
            self._windows[key] = _Window(start=now, logged=1)
            return True, suppressed
        if window.logged < self.per_window:
            window.logged += 1
            return True, 0
        window.suppressed += 1
        return False, 0


class LimitedLog:
    """A logger's warnings through a `LogLimiter`, safe to call from any thread. A line logged
    after suppressed ones ends with "(N more like it not logged)"."""

    def __init__(
        self,
        logger: logging.Logger,
        limiter: LogLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._limiter = limiter or LogLimiter()
        self._clock = clock
        self._lock = threading.Lock()

    def warning(self, key: str, msg: str, *args: object) -> bool:
        """Log `msg % args` at WARNING unless `key` is over its limit; True if logged."""
        return self._log(key, msg, args, exc_info=False)

    def exception(self, key: str, msg: str, *args: object) -> bool:
        """`warning`, at ERROR with the exception being handled."""
        return self._log(key, msg, args, exc_info=True)

    def _log(self, key: str, msg: str, args: tuple[object, ...], exc_info: bool) -> bool:
        with self._lock:
            allowed, suppressed = self._limiter.allow(key, self._clock())
        if not allowed:
            return False
        if suppressed:
            msg, args = msg + " (%d more like it not logged)", (*args, suppressed)
        level = logging.ERROR if exc_info else logging.WARNING
        self._logger.log(level, msg, *args, exc_info=exc_info, stacklevel=3)
        return True
