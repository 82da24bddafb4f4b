"""The replaceable part that runs a stream-processor session.

``StartStreamProcessor`` hands a ``SessionContext`` to a ``SessionRunner``
together with a callback; the runner calls it exactly once when the session
ends (``STOPPED`` or ``FAILED``). ``StopStreamProcessor`` (or delete) tells the
runner to stop; the model has already marked the processor ``STOPPED`` then,
and a late callback for that session is ignored.

``TimedSessionRunner`` analyses nothing: the session simply lasts
``MaxDurationInSeconds`` of wall time, ended by a timer thread; the endpoint
uses it when it knows no fragment store. ``video_runner.VideoSessionRunner``
(the default when it does) really analyses the camera's local fragments.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class SessionEndStatus(StrEnum):
    STOPPED = "STOPPED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class SessionOutcome:
    status: SessionEndStatus = SessionEndStatus.STOPPED
    message: str | None = None


@dataclass(frozen=True)
class SessionContext:
    """Everything a runner may need about one session (a snapshot)."""

    session_id: str
    processor_name: str
    processor_arn: str
    account_id: str
    region: str
    kvs_stream_arn: str
    producer_timestamp_ms: int | None
    fragment_number: str | None
    max_duration_seconds: int
    started_at: dt.datetime
    settings: Mapping[str, Any] = field(default_factory=dict)
    output: Mapping[str, Any] = field(default_factory=dict)
    notification_channel: Mapping[str, Any] | None = None
    regions_of_interest: tuple[Mapping[str, Any], ...] = ()
    role_arn: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)


SessionEndCallback = Callable[[str, SessionOutcome], None]


class SessionRunner(Protocol):
    def start(self, context: SessionContext, on_end: SessionEndCallback) -> None:
        """Begin the session; call ``on_end(session_id, outcome)`` once it ends."""
        ...

    def stop(self, session_id: str) -> None:
        """The session was stopped by the API (or its processor deleted)."""
        ...

    def stop_all(self) -> None:
        """The endpoint is stopping: end every session's work."""
        ...


class TimedSessionRunner:
    """Lets each session last ``MaxDurationInSeconds``; analyses nothing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._timers: dict[str, threading.Timer] = {}

    def start(self, context: SessionContext, on_end: SessionEndCallback) -> None:
        def finish() -> None:
            with self._lock:
                self._timers.pop(context.session_id, None)
            logger.info(
                "session %s of processor %s ended after %ss",
                context.session_id,
                context.processor_name,
                context.max_duration_seconds,
            )
            on_end(context.session_id, SessionOutcome())

        timer = threading.Timer(context.max_duration_seconds, finish)
        timer.daemon = True
        with self._lock:
            self._timers[context.session_id] = timer
        timer.start()

    def stop(self, session_id: str) -> None:
        with self._lock:
            timer = self._timers.pop(session_id, None)
        if timer is not None:
            timer.cancel()

    def stop_all(self) -> None:
        with self._lock:
            timers = list(self._timers.values())
            self._timers.clear()
        for timer in timers:
            timer.cancel()
