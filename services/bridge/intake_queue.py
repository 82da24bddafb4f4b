"""What the bridge has received and not handled yet, between the MQTT client's thread (which
only queues, so the connection is read as fast as the broker sends) and the thread that handles
messages in order.

A broker drops what it cannot queue for a subscriber that falls behind, whatever the message; here
overload costs only health: once the backlog reaches `coalesce_at` messages, a camera's health
still waiting is replaced by its newer one (latest wins, counted), while motion, status and
everything else always queue. Below it every message is handled, so a burst from one camera is
never thinned (nor an invalid message hidden behind a valid one).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from device.messages import TOPIC_ROOT, TopicKind

_HEALTH_SUFFIX = f"/{TopicKind.HEALTH.value}"


@dataclass
class Received:
    topic: str
    payload: bytes
    received_ms: int


def health_camera(topic: str) -> str | None:
    """The camera of a `fleet/<camera>/health` topic (None for any other topic)."""
    if not topic.endswith(_HEALTH_SUFFIX):
        return None
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != TOPIC_ROOT or not parts[1]:
        return None
    return parts[1]


class IntakeQueue:
    """Thread-safe: `put` from the MQTT client's thread, `take` from the handling thread."""

    def __init__(
        self, on_coalesced: Callable[[Received], None] | None = None, coalesce_at: int = 1000
    ) -> None:
        self._order: deque[Received] = deque()
        self._health: dict[str, Received] = {}  # camera -> its latest health waiting in `_order`
        self._coalesce_at = coalesce_at
        self._ready = threading.Condition()
        self._closed = False
        self._on_coalesced = on_coalesced
        self.coalesced = 0
        self.high_water = 0

    def __len__(self) -> int:
        with self._ready:
            return len(self._order)

    def put(self, topic: str, payload: bytes, received_ms: int) -> None:
        camera = health_camera(topic)
        replaced: Received | None = None
        with self._ready:
            waiting = self._health.get(camera) if camera is not None else None
            if waiting is not None and len(self._order) >= self._coalesce_at:
                replaced = Received(waiting.topic, waiting.payload, waiting.received_ms)
                waiting.payload, waiting.received_ms = payload, received_ms  # keeps its place
                self.coalesced += 1
            else:
                entry = Received(topic, payload, received_ms)
                self._order.append(entry)
                if camera is not None:
                    self._health[camera] = entry
                self.high_water = max(self.high_water, len(self._order))
                self._ready.notify()
        if replaced is not None and self._on_coalesced is not None:
            self._on_coalesced(replaced)

    def take(self, limit: int = 256, timeout_s: float | None = None) -> list[Received]:
        """Up to `limit` messages in arrival order, waiting up to `timeout_s` for the first; an
        empty list once closed and drained (or on timeout)."""
        with self._ready:
            if not self._order and not self._closed:
                self._ready.wait(timeout_s)
            batch: list[Received] = []
            while self._order and len(batch) < limit:
                entry = self._order.popleft()
                camera = health_camera(entry.topic)
                if camera is not None and self._health.get(camera) is entry:
                    del self._health[camera]
                batch.append(entry)
            return batch

    def close(self) -> None:
        """No more messages come: `take` returns what is left, then nothing, without waiting."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    @property
    def drained(self) -> bool:
        """Closed, and nothing left to take."""
        with self._ready:
            return self._closed and not self._order
