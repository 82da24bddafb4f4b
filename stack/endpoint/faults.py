"""Fault injection and the request log of the admin API (``/_fleet/``).

A fault matches requests by service (botocore service name or SigV4 signing
name) and operation (``None`` = any); the next ``count`` matches first sleep
``delay_seconds`` and then, if ``error_code`` is set, fail with that AWS
error in the protocol's format instead of reaching the service.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stack.endpoint.request_info import RequestInfo


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: str
    operation: str | None = None
    error_code: str | None = None
    message: str = "Injected fault"
    http_status: int = Field(default=400, ge=400, le=599)
    count: int = Field(default=1, ge=1)
    delay_seconds: float = Field(default=0.0, ge=0.0, le=600.0)


class RequestRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seq: int
    time_ms: int
    method: str
    path: str
    service: str | None
    region: str | None
    operation: str | None
    status: int
    error_code: str | None
    injected: bool = False
    # The caller's `app/<id>` from its User-Agent (AWS_SDK_UA_APP_ID), as CloudTrail keeps the
    # user agent: a test tells the requests of the process it ran from the stack's own.
    app_id: str | None = None
    # The JSON request of the endpoint's own Rekognition emulation (processor names, selectors,
    # settings: never credentials), so a test or benchmark can tell which processor a start was
    # for and from which producer timestamp. None for every other request.
    params: dict[str, Any] | None = None


@dataclass
class _Armed:
    spec: FaultSpec
    remaining: int


class FaultInjector:
    """Armed faults; ``take`` consumes one use of the first matching fault."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_Armed] = []

    def add(self, spec: FaultSpec) -> None:
        with self._lock:
            self._faults.append(_Armed(spec, spec.count))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[FaultSpec]:
        with self._lock:
            return [a.spec.model_copy(update={"count": a.remaining}) for a in self._faults]

    def take(self, info: RequestInfo) -> FaultSpec | None:
        with self._lock:
            for armed in self._faults:
                spec = armed.spec
                if spec.service not in (info.service, info.signing_name):
                    continue
                if spec.operation is not None and spec.operation != info.operation:
                    continue
                armed.remaining -= 1
                if armed.remaining <= 0:
                    self._faults.remove(armed)
                return spec
        return None


class RequestLog:
    """A bounded, thread-safe log of handled requests with increasing ``seq``."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=capacity)
        self._seq = 0

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def since(self, seq: int) -> list[RequestRecord]:
        with self._lock:
            return sorted((r for r in self._records if r.seq > seq), key=lambda r: r.seq)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


def now_ms() -> int:
    return int(time.time() * 1000)
