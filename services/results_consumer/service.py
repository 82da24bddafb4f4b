"""The results consumer: Rekognition's notifications in, detection records (with who was seen,
on cameras that ask for it), events and notifications out.

`ResultsConsumer` handles one batch of the `<fleet>-results` queue (`decisions` decides, this
module does the I/O); `ConsumerRunner` polls in a worker thread until stopped. Every step is
idempotent, so consumers scale out on the same queue. It does not retry by itself: a message that
failed stays in the queue and SQS delivers it again.
"""

from __future__ import annotations

import argparse
import contextvars
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from pydantic import Field

from cloud import clip_store, detections, links, notify, queues
from cloud.clients import AwsClients
from cloud.clip_store import clip_uri
from cloud.errors import FleetError, RetryableError
from cloud.faces.models import FaceStatus
from cloud.fleet import fleet_names
from cloud.links import MediaLink
from cloud.naming import FleetNames
from cloud.rekognition_messages import (
    CooldownState,
    DetectionRecord,
    NotificationState,
    SessionEndRecord,
    faces_summary,
    iso_ms,
)
from cloud.settings import FleetSettings
from flows.events import DETECTION, camera_resource, fleet_related
from services.harness.config import ServiceConfig
from services.harness.loop import run_loop
from services.harness.process import run_service
from services.harness.stats import Counters, Reporter, Status
from services.results_consumer.clip_maker import ClipMaker
from services.results_consumer.decisions import (
    EndSession,
    MakeClip,
    Notify,
    Reject,
    Step,
    after_store,
    decide_notification,
    detection_payload,
    event_id,
    everyone_named,
    is_quiet,
    notification_message,
    notification_subject,
    retry_delay_seconds,
    triage,
    wants_faces,
    webhook_payload,
)
from services.results_consumer.faces import FaceCameras, FaceRecognizer, registry_attributes
from services.results_consumer.gallery import GalleryPublisher
from services.results_consumer.webhook import WebhookSender

log = logging.getLogger(__name__)

_CLAIM_ATTEMPTS = 5
_NOT_READY_RETRY_S = 5.0


class ConsumerConfig(ServiceConfig):
    wait_seconds: int = Field(20, ge=0, le=20, description="Long poll: SQS's maximum is 20 s.")
    batch_size: int = Field(10, ge=1, le=10)
    visibility_timeout_seconds: int = Field(60, ge=5, le=43200)
    cooldown_seconds: float = Field(60.0, ge=0, le=86400)
    webhook_url: str | None = Field(None, pattern=r"^https?://")
    snapshot_link_seconds: int = Field(
        86_400,
        ge=links.MIN_SECONDS,
        le=links.MAX_SECONDS,
        description="Lifetime of the frame link each notification carries.",
    )
    preroll_ms: int = Field(
        2_000, ge=0, le=30_000, description="Video before a motion an analysis session covers."
    )
    clip_workers: int = Field(
        2, ge=0, le=16, description="Clips made at once (0: on the polling thread, for tests)."
    )
    stop_grace_seconds: float = Field(
        10.0, ge=0, le=120, description="On stop, how long the batch in hand may take to finish."
    )

    @classmethod
    def from_settings(cls, settings: FleetSettings, **overrides: object) -> ConsumerConfig:
        return cls.model_validate(
            {
                "cooldown_seconds": settings.notification_cooldown_seconds,
                "webhook_url": settings.webhook_url,
                "snapshot_link_seconds": settings.snapshot_link_seconds,
                "preroll_ms": settings.analysis_preroll_ms,
                **overrides,
            }
        )


class EventSink(Protocol):
    def detection(self, fleet: str, record: DetectionRecord) -> None: ...


