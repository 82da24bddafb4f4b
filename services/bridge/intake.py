"""The bridge's fast path: sort a message into a valid event or a rejection with a reason, count
both, hand events to the handlers of their kind, and keep the log of rejections bounded. No I/O
but the log (the clock is passed in); no exception gets out of `Dispatcher.handle`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import ValidationError

from device.messages import (
    MAX_PAYLOAD_BYTES,
    CameraTopic,
    HealthEvent,
    InvalidMessageError,
    MotionEvent,
    StatusEvent,
    TopicKind,
    decode,
)

log = logging.getLogger(__name__)

CameraEvent = StatusEvent | HealthEvent | MotionEvent
Handler = Callable[[CameraEvent, int], None]


class Rejection(StrEnum):
    TOPIC = "topic"  # not fleet/<camera>/<kind>
    OVERSIZED = "oversized"  # over the contract's MAX_PAYLOAD_BYTES
    SCHEMA = "schema"  # not JSON, or not the contract's schema (or version)
    MISMATCH = "mismatch"  # another kind or another camera than its topic names


@dataclass(frozen=True)
class Rejected:
    reason: Rejection
    detail: str


def classify(topic: str, payload: bytes) -> CameraEvent | Rejected:
    """`device.messages.decode`, with the reason of a refusal as a value to count by."""
    try:
        CameraTopic.parse(topic)
    except InvalidMessageError as err:
        return Rejected(Rejection.TOPIC, str(err))
    if len(payload) > MAX_PAYLOAD_BYTES:
        return Rejected(
            Rejection.OVERSIZED,
            f"{topic}: payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}",
        )
    try:
        return decode(topic, payload)
    except InvalidMessageError as err:
        cause = err.__cause__
        reason = Rejection.SCHEMA if isinstance(cause, ValidationError) else Rejection.MISMATCH
        return Rejected(reason, str(err))


@dataclass
class BridgeCounters:
    received: int = 0
    valid: int = 0
    invalid: Counter[Rejection] = field(default_factory=Counter)
    handler_errors: int = 0
    shadow_writes: int = 0
    shadow_failures: int = 0
    shadow_dropped: int = 0

    def snapshot(self) -> dict[str, int]:
        flat = {
            "received": self.received,
            "valid": self.valid,
            "invalid": sum(self.invalid.values()),
            "handler_errors": self.handler_errors,
            "shadow_writes": self.shadow_writes,
            "shadow_failures": self.shadow_failures,
            "shadow_dropped": self.shadow_dropped,
        }
        flat.update({f"invalid_{reason.value}": self.invalid[reason] for reason in Rejection})
        return flat


@dataclass
class _Window:
    start: float
    logged: int = 0
    suppressed: int = 0


@dataclass
class LogLimiter:
    """At most `per_window` log lines per key and window; the rest are counted and reported with
    the next line that is logged. A flood of bad messages cannot fill the disk."""

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


class Dispatcher:
    """Classify, count, route. Counters are written from the MQTT client's thread only (the
    shadow ones from the flush loop only), so each has a single writer."""

    def __init__(
        self,
        routes: Mapping[TopicKind, Sequence[Handler]],
        limiter: LogLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.routes = dict(routes)
        self.counters = BridgeCounters()
        self._limiter = limiter or LogLimiter()
        self._clock = clock

    def handle(self, topic: str, payload: bytes, received_ms: int) -> None:
        """One message in: never raises, whatever the message or a handler does."""
        self.counters.received += 1
        try:
            result = classify(topic, payload)
            if isinstance(result, Rejected):
                self.counters.invalid[result.reason] += 1
                self._log_rejection(result)
                return
            self.counters.valid += 1
            for handler in self.routes.get(TopicKind(result.type), ()):
                handler(result, received_ms)
        except Exception:
            self.counters.handler_errors += 1
            allowed, suppressed = self._limiter.allow("handler-error", self._clock())
            if allowed:
                log.exception(
                    "message on %s not handled (%d more like it not logged)", topic, suppressed
                )

    def _log_rejection(self, rejected: Rejected) -> None:
        allowed, suppressed = self._limiter.allow(f"invalid-{rejected.reason}", self._clock())
        if allowed:
            log.warning(
                "dropped a message (%s): %s%s",
                rejected.reason.value,
                rejected.detail[:300],
                f" ({suppressed} more like it not logged)" if suppressed else "",
            )
