"""The results consumer's decisions, pure: message in, what to do out (triage, duplicates, face
recognition and quiet people, the notification cooldown, texts, retry delays, event ids). No I/O;
the clock is passed in.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from cloud.clip_store import ClipJob
from cloud.errors import InvalidInputError
from cloud.faces.models import FaceRecognition, FaceStatus
from cloud.links import MediaLink
from cloud.models import Label
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
from flows.events import DetectionPayload, FaceSeen

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
class MakeClip:
    job: ClipJob


@dataclass(frozen=True)
class Reject:
    reason: str


Triage = StoreDetections | EndSession | MakeClip | Reject
_CLIP_JOB_START = '{"kind":"clip-job"'


def triage(body: str, names: FleetNames, received_at: datetime) -> Triage:
    """What a results message asks for: detections to store, a session end to record, or a
    rejection with a one-line reason (to the dead-letter queue); or a session's clip to make (a
    job the consumer sent itself). `received_at` (when SQS got it) dates a message that carries
    no time of its own."""
    if body.startswith(_CLIP_JOB_START):
        try:
            return MakeClip(ClipJob.model_validate_json(body))
        except ValidationError as err:
            return Reject(f"clip job: {err.errors()[0]['msg']}")
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


def wants_faces(record: DetectionRecord) -> bool:
    """Whether the detection's faces are to be searched, if its camera asks for it: a person
    whose faces are not searched yet (a redelivery reuses the stored recognition)."""
    return record.label == Label.PERSON.value and record.faces is None


def everyone_named(faces: FaceRecognition | None) -> bool:
    """Every face seen was named (then whether they are all quiet is worth asking)."""
    return (
        faces is not None
        and faces.status is FaceStatus.NAMED
        and all(face.name is not None for face in faces.faces)
    )


def is_quiet(faces: FaceRecognition | None, quiet: frozenset[str]) -> bool:
    """Recorded without a notification: every face is named and every name is quiet."""
    return everyone_named(faces) and faces is not None and set(faces.names) <= quiet


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


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def _unknown(count: int, among_others: bool) -> str:
    if count > 1:
        return f"{count} unknown people"
    return "an unknown person" if among_others else "unknown person"


def _percent(value: float) -> str:
    """Rounded down: a similarity shown is never above the one measured."""
    return f"{math.floor(value)}%"


def _named(faces: FaceRecognition) -> tuple[str, list[str]]:
    """Who (each name once, at its best similarity, then the unknown faces) and the
    similarities, in the same order."""
    best: dict[str, float | None] = {}
    for face in faces.faces:
        if face.name is not None:
            measured = [v for v in (best.get(face.name), face.similarity) if v is not None]
            best[face.name] = max(measured) if measured else None
    unknown = sum(face.name is None for face in faces.faces)
    who = list(best) + ([_unknown(unknown, among_others=True)] if unknown else [])
    return _and(who), [_percent(v) for v in best.values() if v is not None]


def _who_and_detail(record: DetectionRecord) -> tuple[str, str]:
    """The subject (who at which camera) and what follows it before the time."""
    where = f"at {record.camera_id}"
    confidence = f", {record.confidence:.0f}%" if record.confidence is not None else ""
    faces = record.faces
    if faces is None or faces.status is FaceStatus.FAILED:  # not searched, or the search failed
        return f"{record.label} {where}", confidence
    if faces.status is FaceStatus.NO_FACE:
        return f"{record.label} {where} (no face visible)", confidence
    if faces.status is FaceStatus.UNKNOWN:
        return f"{_unknown(max(1, len(faces.faces)), among_others=False)} {where}", ""
    who, similarities = _named(faces)
    return f"{who} {where}", "".join(f", {s}" for s in similarities)


def notification_subject(record: DetectionRecord) -> str:
    """SNS subjects are ASCII, at most 100 characters (names, labels and camera ids are)."""
    return _who_and_detail(record)[0][:100]


def notification_text(record: DetectionRecord) -> str:
    """For example `PERSON at front-door, 97% — 2024-06-22 20:43:43 UTC`; with faces searched
    `alice at front-door, 99% — ...`, `alice and bob at front-door, 99%, 97% — ...`,
    `alice and an unknown person at front-door, 99% — ...`, `unknown person at front-door — ...`
    or `PERSON at front-door (no face visible), 97% — ...`. A failed search says nothing of
    faces."""
    who, detail = _who_and_detail(record)
    return f"{who}{detail} — {readable_utc(record.detected_at)}"


def notification_message(
    record: DetectionRecord, frame: MediaLink | None, clip: MediaLink | None = None
) -> str:
    """The SNS message: the text, then the frame's link and the clip's, each on a line of its
    own (left out when it could not be made: the notification goes without it). The clip is
    made when the session ends: its link answers once it is."""
    lines = [notification_text(record)]
    if frame is not None:
        lines.append(f"Frame: {frame.url}")
    if clip is not None:
        lines.append(f"Clip (when the event ends): {clip.url}")
    return "\n".join(lines)


def _faces_seen(faces: FaceRecognition) -> list[FaceSeen]:
    return [FaceSeen(name=face.name, similarity=face.similarity) for face in faces.faces]


def webhook_payload(
    record: DetectionRecord,
    fleet: str,
    frame: MediaLink | None = None,
    clip: MediaLink | None = None,
) -> dict[str, Any]:
    """`faces` and `face_status` are null when the camera's faces are not searched;
    `frame_url` and `frame_url_expires_at` when the frame's link could not be made, `clip_url`
    and `clip_url_expires_at` likewise (the clip's link answers once the session has ended)."""
    faces = record.faces
    return {
        "fleet": fleet,
        "camera": record.camera_id,
        "label": record.label,
        "confidence": record.confidence,
        "time": iso_ms(record.detected_at),
        "session": record.session_id,
        "frame_uri": record.frame_uri,
        "crop_uri": record.crop_uri,
        "faces": None if faces is None else [f.model_dump(mode="json") for f in _faces_seen(faces)],
        "face_status": None if faces is None else faces.status.value,
        "text": notification_text(record),
        "frame_url": None if frame is None else frame.url,
        "frame_url_expires_at": None if frame is None else iso_ms(frame.expires_at),
        "clip_url": None if clip is None else clip.url,
        "clip_url_expires_at": None if clip is None else iso_ms(clip.expires_at),
    }


def detection_payload(record: DetectionRecord) -> DetectionPayload:
    """The `camera.detection` event's payload; `faces` and `face_status` only when searched."""
    searched: dict[str, Any] = {}
    if record.faces is not None:
        searched = {"faces": _faces_seen(record.faces), "face_status": record.faces.status}
    return DetectionPayload(
        label=record.label,
        labels=[record.label],
        confidence=record.confidence,
        session_id=record.session_id,
        detected_at=iso_ms(record.detected_at),
        frame_uri=record.frame_uri,
        crop_uri=record.crop_uri,
        notification=record.notification,
        **searched,
    )


def retry_delay_seconds(receive_count: int) -> int:
    """How long a message that failed stays hidden before it is tried again: 5, 10, 20... s."""
    exponent: int = max(0, min(receive_count - 1, 16))
    return min(MAX_RETRY_DELAY_S, 5 << exponent)


def event_id(fleet: str, record: DetectionRecord) -> uuid.UUID:
    """The same detection gives the same event id: the Prefect server stores a redelivery once."""
    return uuid.uuid5(_EVENT_NAMESPACE, f"{fleet}/{record.camera_id}/{record.key}")
