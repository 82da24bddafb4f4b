"""The bridge's handler that turns cameras' status and health into Prefect events: decided on the
SDK's thread, under a lock (`services.bridge.presence_events`), emitted from a thread of its own,
so a slow Prefect API never holds up MQTT."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from device.messages import HealthEvent, StatusEvent
from flows.analyze import emit_camera_event
from services.bridge.intake import CameraEvent
from services.bridge.presence_events import CameraEventOut, PresenceEvents

log = logging.getLogger(__name__)


class PresenceEventEmitter:
    def __init__(self, policy: PresenceEvents):
        self._policy = policy
        self._lock = threading.Lock()
        self._emitter = ThreadPoolExecutor(1, thread_name_prefix="presence-events")

    def __call__(self, event: CameraEvent, received_ms: int) -> None:
        if not isinstance(event, StatusEvent | HealthEvent):
            return
        with self._lock:
            decided = self._policy.observe(event, time.monotonic())
        for out in decided:
            self._emitter.submit(self._emit, out)

    def _emit(self, out: CameraEventOut[Any]) -> None:
        try:
            emit_camera_event(out.kind, out.camera_id, out.payload)
        except Exception:  # an event lost is logged; the bridge goes on
            log.exception("camera %s: event %s not emitted", out.camera_id, out.kind.name)

    def close(self) -> None:
        self._emitter.shutdown(wait=True, cancel_futures=False)
