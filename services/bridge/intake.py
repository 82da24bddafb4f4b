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
from services.harness.log_limit import LimitedLog, LogLimiter

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
        self._warn = LimitedLog(log, limiter, clock)

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
            self._warn.exception("handler-error", "message on %s not handled", topic)

    def _log_rejection(self, rejected: Rejected) -> None:
        self._warn.warning(
            f"invalid-{rejected.reason}",
            "dropped a message (%s): %s",
            rejected.reason.value,
            rejected.detail[:300],
        )
