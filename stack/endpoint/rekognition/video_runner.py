"""Local stream processing: a label detection session that really analyses the camera's video.

``VideoSessionRunner`` implements the ``SessionRunner`` protocol: per started session, in a
thread of its own, it reads the camera's video from the local fragment store (``video_source``),
analyses a few frames a second (``detection``), writes each newly confirmed label's frame and
crop to S3 and publishes ``LABEL_DETECTED`` (``notifications``), and at the end publishes
``STREAM_PROCESSING_COMPLETE`` and ends the session ``STOPPED`` (``FAILED`` with the reason when
the video cannot be decoded or the results cannot be written). A failure ends that session, never
the endpoint.

Results go through the endpoint's own APIs as the processor's role (boto3 + STS), as Rekognition
writes them on AWS: they take the path of every other request (validation, state lock,
persistence, request log, faults) and SNS delivers them to its subscriptions. Another detector
(``detector_factory``) or another place for the results (``results``) fits behind the same
protocol.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import boto3
import cv2
import numpy as np
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from stack.endpoint.rekognition import notifications
from stack.endpoint.rekognition.detection import (
    LOCALLY_DETECTED,
    Detection,
    FirstSightings,
    Label,
    detector_for,
    in_regions,
    min_confidence,
    wanted_labels,
)
from stack.endpoint.rekognition.detector_pool import DetectorFactory, DetectorPool
from stack.endpoint.rekognition.sessions import (
    SessionContext,
    SessionEndCallback,
    SessionEndStatus,
    SessionOutcome,
)
from stack.endpoint.rekognition.video_source import Clock, Frame, VideoWindow, wall_clock_ms

logger = logging.getLogger(__name__)

_STREAM_NAME = re.compile(r"^arn:[a-z\d-]+:kinesisvideo:[a-z\d-]+:\d{12}:stream/([^/]+)(/|$)")
_JPEG_QUALITY = 90
# Younger than the shortest credentials STS issues (15 min), with room for a session's length.
_ROLE_KEPT_S = 600.0


class ResultsError(Exception):
    """The session's results could not be written (S3) or published (SNS)."""


class ResultsSink(Protocol):
    def put_jpeg(self, bucket: str, key: str, body: bytes) -> None: ...

    def publish(self, topic_arn: str, subject: str, message: str) -> None: ...


ResultsFactory = Callable[[SessionContext], ResultsSink]


@dataclass(frozen=True)
class AnalysisSettings:
    frames_per_second: float = 2.0  # analysed frames per second of video
    grace_seconds: float = 5.0  # wait for video this long after the window's end
    max_parallel: int = 2  # sessions analysing a frame at the same time (CPU)
    confirm_frames: int = 2  # analysed frames in a row before a label counts
    poll_seconds: float = 0.25


def stream_name(stream_arn: str) -> str:
    match = _STREAM_NAME.match(stream_arn)
    if match is None or match.group(1) in (".", ".."):  # a directory name under the store
        raise ValueError(f"not a Kinesis video stream ARN: {stream_arn}")
    return match.group(1)


