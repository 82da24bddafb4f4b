"""The results consumer's decisions, pure: message in, what to do out (triage, duplicates, the
notification cooldown, texts, retry delays, event ids). No I/O; the clock is passed in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from cloud.errors import InvalidInputError
from cloud.naming import FleetNames
from cloud.rekognition_messages import (
    CooldownState,
    DetectionRecord,
    LabelDetectedEvent,
    MalformedMessageError,
    NotificationState,
    SessionEndRecord,
    detection_records,
    iso_ms,
    parse_notification,
    readable_utc,
    session_end_record,
)

MAX_RETRY_DELAY_S = 300
_EVENT_NAMESPACE = uuid.UUID("1b0c7f1e-4a57-4cbb-9d55-0d1c6a1e7f3a")


@dataclass(frozen=True)
class StoreDetections:
    camera_id: str
    records: tuple[DetectionRecord, ...]


@dataclass(frozen=True)
class EndSession:
    camera_id: str
    record: SessionEndRecord


@dataclass(frozen=True)
class Reject:
    reason: str


Triage = StoreDetections | EndSession | Reject


def triage(body: str, names: FleetNames, received_at: datetime) -> Triage:
    """What a results message asks for: detections to store, a session end to record, or a
    rejection with a one-line reason (to the dead-letter queue). `received_at` (when SQS got it)
    dates a message that carries no time of its own."""
    try:
        parsed = parse_notification(body)
    except MalformedMessageError as err:
        return Reject(err.reason)
    if parsed.topic_arn is not None and parsed.topic_arn != names.topic_arn():
        return Reject(f"from topic {parsed.topic_arn}, not the fleet's {names.topic_arn()}")
    event = parsed.event
    try:
        camera_id = names.camera_from_processor(event.processor)
    except InvalidInputError as err:
        return Reject(f"startStreamProcessorRequest.name: {err}")
    when = parsed.published_at or received_at
    if isinstance(event, LabelDetectedEvent):
        return StoreDetections(camera_id, tuple(detection_records(event, camera_id, when)))
    return EndSession(camera_id, session_end_record(event, camera_id, when))


class Step(StrEnum):
    PROCESS = "process"  # decide the notification, emit the event
    DUPLICATE = "duplicate"  # a redelivery of a detection already handled


def after_store(created: bool, existing: DetectionRecord | None) -> Step:
    """Work to do for a detection that is new, or whose earlier attempt stopped before the
    notification decision; nothing for a redelivered duplicate."""
    if created or existing is None or existing.notification is NotificationState.PENDING:
        return Step.PROCESS
    return Step.DUPLICATE


class Notify(StrEnum):
    SEND = "send"
    SUPPRESS = "suppress"


def decide_notification(
    cooldown: CooldownState | None, detection_key: str, now: datetime, cooldown_s: float
) -> Notify:
    """The per-camera cooldown: notify when the camera has no notification within it, or when
    this detection holds it already (an earlier attempt claimed it and failed to publish)."""
    if cooldown is None or cooldown.detection_key == detection_key:
        return Notify.SEND
    if now - cooldown.notified_at >= timedelta(seconds=cooldown_s):
        return Notify.SEND
    return Notify.SUPPRESS


def notification_subject(record: DetectionRecord) -> str:
    """SNS subjects are ASCII, at most 100 characters."""
    return f"{record.label} at {record.camera_id}"[:100]


def notification_text(record: DetectionRecord) -> str:
    """For example `PERSON at front-door, 97% — 2024-06-22 20:43:43 UTC`."""
    confidence = f", {record.confidence:.0f}%" if record.confidence is not None else ""
    when = readable_utc(record.detected_at)
    return f"{record.label} at {record.camera_id}{confidence} — {when}"


def webhook_payload(record: DetectionRecord, fleet: str) -> dict[str, Any]:
    return {
        "fleet": fleet,
        "camera": record.camera_id,
        "label": record.label,
        "confidence": record.confidence,
        "time": iso_ms(record.detected_at),
        "session": record.session_id,
        "frame_uri": record.frame_uri,
        "crop_uri": record.crop_uri,
        "text": notification_text(record),
    }


def retry_delay_seconds(receive_count: int) -> int:
    """How long a message that failed stays hidden before it is tried again: 5, 10, 20... s."""
    exponent: int = max(0, min(receive_count - 1, 16))
    return min(MAX_RETRY_DELAY_S, 5 << exponent)


def event_id(fleet: str, record: DetectionRecord) -> uuid.UUID:
    """The same detection gives the same event id: the Prefect server stores a redelivery once."""
    return uuid.uuid5(_EVENT_NAMESPACE, f"{fleet}/{record.camera_id}/{record.key}")
