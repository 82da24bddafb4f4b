"""The worker's share of the fleet's DetectLabels rate: a token bucket, shared by its sessions.

Each worker takes `frames_detect_rate / replicas` calls a second (`--replicas`: how many workers
the fleet runs), so the workers together stay under the fleet's rate without asking anything
remote for each image. A Prefect global rate limit (what registrations use) was not chosen: it
costs a round trip to the Prefect server per acquisition, its decaying slots deliver well below
their rate when asked several times a second (docs/architecture.md, "Rate limits"), and while
the server does not answer the client retries for seconds before failing, which would stall
every session; a local bucket would be needed as the fallback anyway. What throttling is left is
retried by botocore's standard mode.

`TokenBucket.take` is pure (the time is passed in); `RateLimiter` waits on a stop event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

_EPSILON = 1e-9


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at = now

    def take(self, now: float) -> float:
        """Take a token: 0.0 when granted, else the seconds until one will be (none taken)."""
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._at) * self.rate)
        self._at = max(self._at, now)
        if self._tokens >= 1 - _EPSILON:  # a wait computed from the deficit lands here
            self._tokens = max(0.0, self._tokens - 1)
            return 0.0
        return (1 - self._tokens) / self.rate


class RateLimiter:
    """A token bucket for threads: `acquire` waits for a token, or returns False on `stop`."""

    def __init__(
        self, rate: float, burst: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._bucket = TokenBucket(rate, max(1.0, burst), clock())
        self._lock = threading.Lock()

    def acquire(self, stop: threading.Event) -> bool:
        while not stop.is_set():
            with self._lock:
                wait = self._bucket.take(self._clock())
            if wait == 0.0:
                return True
            stop.wait(wait)
        return False