class PrefectEvents:
    """`camera.detection` events to the Prefect server of the environment (PREFECT_API_URL)."""

    def detection(self, fleet: str, record: DetectionRecord) -> None:
        from prefect.events import emit_event  # noqa: PLC0415 - Prefect only where events go

        emit_event(
            event=DETECTION.name,
            resource=camera_resource(record.camera_id),
            related=fleet_related(fleet),
            occurred=record.detected_at,
            id=event_id(fleet, record),
            payload=detection_payload(record).wire(),
        )

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued before the process ends."""
        from prefect.events.worker import EventsWorker  # noqa: PLC0415

        EventsWorker.drain_all(timeout=timeout)


@dataclass
class ConsumerCounters(Counters):
    received: int = 0
    detections: int = 0
    duplicates: int = 0
    notified: int = 0
    suppressed: int = 0
    quiet: int = 0
    faces_searched: int = 0
    faces_failed: int = 0
    sessions: int = 0
    clips_asked: int = 0
    rejected: int = 0
    failures: int = 0


class Outcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    SESSION_ENDED = "session-ended"
    CLIP_QUEUED = "clip-queued"
    REJECTED = "rejected"
    FAILED = "failed"


@dataclass(frozen=True)
class ResultsEndpoints:
    """Where the consumer reads and writes: found by name, created by `ensure_fleet`."""

    queue_url: str
    dlq_url: str
    table: str
    notifications_topic_arn: str

    @classmethod
    def locate(cls, clients: AwsClients, names: FleetNames) -> ResultsEndpoints:
        return cls(
            queue_url=queues.require_queue(clients, names.results_queue).url,
            dlq_url=queues.require_queue(clients, names.results_dlq).url,
            table=names.detections_table,
            notifications_topic_arn=names.user_notifications_topic_arn(),
        )


def utc_now() -> datetime:
    return datetime.now(UTC)


class ResultsConsumer:
    """Handles one batch at a time; `poll_once` is the whole job, `ConsumerRunner` repeats it."""

    def __init__(
        self,
        clients: AwsClients,
        names: FleetNames,
        endpoints: ResultsEndpoints,
        config: ConsumerConfig,
        events: EventSink,
        webhook: WebhookSender | None = None,
        clock: Callable[[], datetime] = utc_now,
        faces: FaceRecognizer | None = None,
        face_cameras: FaceCameras | None = None,
        clips: ClipMaker | None = None,
        gallery: GalleryPublisher | None = None,
    ) -> None:
        self._clients = clients
        self._names = names
        self._at = endpoints
        self._config = config
        self._events = events
        self._webhook = webhook
        self._clock = clock
        self._faces = faces
        self._face_cameras = face_cameras or FaceCameras(registry_attributes(clients, names))
        self._warn = config.limited_log(log)
        self.counters = ConsumerCounters()
        self._gallery = gallery
        self.clips = clips or ClipMaker(
            clients,
            names,
            endpoints.table,
            endpoints.queue_url,
            workers=config.clip_workers,
            kept=gallery.submit if gallery is not None else None,
        )

    def poll_once(self, wait_seconds: int | None = None) -> list[Outcome]:
        """Long-poll one batch and handle each message; returns what became of each."""
        return [self.handle(message) for message in self.receive(wait_seconds)]

    def receive(self, wait_seconds: int | None = None) -> list[queues.QueueMessage]:
        return queues.receive(
            self._clients,
            self._at.queue_url,
            max_messages=self._config.batch_size,
            wait_seconds=self._config.wait_seconds if wait_seconds is None else wait_seconds,
            visibility_seconds=self._config.visibility_timeout_seconds,
        )

    def release(self, messages: list[queues.QueueMessage]) -> None:
        """Give back messages received but not handled (stopping): visible again at once."""
        for message in messages:
            try:
                queues.change_visibility(
                    self._clients, self._at.queue_url, message.receipt_handle, 0
                )
            except Exception as err:  # they come back after the visibility timeout anyway
                log.debug("message %s not given back: %s", message.message_id, err)

    def handle(self, message: queues.QueueMessage) -> Outcome:
        self.counters.received += 1
        decision = triage(message.body, self._names, message.sent_at or self._clock())
        try:
            if isinstance(decision, MakeClip):  # the clip maker deletes the message
                self.clips.submit(message, decision.job)
                return Outcome.CLIP_QUEUED
            if isinstance(decision, Reject):
                self._reject(message, decision.reason)
                outcome = Outcome.REJECTED
            elif isinstance(decision, EndSession):
                outcome = self._session_end(decision.record)
            else:
                handled = [self._detection(record) for record in decision.records]
                outcome = Outcome.STORED if any(handled) else Outcome.DUPLICATE
            queues.delete(self._clients, self._at.queue_url, message.receipt_handle)
        except Exception as err:  # store, notify or dead-letter failed: SQS redelivers it
            self._failed(message, err)
            return Outcome.FAILED
        return outcome

    def _session_end(self, record: SessionEndRecord) -> Outcome:
        """Store it and count its video in the day's usage, once; ask for its clip if it has a
        detection (again on a redelivery: the clip maker drops a clip made already)."""
        stored = detections.put_session_end(self._clients, self._at.table, record)
        self._ask_for_clip(record)
        if not stored:
            self.counters.duplicates += 1
            log.debug("camera %s: session %s already ended", record.camera_id, record.session_id)
            return Outcome.DUPLICATE
        self.counters.sessions += 1
        log.info(
            "camera %s: session %s ended (%s ms analysed)",
            record.camera_id,
            record.session_id,
            record.processed_ms,
        )
        return Outcome.SESSION_ENDED

    def _ask_for_clip(self, session_end: SessionEndRecord) -> None:
        found = detections.session_detections(
            self._clients,
            self._at.table,
            session_end.camera_id,
            session_end.session_id,
            session_end.ended_at,
        )
        if not found:
            return
        job = clip_store.clip_job(session_end, found, self._config.preroll_ms)
        queues.send(
            self._clients,
            self._at.queue_url,
            job.model_dump_json(),
            {"camera": job.camera_id, "kind": job.kind},
            delay_seconds=clip_store.DELAY_SECONDS,
        )
        self.counters.clips_asked += 1

    def _detection(self, record: DetectionRecord) -> bool:
        """Store, recognise faces (once), notify (or not), mark, emit. False for a redelivered
        duplicate."""
        table = self._at.table
        created = detections.put_detection(self._clients, table, record)
        existing = None if created else detections.get_detection(self._clients, table, record)
        if after_store(created, existing) is Step.DUPLICATE:
            self.counters.duplicates += 1
            log.debug("camera %s: detection %s already handled", record.camera_id, record.key)
            return False
        if existing is not None:  # an earlier attempt may have searched its faces
            record = record.model_copy(update={"faces": existing.faces})
        record = self._recognised(record)
        state = NotificationState.QUIET if self._quiet(record) else self._notify(record)
        stored = record.model_copy(update={"notification": state})
        if stored.faces is not None and stored.faces.status is FaceStatus.NAMED:
            detections.put_visitor(self._clients, table, stored)
        detections.set_notification(self._clients, table, record, state)
        self._events.detection(self._names.fleet, stored)
        if self._gallery is not None:
            self._gallery.submit(record.camera_id)
        self.counters.detections += 1
        ended = detections.get_session_end(
            self._clients, table, record.camera_id, record.session_id
        )
        if ended is not None:  # the detection came after its session's end: the clip now
            self._ask_for_clip(ended)
        log.info(
            "camera %s: %s detected at %s (session %s), faces %s, notification %s",
            record.camera_id,
            record.label,
            iso_ms(record.detected_at),
            record.session_id,
            faces_summary(record.faces) or "not searched",
            state.value,
        )
        return True

    def _recognised(self, record: DetectionRecord) -> DetectionRecord:
        """The record with its faces searched and kept, if it is a person on a camera that asks
        for it; as it is otherwise."""
        if (
            self._faces is None
            or not wants_faces(record)
            or not self._face_cameras.recognizes_faces(record.camera_id)
        ):
            return record
        found = self._faces.recognise(record)
        kept = detections.set_faces(self._clients, self._at.table, record, found)
        self.counters.faces_searched += 1
        if kept.status is FaceStatus.FAILED:
            self.counters.faces_failed += 1
            self._warn.warning(
                "faces",
                "camera %s: faces of detection %s not searched: %s",
                record.camera_id,
                record.key,
                kept.reason,
            )
        return record.model_copy(update={"faces": kept})

    def _quiet(self, record: DetectionRecord) -> bool:
        """Every face named and every name quiet: recorded, not notified (no cooldown claim)."""
        if self._faces is None or not everyone_named(record.faces):
            return False
        if not is_quiet(record.faces, self._faces.quiet_names()):
            return False
        self.counters.quiet += 1
        return True

    def _notify(self, record: DetectionRecord) -> NotificationState:
        table, key = self._at.table, record.key
        for _ in range(_CLAIM_ATTEMPTS):
            now = self._clock()
            observed = detections.read_cooldown(self._clients, table, record.camera_id)
            if decide_notification(observed, key, now, self._config.cooldown_seconds) is (
                Notify.SUPPRESS
            ):
                self.counters.suppressed += 1
                return NotificationState.SUPPRESSED
            held = observed is not None and observed.detection_key == key
            claim = CooldownState(camera_id=record.camera_id, notified_at=now, detection_key=key)
            if held or detections.claim_cooldown(self._clients, table, claim, observed):
                self._publish(record)
                return NotificationState.SENT
        raise RetryableError(
            f"camera {record.camera_id}: the notification cooldown kept changing under "
            f"{_CLAIM_ATTEMPTS} attempts"
        )

    def _publish(self, record: DetectionRecord) -> None:
        frame = self._link(record, record.frame_uri, "frame")
        clip = self._link(record, clip_uri(record), "clip")
        notify.publish(
            self._clients,
            self._at.notifications_topic_arn,
            subject=notification_subject(record),
            message=notification_message(record, frame, clip),
            attributes={
                "fleet": self._names.fleet,
                "camera": record.camera_id,
                "label": record.label,
            },
        )
        self.counters.notified += 1
        if self._webhook is not None:
            self._webhook.submit(webhook_payload(record, self._names.fleet, frame, clip))

    def _link(self, record: DetectionRecord, uri: str, what: str) -> MediaLink | None:
        """A link to the frame or the clip, signed now (links expire, so records keep the URI);
        None, with a warning, when it cannot be made: the notification goes without it."""
        try:
            return links.presigned_link(self._clients, uri, self._config.snapshot_link_seconds)
        except Exception as err:  # a link never holds a notification back
            self._warn.warning(
                "link",
                "camera %s: detection %s notified without a %s link: %s",
                record.camera_id,
                record.key,
                what,
                err if isinstance(err, FleetError) else repr(err),
            )
            return None

    def _reject(self, message: queues.QueueMessage, reason: str) -> None:
        queues.send(
            self._clients,
            self._at.dlq_url,
            message.body or "(empty)",
            {
                "reason": reason,
                "source-queue": self._names.results_queue,
                "source-message-id": message.message_id,
                "receive-count": str(message.receive_count),
                "rejected-at": iso_ms(self._clock()),
            },
        )
        self.counters.rejected += 1
        self._warn.warning(
            "rejected", "message %s to the dead-letter queue: %s", message.message_id, reason
        )

    def _failed(self, message: queues.QueueMessage, err: Exception) -> None:
        self.counters.failures += 1
        delay = retry_delay_seconds(message.receive_count)
        self._warn.warning(
            "failed",
            "message %s (receive %d) failed, retrying in %d s: %s",
            message.message_id,
            message.receive_count,
            delay,
            err if isinstance(err, FleetError) else repr(err),
        )
        try:
            queues.change_visibility(
                self._clients, self._at.queue_url, message.receipt_handle, delay
            )
        except Exception as again:  # the visibility timeout brings it back anyway
            log.debug("message %s: visibility not changed: %s", message.message_id, again)


class ConsumerRunner:
    """Runs a consumer until `stop`: polling in a worker thread, heartbeat and counters in the
    calling one (a long poll must not stall the heartbeat, nor a signal wait for it)."""

    def __init__(
        self,
        clients: AwsClients,
        names: FleetNames,
        config: ConsumerConfig,
        events: EventSink,
        webhook: WebhookSender | None = None,
        faces: FaceRecognizer | None = None,
        gallery: GalleryPublisher | None = None,
    ) -> None:
        self._clients = clients
        self._names = names
        self._config = config
        self._events = events
        self._webhook = webhook
        self._faces = faces
        self._gallery = gallery
        self.consumer: ResultsConsumer | None = None
        self._ready = False
        self._problem = "starting"
        self._warn = config.limited_log(log)
        self._handling = threading.Lock()  # held while a received batch is being handled
        self._reporter = Reporter("results consumer", config, self._status)

    def run(self, stop: threading.Event) -> None:
        log.info(
            "results consumer for fleet %s starting: queue %s, cooldown %g s, webhook %s",
            self._names.fleet,
            self._names.results_queue,
            self._config.cooldown_seconds,
            "on" if self._webhook else "off",
        )
        context = contextvars.copy_context()  # the caller's Prefect settings, for the events
        worker = threading.Thread(
            target=context.run, args=(self._work, stop), name="results-poll", daemon=True
        )
        worker.start()
        run_loop(stop, self._reporter, wind_down=self._wind_down)

    def _wind_down(self) -> None:
        """The batch in hand is finished; a long poll still waiting is abandoned: what it returns
        is given back unhandled (or comes back after the visibility timeout if we exit first)."""
        if self._handling.acquire(timeout=self._config.stop_grace_seconds):
            self._handling.release()  # the worker sees `stop` and returns
        else:
            log.warning("results consumer: stopped while a batch was still being handled")
        if self.consumer is not None:
            self.consumer.clips.close(timeout=self._config.stop_grace_seconds)
        self._ready, self._problem = False, "stopped"

    def _work(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                if self.consumer is None:
                    self.consumer = ResultsConsumer(
                        self._clients,
                        self._names,
                        ResultsEndpoints.locate(self._clients, self._names),
                        self._config,
                        self._events,
                        self._webhook,
                        faces=self._faces,
                        gallery=self._gallery,
                    )
                self._ready, self._problem = True, ""
                messages = self.consumer.receive()
                with self._handling:
                    if stop.is_set():
                        self.consumer.release(messages)
                        return
                    for message in messages:
                        self.consumer.handle(message)
            except Exception as err:  # nothing may stop the consumer: report, wait, retry
                self._ready = False
                self._problem = str(err) if isinstance(err, FleetError) else repr(err)
                self._warn.warning("poll", "results consumer: %s", self._problem)
                stop.wait(_NOT_READY_RETRY_S)

    def _status(self) -> Status:
        counters = {}
        if self.consumer is not None:
            counters.update(self.consumer.counters.snapshot())
            counters.update(self.consumer.clips.counters.snapshot("clip_"))
        if self._webhook is not None:
            counters.update(self._webhook.counters.snapshot("webhook_"))
        if self._gallery is not None:
            counters.update(self._gallery.counters.snapshot("gallery_"))
        detail = f"polling {self._names.results_queue}" if self._ready else self._problem
        return Status(self._ready, detail, counters)


def clip_state_reader(clients: AwsClients, table: str) -> Callable[[DetectionRecord], str | None]:
    """What the gallery says of a detection's clip: None once made (a plain link), `failed`, or
    `pending` while its session runs."""

    def state(record: DetectionRecord) -> str | None:
        clip = clip_store.get_clip_record(clients, table, record.camera_id, record.session_id)
        if clip is None:
            return "pending"
        return None if clip.state is clip_store.ClipState.MADE else clip.state.value

    return state


def run_consumer(settings: FleetSettings, config: ConsumerConfig, stop: threading.Event) -> None:
    """The composition root of one consumer: clients, names, events, webhook, face
    recognition; until `stop`."""
    from services.results_consumer.rekognition_faces import (  # noqa: PLC0415 - face APIs
        RekognitionFaces,  # and Pillow only where a consumer runs; tests inject a fake
    )

    clients = AwsClients(settings)
    names = fleet_names(clients)
    events = PrefectEvents()
    webhook = WebhookSender(config.webhook_url) if config.webhook_url else None
    faces = RekognitionFaces(clients, names, settings.face_match_threshold)
    gallery = GalleryPublisher(
        clients,
        names.detections_table,
        config.snapshot_link_seconds,
        retention_days=settings.media_retention_days,
        clip_state=clip_state_reader(clients, names.detections_table),
        limiter=config.limiter(),
    )
    try:
        ConsumerRunner(clients, names, config, events, webhook, faces, gallery).run(stop)
    finally:
        if webhook is not None:
            webhook.close()
        gallery.close()
        events.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.results_consumer", description=__doc__
    )
    parser.add_argument("--heartbeat-file", type=Path)
    parser.add_argument("--wait-seconds", type=int, default=20)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)

    def work(stop: threading.Event) -> None:
        settings = FleetSettings()
        config = ConsumerConfig.from_settings(
            settings, heartbeat_file=args.heartbeat_file, wait_seconds=args.wait_seconds
        )
        run_consumer(settings, config, stop)

    return run_service("results consumer", args.log_level, work)
