"""One frames session, from the queued request to its last message. I/O goes through the small
protocols below, so the whole session runs on fakes in unit tests.

1. The camera's item decides whether this delivery is the session's: another session, or one
   that has ended, is a duplicate (deleted, nothing published). Else the session is renewed
   (RUNNING) and the camera's settings are read: labels and confidence from its thing, regions
   of interest from the item, the stream's ARN.
2. Every LABEL_DETECTED already recorded in the item is published again, as it was (the results
   consumer deduplicates), and its class is not looked for again.
3. The window is sampled (`sampling`), each image goes to DetectLabels for the classes still
   wanted (`labels`), and a class seen in enough images in a row (`confirmation`) is reported:
   frame and crop to S3, the message recorded in the item first, then published. Once every
   class is confirmed the session stops early. Sampling searches every `search_ms`, first at the
   motion's moment, and confirms every `confirm_ms`: from an image where a class is seen until
   its row is complete or broken, so that a quiet window costs few images and a sighting is
   confirmed as fast as before.
4. STREAM_PROCESSING_COMPLETE is published, the item ends STOPPED (FAILED with the reason when an
   error cannot be mended by trying again), and the service deletes the message.

A retryable error (throttling past botocore's retries, an endpoint out of reach, a bug) leaves
the message to SQS, which delivers it again; the last delivery before the dead-letter queue ends
the session FAILED instead. A session that fails before its camera's stream is known (the camera
is no longer registered) publishes no completion: its messages would have no stream to name. A
cancelled session (the worker stops, the session was superseded) stops at the next step without
finishing anything.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, TypeGuard

from cloud.analysis import messages
from cloud.analysis.images import StreamImage
from cloud.analysis.labels import FoundLabel, Sighting, sightings, wanted_classes
from cloud.analysis.models import FramesCamera, FramesSessionRequest
from cloud.errors import FleetError, InvalidInputError, RetryableError, UnavailableError
from cloud.models import CameraSpec, Label, ProcessorStatus, RegionOfInterest
from cloud.naming import FleetNames
from cloud.rekognition_messages import LabelDetectedEvent, MalformedMessageError, parse_event
from cloud.tags import fleet_tags
from services.analyzer.confirmation import Confirmations
from services.analyzer.crop import crop_jpeg
from services.analyzer.sampling import Finished, Sampler, Wait, Window

log = logging.getLogger(__name__)


class SessionTable(Protocol):
    """The camera's item in the analysis table (`cloud.analysis.frames_table`)."""

    def read(self, camera_id: str) -> FramesCamera | None: ...

    def renew(self, camera_id: str, session_id: str, lease_until_ms: int) -> bool: ...

    def record_confirmed(
        self, camera_id: str, session_id: str, label: str, message: str
    ) -> str | None:
        """The message to publish for the class (the first recorded); None: superseded."""
        ...

    def finish(
        self,
        camera_id: str,
        session_id: str,
        status: ProcessorStatus,
        message: str,
        processed_ms: int,
    ) -> bool: ...


@dataclass(frozen=True)
class CameraInfo:
    spec: CameraSpec
    stream_arn: str


class Cameras(Protocol):
    def camera(self, camera_id: str) -> CameraInfo:
        """The camera's settings and stream; NotFoundError when it has none."""
        ...


class ImageSource(Protocol):
    def images(
        self, stream_arn: str, start_ms: int, end_ms: int, interval_ms: int
    ) -> list[StreamImage]: ...


class LabelSource(Protocol):
    def labels(
        self, image: bytes, classes: frozenset[Label], min_confidence: float
    ) -> list[FoundLabel]: ...


class Results(Protocol):
    def put_jpeg(self, key: str, body: bytes) -> str:
        """Write a JPEG to the results bucket; its s3:// URI."""
        ...

    def publish(self, message: str) -> None: ...


class Clock(Protocol):
    def now_ms(self) -> int: ...

    def wait(self, seconds: float, cancel: Cancel) -> None:
        """Sleep, returning early when `cancel` is set."""
        ...


class CancelReason(StrEnum):
    STOPPING = "stopping"  # the worker stops: leave the session to another
    SUPERSEDED = "superseded"  # the session ended elsewhere or the camera moved on
    LOST = "lost"  # the message's visibility could not be kept: another worker may have it


