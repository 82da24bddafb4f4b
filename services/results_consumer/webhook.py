"""An optional webhook for detections: POST JSON, retried a few times, never blocking the caller.
It keeps nothing: a payload that cannot be delivered is logged and counted, then dropped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from services.harness.stats import Counters

log = logging.getLogger(__name__)

_STOP = object()
USER_AGENT = "camera-fleet-results/1"


@dataclass
class WebhookCounters(Counters):
    sent: int = 0
    failed: int = 0
    dropped: int = 0


def redacted(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/..."


def post_json(url: str, payload: dict[str, Any], timeout: float) -> None:
    """One attempt; raises on a connection problem or a non-2xx answer."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()


def _retryable(err: Exception) -> bool:
    if isinstance(err, urllib.error.HTTPError):
        return err.code == 429 or err.code >= 500
    return isinstance(err, OSError)  # URLError, timeouts, refused connections


class WebhookSender:
    """`submit` puts the payload on a bounded queue and returns at once; one worker thread posts
    it, retrying a failure (connection error, timeout, HTTP 429 or 5xx) with exponential backoff.
    A payload that still fails, or finds the queue full, is not kept: the detection itself is
    already stored and published to the notification topic. The URL may hold a secret token, so
    only its scheme and host are ever logged."""

    def __init__(
        self,
        url: str,
        attempts: int = 3,
        backoff_s: float = 1.0,
        timeout_s: float = 5.0,
        max_pending: int = 100,
        post: Callable[[str, dict[str, Any], float], None] = post_json,
    ) -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"webhook URL {redacted(url)}: only http and https are supported")
        self._url = url
        self._attempts = max(1, attempts)
        self._backoff_s = backoff_s
        self._timeout_s = timeout_s
        self._post = post
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_pending)
        self._stopping = threading.Event()
        self.counters = WebhookCounters()
        self._thread = threading.Thread(target=self._run, name="webhook", daemon=True)
        self._thread.start()

    def submit(self, payload: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(payload)
        except queue.Full:
            self.counters.dropped += 1
            log.warning(
                "webhook %s: %d payloads pending, dropped one",
                redacted(self._url),
                self._queue.qsize(),
            )

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (within `timeout`), then stop the worker."""
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout)
        self._thread.join(timeout)
        self._stopping.set()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, dict):
                self._deliver(item)

    def _deliver(self, payload: dict[str, Any]) -> None:
        for attempt in range(1, self._attempts + 1):
            try:
                self._post(self._url, payload, self._timeout_s)
            except Exception as err:
                last = attempt == self._attempts or not _retryable(err)
                log.warning(
                    "webhook %s: attempt %d of %d failed: %s%s",
                    redacted(self._url),
                    attempt,
                    self._attempts,
                    err,
                    " (giving up)" if last else "",
                )
                if last:
                    self.counters.failed += 1
                    return
                if self._stopping.wait(self._backoff_s * 2 ** (attempt - 1)):
                    self.counters.failed += 1
                    return
            else:
                self.counters.sent += 1
                return