def _region_of(arn: str, default: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else default


@dataclass
class _Role:
    """A role's credentials, as assumed at `assumed_at` (monotonic), and the clients made with
    them, by (service, region)."""

    assumed_at: float
    credentials: dict[str, str]
    clients: dict[tuple[str, str], Any] = field(default_factory=dict)


class EndpointResults:
    """Results written through the local endpoint as the processor's role (boto3 + STS).

    One boto3 session makes every session's clients (a fresh one parses the service models
    again). Making a client or assuming a role costs the endpoint's CPU, which many sessions
    starting at once would take from the starts themselves, so nothing is done at a session's
    start: a role is assumed when one of its sessions first writes, and its S3 and SNS clients are
    kept for its next sessions while their credentials are valid. A role that cannot be assumed
    fails the session at its first write. boto3 sessions are not thread-safe, so clients are made
    under a lock; the clients themselves are.
    """

    def __init__(self, endpoint_url: Callable[[], str]) -> None:
        self._endpoint_url = endpoint_url
        self._config = Config(retries={"max_attempts": 3, "mode": "standard"})
        self._boto = boto3.session.Session()
        self._lock = threading.Lock()
        self._sts: dict[str, Any] = {}
        self._roles: dict[str, _Role] = {}  # by role ARN

    def _client(
        self, service: Literal["s3", "sns", "sts"], region: str, credentials: dict[str, str]
    ) -> Any:
        with self._lock:
            return self._boto.client(
                service,
                endpoint_url=self._endpoint_url(),
                region_name=region,
                config=self._config,
                aws_access_key_id=credentials["aws_access_key_id"],
                aws_secret_access_key=credentials["aws_secret_access_key"],
                aws_session_token=credentials.get("aws_session_token"),
            )

    def _role_client(
        self, service: Literal["s3", "sns"], region: str, context: SessionContext
    ) -> Any:
        """The role's client for `service` in `region`; the role is assumed once for all its
        clients (a session with a detection writes to S3 and publishes to SNS)."""
        now = time.monotonic()
        with self._lock:
            role = self._roles.get(context.role_arn)
        if role is None or now - role.assumed_at >= _ROLE_KEPT_S:
            role = _Role(now, self._assume(context))
            with self._lock:
                self._roles[context.role_arn] = role
        client = role.clients.get((service, region))
        if client is None:  # two threads may both make one: either will do
            client = role.clients[service, region] = self._client(service, region, role.credentials)
        return client

    def _assume(self, context: SessionContext) -> dict[str, str]:
        try:
            credentials = self._sts_client(context.region).assume_role(
                RoleArn=context.role_arn,
                RoleSessionName=f"rekognition-{context.session_id}"[:64],
            )["Credentials"]
        except (BotoCoreError, ClientError) as err:
            raise ResultsError(f"cannot assume role {context.role_arn}: {err}") from err
        return {
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        }

    def _sts_client(self, region: str) -> Any:
        if region not in self._sts:  # two threads may both make one: either will do
            self._sts[region] = self._client(
                "sts",
                region,
                {"aws_access_key_id": "rekognition", "aws_secret_access_key": "rekognition"},
            )
        return self._sts[region]

    def __call__(self, context: SessionContext) -> ResultsSink:
        topic = (context.notification_channel or {}).get("SNSTopicArn", "")
        return _BotoSink(
            functools.partial(self._role_client, "s3", context.region, context),
            functools.partial(self._role_client, "sns", _region_of(topic, context.region), context),
        )


class _BotoSink:
    """A session's writes; each client is made at its first use, in the session's thread."""

    def __init__(self, s3: Callable[[], Any], sns: Callable[[], Any]) -> None:
        self._s3 = functools.cache(s3)
        self._sns = functools.cache(sns)

    def put_jpeg(self, bucket: str, key: str, body: bytes) -> None:
        try:
            self._s3().put_object(Bucket=bucket, Key=key, Body=body, ContentType="image/jpeg")
        except (BotoCoreError, ClientError) as err:
            raise ResultsError(f"cannot write s3://{bucket}/{key}: {err}") from err

    def publish(self, topic_arn: str, subject: str, message: str) -> None:
        try:
            self._sns().publish(TopicArn=topic_arn, Subject=subject, Message=message)
        except (BotoCoreError, ClientError) as err:
            raise ResultsError(f"cannot publish to {topic_arn}: {err}") from err


@dataclass
class _Session:
    context: SessionContext
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class VideoSessionRunner:
    """Runs each session in its own thread over the fragments under `fragment_root`."""

    def __init__(
        self,
        fragment_root: Path,
        results: ResultsFactory,
        settings: AnalysisSettings | None = None,
        *,
        detector_factory: DetectorFactory = detector_for,
        clock: Clock = wall_clock_ms,
    ) -> None:
        self.fragment_root = fragment_root
        self.settings = settings or AnalysisSettings()
        self._results = results
        self._detectors = DetectorPool(detector_factory, self.settings.max_parallel)
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

    def start(self, context: SessionContext, on_end: SessionEndCallback) -> None:
        session = _Session(context)
        session.thread = threading.Thread(
            target=self._run,
            args=(session, on_end),
            name=f"session-{context.processor_name}",
            daemon=True,
        )
        with self._lock:
            self._sessions[context.session_id] = session
        session.thread.start()

    def stop(self, session_id: str) -> None:
        with self._lock:
            session = self._sessions.get(session_id)
        if session is not None:
            session.stop.set()

    def stop_all(self, timeout: float = 5.0) -> None:
        with self._lock:
            sessions = list(self._sessions.values())
        for session in sessions:
            session.stop.set()
        for session in sessions:
            if session.thread is not None:
                session.thread.join(timeout)

    def active_sessions(self) -> list[str]:
        with self._lock:
            return list(self._sessions)

    def _run(self, session: _Session, on_end: SessionEndCallback) -> None:
        context = session.context
        try:
            analysis = _Analysis(
                context,
                session.stop,
                self.fragment_root,
                self.settings,
                self._results,
                self._detectors,
                self._clock,
            )
            outcome = analysis.run()
        except Exception as err:
            logger.exception(
                "session %s of processor %s failed", context.session_id, context.processor_name
            )
            outcome = SessionOutcome(SessionEndStatus.FAILED, f"internal error: {err}")
        finally:
            with self._lock:
                self._sessions.pop(context.session_id, None)
        logger.info(
            "session %s of processor %s ended %s: %s",
            context.session_id,
            context.processor_name,
            outcome.status.value,
            outcome.message,
        )
        on_end(context.session_id, outcome)


class _Analysis:
    """One session's work, from the fragments to the notifications."""

    def __init__(
        self,
        context: SessionContext,
        stop: threading.Event,
        fragment_root: Path,
        settings: AnalysisSettings,
        results: ResultsFactory,
        detectors: DetectorPool,
        clock: Clock,
    ) -> None:
        self.context = context
        self.stop = stop
        self.fragment_root = fragment_root
        self.settings = settings
        self.results = results
        self.detectors = detectors
        self.clock = clock
        self.bucket = notifications.results_bucket(self.context)
        self.topic = (self.context.notification_channel or {}).get("SNSTopicArn", "")

    def run(self) -> SessionOutcome:
        context = self.context
        try:
            start_ms = _start_ms(context)
            camera = stream_name(context.kvs_stream_arn)
        except ValueError as err:
            return SessionOutcome(SessionEndStatus.FAILED, str(err))
        labels = wanted_labels(context.settings)
        if labels - LOCALLY_DETECTED:
            logger.info(
                "session %s of %s: %s not detected by the local endpoint",
                context.session_id,
                camera,
                ", ".join(sorted(labels - LOCALLY_DETECTED)),
            )
        settings = self.settings
        window = VideoWindow(
            self.fragment_root / camera,
            start_ms,
            start_ms + context.max_duration_seconds * 1000,
            sample_interval_ms=round(1000 / settings.frames_per_second),
            grace_ms=round(settings.grace_seconds * 1000),
            stop=self.stop,
            clock=self.clock,
            poll_seconds=settings.poll_seconds,
        )
        try:
            sink = self.results(context)
            self._analyse(window, sink, labels)
        except ResultsError as err:
            return SessionOutcome(SessionEndStatus.FAILED, str(err))
        outcome = _outcome(window, camera, self.stop.is_set())
        try:
            self._publish(
                sink,
                notifications.processing_complete(
                    context, str(uuid.uuid4()), window.processed_ms, outcome.message or ""
                ),
            )
        except ResultsError as err:
            if self.stop.is_set():  # stopped, maybe by a reset: nothing to publish to
                logger.info("session %s: no completion message: %s", context.session_id, err)
            else:
                return SessionOutcome(SessionEndStatus.FAILED, str(err))
        return outcome

    def _analyse(self, window: VideoWindow, sink: ResultsSink, labels: frozenset[Label]) -> None:
        context = self.context
        sightings = FirstSightings(
            labels, min_confidence(context.settings), self.settings.confirm_frames
        )
        for frame in window.frames():
            with self.detectors.lent(labels) as detector:
                found = detector.detect(frame.image)
            found = [d for d in found if in_regions(d.box, context.regions_of_interest)]
            for detection in sightings.observe(found):
                self._report(sink, frame, detection)

    def _report(self, sink: ResultsSink, frame: Frame, detection: Detection) -> None:
        context = self.context
        label_id = str(uuid.uuid4())
        frame_key, crop_key = notifications.image_keys(context, detection.label.value, label_id)
        sink.put_jpeg(self.bucket, frame_key, _jpeg(frame.image))
        sink.put_jpeg(self.bucket, crop_key, _jpeg(_crop(frame.image, detection.box)))
        notice = notifications.LabelNotice(
            label_id=label_id,
            name=detection.label.value,
            confidence=detection.confidence,
            box=detection.box,
            frame=notifications.FrameRef(
                fragment_number=frame.fragment.number,
                server_timestamp_ms=frame.server_timestamp_ms,
                producer_timestamp_ms=frame.fragment.start_ms,
                frame_offset_ms=frame.offset_ms,
            ),
            frame_image_uri=notifications.s3_uri(self.bucket, frame_key),
            cropped_image_uri=notifications.s3_uri(self.bucket, crop_key),
        )
        self._publish(sink, notifications.label_detected(context, str(uuid.uuid4()), notice))
        logger.info(
            "session %s of processor %s: %s (%.0f%%) at producer time %d",
            context.session_id,
            context.processor_name,
            detection.label.value,
            detection.confidence,
            frame.producer_ms,
        )

    def _publish(self, sink: ResultsSink, message: dict[str, Any]) -> None:
        if not self.topic:
            raise ResultsError("the processor has no NotificationChannel.SNSTopicArn")
        sink.publish(self.topic, notifications.SUBJECT, json.dumps(message))


def _start_ms(context: SessionContext) -> int:
    if context.producer_timestamp_ms is not None:
        return context.producer_timestamp_ms
    number = context.fragment_number or ""
    if not number.isdigit():  # a local fragment's number is its start in ms
        raise ValueError(f"no fragment {number!r} in the local fragment store")
    return int(number)


def _outcome(window: VideoWindow, camera: str, stopped: bool) -> SessionOutcome:
    seconds = (window.end_ms - window.start_ms) // 1000
    processed = window.processed_ms
    if stopped:
        return SessionOutcome(
            SessionEndStatus.STOPPED, f"Stopped after {processed} ms of video of {camera}."
        )
    if window.frames_read == 0 and window.unreadable:
        names = ", ".join(path.name for path in window.unreadable)
        return SessionOutcome(
            SessionEndStatus.FAILED, f"The video of {camera} could not be decoded ({names})."
        )
    if window.frames_read == 0:
        return SessionOutcome(
            SessionEndStatus.STOPPED,
            f"No video in stream {camera} from producer timestamp {window.start_ms} "
            f"for {seconds} s.",
        )
    return SessionOutcome(
        SessionEndStatus.STOPPED,
        f"Processed {processed} ms of video of {camera} from producer timestamp {window.start_ms}.",
    )


def _jpeg(image: np.ndarray[Any, Any]) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
    if not ok:
        raise ResultsError("cannot encode a JPEG")
    return bytes(data.tobytes())


def _crop(image: np.ndarray[Any, Any], box: notifications.Box) -> np.ndarray[Any, Any]:
    height, width = image.shape[:2]
    left, top = int(box.left * width), int(box.top * height)
    right = max(left + 1, min(width, round((box.left + box.width) * width)))
    bottom = max(top + 1, min(height, round((box.top + box.height) * height)))
    return image[top:bottom, left:right]
