"""Motion events waiting for their PUBACK: bounded, oldest dropped first, in order.

A motion event must survive a broker restart or a network loss: it is removed only once the
broker acknowledged it. The bound keeps a long outage from growing memory without limit; the
oldest events go first, since the newest motion is the one worth analysing.
"""

from __future__ import annotations

import threading
from collections import deque

from device.messages import MotionEvent


class MotionOutbox:
    def __init__(self, limit: int):
        self._events: deque[MotionEvent] = deque()
        self._limit = limit
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self.dropped = 0

    def put(self, event: MotionEvent) -> MotionEvent | None:
        """Queue an event; returns the event dropped to make room, if any."""
        with self._lock:
            dropped = None
            if len(self._events) >= self._limit:
                dropped = self._events.popleft()
                self.dropped += 1
            self._events.append(event)
            self._ready.notify_all()
            return dropped

    def peek(self, timeout: float) -> MotionEvent | None:
        """The oldest undelivered event, waiting up to `timeout` seconds for one."""
        with self._lock:
            if not self._events:
                self._ready.wait(timeout)
            return self._events[0] if self._events else None

    def delivered(self, event: MotionEvent) -> None:
        """Remove `event` once acknowledged (it may already have been dropped for room)."""
        with self._lock:
            if self._events and self._events[0] is event:
                self._events.popleft()

    def wake(self) -> None:
        with self._lock:
            self._ready.notify_all()

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)
