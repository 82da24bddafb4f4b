"""The analysis worker: frames sessions from the fleet's analysis queue, each in a thread.

`AnalyzerWorker` owns the queue side: it receives up to `sessions` requests at once, runs each as
a `Session` in a thread of its own, keeps every message it works hidden (ChangeMessageVisibility
every `visibility_timeout_seconds / 3`) and every session's lease in the analysis table renewed,
and settles each message by what became of its session: deleted once ended (or a duplicate),
left to SQS otherwise. A worker killed mid-session loses nothing: the message comes back after
its visibility timeout and another worker works the session again (after 5 receives SQS moves it
to the dead-letter queue; the last delivery ends the session FAILED).

`AnalyzerRunner` runs a worker on the service harness (heartbeat, stats, signals). On SIGTERM it
takes no more messages and cancels the sessions at their next step (nothing half-finished: a
session publishes or records nothing after it is cancelled); their messages are made visible
again at once, so another worker picks them up without waiting for the timeout. Finishing them
instead could take the whole window (up to two minutes) plus the ingest grace.

Until the fleet's analysis queue exists (a fleet on stream processors never has one) the worker
waits, looking for it again every `queue_retry_seconds`, and says so once in its log.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, ValidationError

from cloud import queues
from cloud.analysis.frames_queue import MAX_RECEIVES
from cloud.analysis.images import ImageFormat, StreamImages
from cloud.analysis.models import FramesSessionRequest
from cloud.clients import AwsClients
from cloud.errors import FleetError, RetryableError, UnavailableError
from cloud.fleet import fleet_names
from cloud.models import ProcessorStatus
from cloud.naming import FleetNames
from cloud.settings import FleetSettings
from services.analyzer.io import (
    AnalysisTable,
    FleetCameras,
    FleetResults,
    KvsImages,
    RekognitionLabels,
    WallClock,
)
from services.analyzer.rate import RateLimiter
from services.analyzer.session import (
    Cancel,
    CancelReason,
    ImageSource,
    LabelSource,
    Outcome,
    Session,
    SessionIo,
    SessionReport,
    SessionSettings,
)
from services.harness.config import ServiceConfig
from services.harness.loop import run_loop
from services.harness.process import run_service
from services.harness.stats import Counters, Reporter, Status

log = logging.getLogger(__name__)

MAX_RETRY_DELAY_S = 300
_NOT_READY_RETRY_S = 5.0
# A session is kept alive at most this long past its window's length and ingest grace.
_OVERRUN_S = 120.0


class AnalyzerConfig(ServiceConfig):
    wait_seconds: int = Field(20, ge=0, le=20, description="Long poll: SQS's maximum is 20 s.")
    visibility_timeout_seconds: int = Field(
        60, ge=15, le=43200, description="Kept up while a session is worked."
    )
    sessions: int = Field(8, ge=1, le=64, description="Sessions this worker analyses at once.")
    replicas: int = Field(
        1, ge=1, le=1000, description="Workers the fleet runs: each takes its share of the rate."
    )
    detect_rate: float = Field(5.0, gt=0, le=100, description="DetectLabels/s, all workers.")
    search_ms: int = Field(3000, ge=200, le=10_000)
    confirm_ms: int = Field(1000, ge=200, le=10_000)
    confirmations: int = Field(2, ge=1, le=10)
    image_width: int = Field(1280, ge=80, le=3840)
    jpeg_quality: int = Field(80, ge=1, le=100)
    ingest_grace_seconds: float = Field(10.0, ge=0, le=120)
    retry_seconds: float = Field(
        1.0, gt=0, le=30, description="How soon video not ingested yet is asked for again."
    )
    queue_retry_seconds: float = Field(5.0, gt=0, le=3600)
    stop_grace_seconds: float = Field(
        5.0, ge=0, le=120, description="On stop, how long sessions may take to reach a step."
    )

    @classmethod
    def from_settings(cls, settings: FleetSettings, **overrides: object) -> AnalyzerConfig:
        return cls.model_validate(
            {
                "sessions": settings.analyzer_sessions,
                "detect_rate": settings.frames_detect_rate,
                "search_ms": settings.frames_search_ms,
                "confirm_ms": settings.frames_confirm_ms,
                "confirmations": settings.frames_confirmations,
                "image_width": settings.frames_image_width,
                "ingest_grace_seconds": settings.frames_ingest_grace_seconds,
                **overrides,
            }
        )

    @property
    def worker_rate(self) -> float:
        return self.detect_rate / self.replicas

    def session_settings(self) -> SessionSettings:
        return SessionSettings(
            search_ms=self.search_ms,
            confirm_ms=self.confirm_ms,
            confirmations=self.confirmations,
            grace_ms=round(self.ingest_grace_seconds * 1000),
            retry_ms=max(round(self.retry_seconds * 1000), 1),
            lease_ms=2 * self.visibility_timeout_seconds * 1000,
        )

    def image_format(self) -> ImageFormat:
        return ImageFormat(width=self.image_width, jpeg_quality=self.jpeg_quality)


@dataclass
class AnalyzerCounters(Counters):
    received: int = 0
    sessions: int = 0  # ended STOPPED or FAILED by this worker
    failed: int = 0
    duplicates: int = 0
    retried: int = 0
    abandoned: int = 0
    redelivered: int = 0
    republished: int = 0
    images: int = 0
    detect_calls: int = 0
    confirmed: int = 0
    rejected: int = 0


@dataclass
class _InFlight:
    message: queues.QueueMessage
    request: FramesSessionRequest
    cancel: Cancel
    keep_until: float  # monotonic: no longer kept alive after this


def retry_delay_seconds(receive_count: int) -> int:
    """How long a session that failed retryably stays hidden: 10, 20, 40... s."""
    return min(MAX_RETRY_DELAY_S, 10 << max(0, min(receive_count - 1, 16)))


class AnalyzerWorker:
    """Receives session requests and works them; thread-safe counters for the stats line."""

    def __init__(
        self,
        clients: AwsClients,
        names: FleetNames,
        config: AnalyzerConfig,
        stop: threading.Event,
        *,
        images: ImageSource | None = None,
        labels: LabelSource | None = None,
    ) -> None:
        self._clients = clients
        self._names = names
        self._config = config
        self._stop = stop
        self._warn = config.limited_log(log)
        self._io = SessionIo(
            table=AnalysisTable(clients, names.analysis_table),
            cameras=FleetCameras(clients, names),
            images=images or KvsImages(StreamImages(clients), config.image_format()),
            labels=labels or RekognitionLabels(clients, RateLimiter(config.worker_rate), stop),
            results=FleetResults(clients, names),
            clock=WallClock(),
        )
        self._settings = config.session_settings()
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)
        self._inflight: dict[str, _InFlight] = {}
        self.counters = AnalyzerCounters()
        self.queue_url: str | None = None
        self.dlq_url: str | None = None

    # Receiving.

    def locate(self) -> bool:
        """Find the analysis queue (and its dead-letter queue); False while it does not exist."""
        if self.queue_url is None:
            self.queue_url = queues.queue_url(self._clients, self._names.analysis_queue)
            self.dlq_url = queues.queue_url(self._clients, self._names.analysis_dlq)
        return self.queue_url is not None

    def free_slots(self) -> int:
        with self._lock:
            return self._config.sessions - len(self._inflight)

    def wait_for_slot(self, timeout: float) -> None:
        with self._freed:
            if len(self._inflight) >= self._config.sessions:
                self._freed.wait(timeout)

    def poll_once(self, wait_seconds: int | None = None) -> int:
        """Long-poll for as many requests as there are free slots; start each. How many."""
        assert self.queue_url is not None
        free = self.free_slots()
        if free <= 0:
            return 0
        messages = queues.receive(
            self._clients,
            self.queue_url,
            max_messages=free,
            wait_seconds=self._config.wait_seconds if wait_seconds is None else wait_seconds,
            visibility_seconds=self._config.visibility_timeout_seconds,
        )
        started = 0
        for message in messages:
            if self._stop.is_set():
                self._release(message)
                continue
            flight = self._admit(message)
            if flight is not None:
                name = f"session-{flight.request.camera_id}"
                threading.Thread(target=self._work, args=(flight,), name=name, daemon=True).start()
                started += 1
        return started

    def work_now(self, message: queues.QueueMessage) -> SessionReport | None:
        """Work one received message in this thread (tests, tools); None if it was rejected."""
        flight = self._admit(message)
        return self._work(flight) if flight is not None else None

    def _admit(self, message: queues.QueueMessage) -> _InFlight | None:
        with self._lock:
            self.counters.received += 1
            if message.receive_count > 1:
                self.counters.redelivered += 1
        try:
            request = FramesSessionRequest.model_validate_json(message.body)
        except ValidationError as err:
            self._reject(message, f"not a frames session request: {err.errors()[0]['msg']}")
            return None
        window_s = request.duration_s + self._config.ingest_grace_seconds
        flight = _InFlight(message, request, Cancel(), time.monotonic() + window_s + _OVERRUN_S)
        with self._lock:
            self._inflight[message.message_id] = flight
        log.info(
            "camera %s: session %s received (receive %d)",
            request.camera_id,
            request.session_id,
            message.receive_count,
        )
        return flight

    # Working.

    def _work(self, flight: _InFlight) -> SessionReport:
        report = SessionReport(outcome=Outcome.RETRY)
        try:
            session = Session(
                flight.request,
                self._io,
                self._names,
                self._settings,
                flight.cancel,
                last_attempt=flight.message.receive_count >= MAX_RECEIVES,
            )
            report = session.run()
            self._settle(flight, report)
        except Exception as err:  # settling failed: SQS delivers the message again
            self._warn.warning(
                "settle",
                "camera %s: session %s not settled: %s",
                flight.request.camera_id,
                flight.request.session_id,
                err if isinstance(err, FleetError) else repr(err),
            )
        finally:
            with self._freed:
                self._inflight.pop(flight.message.message_id, None)
                self._freed.notify_all()
            self._count(report)
        return report

    def _settle(self, flight: _InFlight, report: SessionReport) -> None:
        assert self.queue_url is not None
        message = flight.message
        if report.outcome in (Outcome.ENDED, Outcome.DUPLICATE):
            queues.delete(self._clients, self.queue_url, message.receipt_handle)
        elif report.outcome is Outcome.RETRY:
            delay = retry_delay_seconds(message.receive_count)
            queues.change_visibility(self._clients, self.queue_url, message.receipt_handle, delay)
        elif flight.cancel.reason is CancelReason.STOPPING:
            self._release(message)

    def _count(self, report: SessionReport) -> None:
        with self._lock:
            counters = self.counters
            counters.images += report.images
            counters.detect_calls += report.detect_calls
            counters.confirmed += len(report.confirmed)
            counters.republished += report.republished
            if report.outcome is Outcome.ENDED:
                counters.sessions += 1
                if report.status is ProcessorStatus.FAILED:
                    counters.failed += 1
            elif report.outcome is Outcome.DUPLICATE:
                counters.duplicates += 1
            elif report.outcome is Outcome.RETRY:
                counters.retried += 1
            else:
                counters.abandoned += 1

    # Keeping the sessions alive.

    def keep_alive(self) -> None:
        """Extend every worked message's visibility and renew its session's lease."""
        with self._lock:
            flights = list(self._inflight.values())
        now = time.monotonic()
        for flight in flights:
            if flight.cancel.is_set():
                continue
            request = flight.request
            if now > flight.keep_until:
                self._warn.warning(
                    "overrun",
                    "camera %s: session %s runs too long: left to another worker",
                    request.camera_id,
                    request.session_id,
                )
                flight.cancel.set(CancelReason.LOST)
                continue
            try:
                self._keep(flight)
            except (RetryableError, UnavailableError) as err:  # tried again at the next beat
                self._warn.warning("keep", "camera %s: %s", request.camera_id, err)
            except FleetError as err:
                self._warn.warning(
                    "lost",
                    "camera %s: session %s lost: %s",
                    request.camera_id,
                    request.session_id,
                    err,
                )
                flight.cancel.set(CancelReason.LOST)

    def _keep(self, flight: _InFlight) -> None:
        assert self.queue_url is not None
        config, request = self._config, flight.request
        queues.change_visibility(
            self._clients,
            self.queue_url,
            flight.message.receipt_handle,
            config.visibility_timeout_seconds,
        )
        lease_until = self._io.clock.now_ms() + self._settings.lease_ms
        if not self._io.table.renew(request.camera_id, request.session_id, lease_until):
            flight.cancel.set(CancelReason.SUPERSEDED)

    # Stopping.

    def cancel_all(self) -> None:
        with self._lock:
            flights = list(self._inflight.values())
        for flight in flights:
            flight.cancel.set(CancelReason.STOPPING)

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._freed:
            while self._inflight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._freed.wait(left)
        return True

    def _release(self, message: queues.QueueMessage) -> None:
        """Visible again at once: another worker takes it without waiting for the timeout."""
        if self.queue_url is None:
            return
        try:
            queues.change_visibility(self._clients, self.queue_url, message.receipt_handle, 0)
        except FleetError as err:  # it comes back after the visibility timeout anyway
            log.debug("message %s not given back: %s", message.message_id, err)

    def _reject(self, message: queues.QueueMessage, reason: str) -> None:
        """A message no worker can use: to the dead-letter queue with its reason."""
        assert self.queue_url is not None
        if self.dlq_url is not None:
            queues.send(
                self._clients,
                self.dlq_url,
                message.body or "(empty)",
                {"reason": reason, "source-message-id": message.message_id},
            )
        queues.delete(self._clients, self.queue_url, message.receipt_handle)
        with self._lock:
            self.counters.rejected += 1
        self._warn.warning("rejected", "message %s rejected: %s", message.message_id, reason)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            counters = self.counters.snapshot()
            counters["running"] = len(self._inflight)
        return counters


class AnalyzerRunner:
    """A worker until `stop`: receiving in one thread, keeping sessions alive in another,
    heartbeat and counters in the calling one."""

    def __init__(
        self,
        clients: AwsClients,
        names: FleetNames,
        config: AnalyzerConfig,
        *,
        images: ImageSource | None = None,
        labels: LabelSource | None = None,
    ) -> None:
        self._clients = clients
        self._names = names
        self._config = config
        self._images = images
        self._labels = labels
        self.worker: AnalyzerWorker | None = None
        self._ready = False
        self._detail = "starting"
        self._warn = config.limited_log(log)
        self._reporter = Reporter("analyzer", config, self._status)
        self._threads: list[threading.Thread] = []

    def run(self, stop: threading.Event) -> None:
        log.info(
            "analysis worker for fleet %s starting: queue %s, %d sessions at once, "
            "%.2f DetectLabels/s (%g for %d workers)",
            self._names.fleet,
            self._names.analysis_queue,
            self._config.sessions,
            self._config.worker_rate,
            self._config.detect_rate,
            self._config.replicas,
        )
        self.worker = AnalyzerWorker(
            self._clients,
            self._names,
            self._config,
            stop,
            images=self._images,
            labels=self._labels,
        )
        for name, target in (("analysis-poll", self._poll), ("analysis-keep", self._keep)):
            thread = threading.Thread(target=target, args=(stop,), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        run_loop(stop, self._reporter, wind_down=self._wind_down)

    def _poll(self, stop: threading.Event) -> None:
        assert self.worker is not None
        worker, announced = self.worker, False
        while not stop.is_set():
            try:
                if not worker.locate():
                    if not announced:
                        log.info(
                            "analysis queue %s does not exist (yet): waiting for it",
                            self._names.analysis_queue,
                        )
                        announced = True
                    self._ready = True
                    self._detail = f"waiting for queue {self._names.analysis_queue}"
                    stop.wait(self._config.queue_retry_seconds)
                    continue
                self._ready, self._detail = True, f"polling {self._names.analysis_queue}"
                worker.wait_for_slot(1.0)
                worker.poll_once()
            except Exception as err:  # nothing may stop the worker: report, wait, retry
                self._ready = False
                self._detail = str(err) if isinstance(err, FleetError) else repr(err)
                self._warn.warning("poll", "analysis worker: %s", self._detail)
                stop.wait(_NOT_READY_RETRY_S)

    def _keep(self, stop: threading.Event) -> None:
        assert self.worker is not None
        every = self._config.visibility_timeout_seconds / 3
        while not stop.wait(every):
            try:
                self.worker.keep_alive()
            except Exception:
                log.exception("analysis worker: keeping sessions alive failed")

    def _wind_down(self) -> None:
        if self.worker is None:
            return
        self.worker.cancel_all()
        if not self.worker.wait_idle(self._config.stop_grace_seconds):
            log.warning("analysis worker: stopped with sessions still in a step")
        self._ready, self._detail = False, "stopped"

    def _status(self) -> Status:
        counters = self.worker.snapshot() if self.worker is not None else {}
        return Status(self._ready, self._detail, counters)


def run_analyzer(settings: FleetSettings, config: AnalyzerConfig, stop: threading.Event) -> None:
    """The composition root of one worker: clients and names; until `stop`."""
    clients = AwsClients(settings)
    AnalyzerRunner(clients, fleet_names(clients), config).run(stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.analyzer", description=__doc__)
    parser.add_argument("--heartbeat-file", type=Path)
    parser.add_argument("--wait-seconds", type=int, default=20)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    def work(stop: threading.Event) -> None:
        settings = FleetSettings()
        config = AnalyzerConfig.from_settings(
            settings,
            heartbeat_file=args.heartbeat_file,
            wait_seconds=args.wait_seconds,
            replicas=args.replicas,
        )
        run_analyzer(settings, config, stop)

    return run_service("analysis worker", args.log_level, work)