class Cancel:
    """Set from another thread; the session looks at it between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: CancelReason | None = None

    def set(self, reason: CancelReason) -> None:
        if self.reason is None:
            self.reason = reason
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        return self._event.wait(seconds)


class SessionCancelled(Exception):
    def __init__(self, reason: CancelReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


class Outcome(StrEnum):
    ENDED = "ended"  # STOPPED or FAILED, messages published: delete the message
    DUPLICATE = "duplicate"  # not (or no longer) this delivery's to work: delete the message
    RETRY = "retry"  # a retryable failure: leave the message to SQS
    ABANDONED = "abandoned"  # cancelled: leave the message to SQS


@dataclass(frozen=True)
class SessionSettings:
    search_ms: int = 3000
    confirm_ms: int = 1000
    confirmations: int = 2
    grace_ms: int = 10_000
    retry_ms: int = 1000
    max_images: int = 25
    lease_ms: int = 120_000


@dataclass
class SessionReport:
    outcome: Outcome = Outcome.ENDED
    status: ProcessorStatus | None = None
    message: str = ""
    processed_ms: int = 0
    images: int = 0
    detect_calls: int = 0
    confirmed: list[Label] = field(default_factory=list)
    republished: int = 0


@dataclass(frozen=True)
class SessionIo:
    table: SessionTable
    cameras: Cameras
    images: ImageSource
    labels: LabelSource
    results: Results
    clock: Clock
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())


class Session:
    """Works one delivery of a session request; `run` never raises."""

    def __init__(
        self,
        request: FramesSessionRequest,
        io: SessionIo,
        names: FleetNames,
        settings: SessionSettings,
        cancel: Cancel,
        last_attempt: bool = False,
    ) -> None:
        self.request = request
        self.io = io
        self.names = names
        self.settings = settings
        self.cancel = cancel
        self.last_attempt = last_attempt
        self.report = SessionReport()
        self._ref: messages.SessionRef | None = None
        self._first_analysed_ms: int | None = None

    @property
    def camera_id(self) -> str:
        return self.request.camera_id

    def run(self) -> SessionReport:
        try:
            self._work()
        except SessionCancelled as err:
            self.report.outcome = (
                Outcome.DUPLICATE if err.reason is CancelReason.SUPERSEDED else Outcome.ABANDONED
            )
            log.info(
                "camera %s: session %s %s", self.camera_id, self.request.session_id, err.reason
            )
        except (RetryableError, UnavailableError) as err:
            self._retry_or_fail(str(err))
        except FleetError as err:
            self._end_failed(str(err))
        except Exception as err:  # a bug: SQS brings the session back, then the DLQ
            log.exception("camera %s: session %s failed", self.camera_id, self.request.session_id)
            self._retry_or_fail(f"internal error: {err!r}")
        return self.report

    # The steps.

    def _work(self) -> None:
        request, io = self.request, self.io
        item = io.table.read(self.camera_id)
        if not self._is_current(item):
            self.report.outcome = Outcome.DUPLICATE
            return
        if not io.table.renew(
            self.camera_id, request.session_id, io.clock.now_ms() + self.settings.lease_ms
        ):
            self.report.outcome = Outcome.DUPLICATE
            return
        camera = io.cameras.camera(self.camera_id)
        self._ref = messages.SessionRef(
            processor=self.names.processor(self.camera_id),
            session_id=request.session_id,
            stream_arn=camera.stream_arn,
            start_ms=request.start_ms,
            duration_s=request.duration_s,
            tags=fleet_tags(self.names.fleet, self.camera_id),
        )
        wanted = wanted_classes(camera.spec.labels)
        already = self._republish(item)
        confirmations = Confirmations(
            wanted, self.settings.confirmations, self.settings.confirm_ms, already
        )
        if confirmations.complete:
            processed = _processed_by(item, request, self.settings.confirm_ms)
            self._end(ProcessorStatus.STOPPED, self._processed_message(processed, True), processed)
            return
        sampler = Sampler(
            Window(
                start_ms=request.start_ms,
                end_ms=request.end_ms,
                interval_ms=self.settings.search_ms,
                grace_ms=self.settings.grace_ms,
                retry_ms=self.settings.retry_ms,
                max_images=self.settings.max_images,
                first_ms=request.motion_ms,
            )
        )
        self._analyse(sampler, confirmations, camera, item.regions_of_interest)
        self._end(*self._outcome(sampler, confirmations))

    def _is_current(self, item: FramesCamera | None) -> TypeGuard[FramesCamera]:
        session_id = self.request.session_id
        if item is None or item.session is None or item.session.session_id != session_id:
            log.info(
                "camera %s: session %s is not the camera's: dropped", self.camera_id, session_id
            )
            return False
        if item.status in (ProcessorStatus.STOPPED, ProcessorStatus.FAILED):
            log.info(
                "camera %s: session %s already ended %s", self.camera_id, session_id, item.status
            )
            return False
        return True

    def _republish(self, item: FramesCamera) -> set[Label]:
        already = set()
        for label, message in sorted(item.confirmed.items()):
            self._checkpoint()
            self.io.results.publish(message)
            self.report.republished += 1
            if label in Label.__members__:
                already.add(Label(label))
        if already:
            log.info(
                "camera %s: session %s published again: %s",
                self.camera_id,
                self.request.session_id,
                ", ".join(sorted(already)),
            )
        return already

    def _analyse(
        self,
        sampler: Sampler,
        confirmations: Confirmations,
        camera: CameraInfo,
        regions: tuple[RegionOfInterest, ...],
    ) -> None:
        io, spec = self.io, camera.spec
        while not confirmations.complete:
            self._checkpoint()
            now = io.clock.now_ms()
            step = sampler.next_step(now)
            if isinstance(step, Finished):
                return
            if isinstance(step, Wait):
                io.clock.wait(max(0.0, (step.until_ms - now) / 1000), self.cancel)
                continue
            images = io.images.images(
                camera.stream_arn, step.start_ms, step.end_ms, step.interval_ms
            )
            for image in sampler.observe(step, images, io.clock.now_ms()):
                self._look(image, confirmations, spec, regions)
                if confirmations.complete:
                    return
                pace = self._pace(confirmations)
                if pace != sampler.interval_ms:
                    sampler.resume(image.timestamp_ms, pace)
                    break

    def _pace(self, confirmations: Confirmations) -> int:
        s = self.settings
        return s.confirm_ms if confirmations.confirming else s.search_ms

    def _look(
        self,
        image: StreamImage,
        confirmations: Confirmations,
        spec: CameraSpec,
        regions: tuple[RegionOfInterest, ...],
    ) -> None:
        assert image.content is not None
        self._checkpoint()
        classes = confirmations.remaining
        found = self.io.labels.labels(image.content, classes, spec.min_confidence)
        self.report.detect_calls += 1
        self.report.images += 1
        if self._first_analysed_ms is None:
            self._first_analysed_ms = image.timestamp_ms
        # From the first analysed image through the last, which stands for a confirmation interval.
        self.report.processed_ms = min(
            self.request.duration_s * 1000,
            image.timestamp_ms - self._first_analysed_ms + self.settings.confirm_ms,
        )
        seen = sightings(found, classes, spec.min_confidence, regions)
        for sighting in confirmations.observe(image.timestamp_ms, seen):
            self._report(sighting, image)

    def _report(self, sighting: Sighting, image: StreamImage) -> None:
        assert image.content is not None and self._ref is not None
        io, request, label = self.io, self.request, sighting.label.value
        label_id = io.new_id()
        frame_key, crop_key = messages.image_keys(
            self.names.results_prefix(self.camera_id),
            self._ref.processor,
            request.session_id,
            label,
            label_id,
        )
        frame_uri = io.results.put_jpeg(frame_key, image.content)
        crop_uri = None
        if sighting.box is not None:
            try:
                crop_uri = io.results.put_jpeg(crop_key, crop_jpeg(image.content, sighting.box))
            except InvalidInputError as err:  # the frame itself is stored: report without crop
                log.warning("camera %s: no crop of %s: %s", self.camera_id, label, err)
        detection = messages.Detection(
            label_id=label_id,
            name=label,
            confidence=sighting.confidence,
            box=sighting.box,
            producer_ms=image.timestamp_ms,
            frame_uri=frame_uri,
            crop_uri=crop_uri,
        )
        message = json.dumps(messages.label_detected(self._ref, io.new_id(), detection))
        recorded = io.table.record_confirmed(self.camera_id, request.session_id, label, message)
        if recorded is None:
            raise SessionCancelled(CancelReason.SUPERSEDED)
        io.results.publish(recorded)
        self.report.confirmed.append(sighting.label)
        log.info(
            "camera %s: session %s: %s (%.0f%%, %s) at producer time %d",
            self.camera_id,
            request.session_id,
            label,
            sighting.confidence,
            sighting.name,
            image.timestamp_ms,
        )

    # The end.

    def _outcome(
        self, sampler: Sampler, confirmations: Confirmations
    ) -> tuple[ProcessorStatus, str, int]:
        processed = self.report.processed_ms
        if sampler.images_with_content == 0 and sampler.media_errors:
            return (
                ProcessorStatus.FAILED,
                f"The video of {self.camera_id} could not be decoded "
                f"({sampler.media_errors} images from producer timestamp {self.request.start_ms}).",
                processed,
            )
        if sampler.images_with_content == 0:
            return (
                ProcessorStatus.STOPPED,
                f"No video in stream {self.camera_id} from producer timestamp "
                f"{self.request.start_ms} for {self.request.duration_s} s.",
                0,
            )
        return (
            ProcessorStatus.STOPPED,
            self._processed_message(processed, confirmations.complete),
            processed,
        )

    def _processed_message(self, processed: int, early: bool) -> str:
        text = (
            f"Processed {processed} ms of video of {self.camera_id} from producer timestamp "
            f"{self.request.start_ms}."
        )
        return text + (" Every label asked for was detected." if early else "")

    def _end(self, status: ProcessorStatus, message: str, processed_ms: int) -> None:
        """Publish the completion, then end the item: a crash in between publishes it again."""
        assert self._ref is not None
        self._checkpoint()
        completion = messages.processing_complete(
            self._ref, messages.complete_event_id(self.request.session_id), processed_ms, message
        )
        self.io.results.publish(json.dumps(completion))
        self._finish(status, message, processed_ms)

    def _finish(self, status: ProcessorStatus, message: str, processed_ms: int) -> None:
        self.io.table.finish(self.camera_id, self.request.session_id, status, message, processed_ms)
        self.report.outcome = Outcome.ENDED
        self.report.status, self.report.message = status, message
        self.report.processed_ms = processed_ms
        log.info(
            "camera %s: session %s ended %s: %s",
            self.camera_id,
            self.request.session_id,
            status,
            message,
        )

    def _end_failed(self, reason: str) -> None:
        """End FAILED: the completion when it can be published, then the item."""
        processed = self.report.processed_ms
        log.warning(
            "camera %s: session %s failed: %s", self.camera_id, self.request.session_id, reason
        )
        try:
            if self._ref is not None:
                completion = messages.processing_complete(
                    self._ref,
                    messages.complete_event_id(self.request.session_id),
                    processed,
                    reason,
                )
                self.io.results.publish(json.dumps(completion))
        except FleetError as err:
            log.warning("camera %s: no completion message: %s", self.camera_id, err)
        try:
            self._finish(ProcessorStatus.FAILED, reason, processed)
        except FleetError as err:  # the item keeps its lease; SQS delivers the session again
            log.warning("camera %s: session not ended: %s", self.camera_id, err)
            self.report.outcome = Outcome.RETRY

    def _retry_or_fail(self, reason: str) -> None:
        if self.last_attempt:
            self._end_failed(f"{reason} (last delivery)")
            return
        log.warning(
            "camera %s: session %s will be tried again: %s",
            self.camera_id,
            self.request.session_id,
            reason,
        )
        self.report.outcome = Outcome.RETRY
        self.report.message = reason

    def _checkpoint(self) -> None:
        if self.cancel.is_set():
            raise SessionCancelled(self.cancel.reason or CancelReason.STOPPING)


def _processed_by(item: FramesCamera, request: FramesSessionRequest, interval_ms: int) -> int:
    """How much video an earlier delivery analysed before every class was confirmed: up to its
    last detection's frame (it stopped there)."""
    latest = request.start_ms - interval_ms
    for message in item.confirmed.values():
        try:
            event = parse_event(json.loads(message))
        except (MalformedMessageError, json.JSONDecodeError):
            continue
        if isinstance(event, LabelDetectedEvent):
            for label in event.labels:
                mapping = label.video_mapping.kinesis_video_mapping if label.video_mapping else None
                if mapping is not None and mapping.producer_timestamp is not None:
                    latest = max(latest, int(mapping.producer_timestamp))
    return max(0, min(request.duration_s * 1000, latest - request.start_ms + interval_ms))
