"""What Rekognition's ConnectedHome stream processors publish, and what the fleet keeps of it.

Wire models of the documented `LABEL_DETECTED` and `STREAM_PROCESSING_COMPLETE` messages (extra
fields allowed, strict on the fields used), `parse_notification` for the SNS envelope, the raw
message and the documentation's rendering, and the records kept. Pure: no I/O.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from cloud.errors import InvalidInputError
from cloud.faces.models import FaceRecognition, FaceStatus
from cloud.models import CameraId, Model

LABEL_DETECTED = "LABEL_DETECTED"
STREAM_PROCESSING_COMPLETE = "STREAM_PROCESSING_COMPLETE"
_MS_THRESHOLD = 1e11  # 1973 in milliseconds, year 5138 in seconds
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2100, 1, 1, tzinfo=UTC)

S3Uri = Annotated[str, StringConstraints(pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$")]
LabelName = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z_]{0,31}$")]
NonEmpty = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class MalformedMessageError(InvalidInputError):
    """A results message the fleet cannot use; `reason` is one line for the dead-letter queue."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# The wire: AWS's spelling, unknown fields kept.


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)


class KinesisVideoInput(_Wire):
    stream_arn: Annotated[str, StringConstraints(pattern=r"^arn:aws[a-z-]*:kinesisvideo:")] = Field(
        alias="streamArn"
    )
    processed_video_duration_millis: float | None = Field(
        None, alias="processedVideoDurationMillis", ge=0
    )


class InputInformation(_Wire):
    kinesis_video: KinesisVideoInput = Field(alias="kinesisVideo")


class EventNamespace(_Wire):
    type: NonEmpty


class KinesisVideoMapping(_Wire):
    fragment_number: str | None = Field(None, alias="fragmentNumber")
    server_timestamp: float | None = Field(None, alias="serverTimestamp")
    producer_timestamp: float | None = Field(None, alias="producerTimestamp")
    frame_offset_millis: float = Field(0, alias="frameOffsetMillis", ge=0)

    @field_validator("server_timestamp", "producer_timestamp")
    @classmethod
    def _plausible(cls, value: float | None) -> float | None:
        if value is not None:
            epoch_ms_to_datetime(value)
        return value

    def detected_at(self) -> datetime | None:
        base = self.producer_timestamp
        if base is None:
            base = self.server_timestamp
        if base is None:
            return None
        return epoch_ms_to_datetime(base) + timedelta(milliseconds=self.frame_offset_millis)


class VideoMapping(_Wire):
    kinesis_video_mapping: KinesisVideoMapping | None = Field(None, alias="kinesisVideoMapping")


class WireBox(_Wire):
    left: float = Field(ge=0, le=1)
    top: float = Field(ge=0, le=1)
    width: float = Field(ge=0, le=1)
    height: float = Field(ge=0, le=1)


class DetectedLabel(_Wire):
    id: str | None = None
    name: LabelName
    confidence: float | None = Field(None, ge=0, le=100)
    frame_image_uri: S3Uri = Field(alias="frameImageUri")
    cropped_image_uri: S3Uri | None = Field(None, alias="croppedImageUri")
    video_mapping: VideoMapping | None = Field(None, alias="videoMapping")
    bounding_box: WireBox | None = Field(None, alias="boundingBox")

    def detected_at(self) -> datetime | None:
        mapping = self.video_mapping.kinesis_video_mapping if self.video_mapping else None
        return mapping.detected_at() if mapping else None

    @property
    def fragment_number(self) -> str | None:
        mapping = self.video_mapping.kinesis_video_mapping if self.video_mapping else None
        return mapping.fragment_number if mapping else None


class StartRequest(_Wire):
    """The `StartStreamProcessor` request that began the session: it names the processor."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_.\-]{1,128}$")] = Field(
        validation_alias=AliasChoices("name", "Name")
    )


class ProcessingResults(_Wire):
    message: str | None = None


class _RekognitionEvent(_Wire):
    input_information: InputInformation = Field(alias="inputInformation")
    event_namespace: EventNamespace = Field(alias="eventNamespace")
    event_id: str | None = Field(None, alias="eventId")
    tags: dict[str, str] = Field(default_factory=dict)
    session_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")] = Field(
        alias="sessionId"
    )
    start_stream_processor_request: StartRequest = Field(alias="startStreamProcessorRequest")

    @property
    def processor(self) -> str:
        return self.start_stream_processor_request.name


class LabelDetectedEvent(_RekognitionEvent):
    labels: list[DetectedLabel] = Field(min_length=1)


class StreamProcessingCompleteEvent(_RekognitionEvent):
    stream_processing_results: ProcessingResults | None = Field(
        None, alias="streamProcessingResults"
    )


RekognitionEvent = LabelDetectedEvent | StreamProcessingCompleteEvent


class SnsEnvelope(_Wire):
    """What SNS wraps a message in for an SQS subscription without raw message delivery."""

    type: Literal["Notification"] | None = Field(None, alias="Type")
    message_id: str | None = Field(None, alias="MessageId")
    topic_arn: str | None = Field(None, alias="TopicArn")
    subject: str | None = Field(None, alias="Subject")
    message: str | dict[str, Any] = Field(alias="Message")
    timestamp: datetime | None = Field(None, alias="Timestamp")


class ResultNotification(BaseModel):
    """A parsed message: the Rekognition event and what its SNS envelope said, if it had one."""

    model_config = ConfigDict(frozen=True)

    event: LabelDetectedEvent | StreamProcessingCompleteEvent
    sns_message_id: str | None = None
    topic_arn: str | None = None
    published_at: datetime | None = None


def epoch_ms_to_datetime(value: float) -> datetime:
    """Epoch milliseconds (or, below 1e11, seconds) as an aware UTC time within 2000..2100."""
    ms = value if value >= _MS_THRESHOLD else value * 1000
    try:
        moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError) as err:
        raise ValueError(f"{value!r} is not an epoch time in milliseconds") from err
    if not _EARLIEST <= moment < _LATEST:
        raise ValueError(f"{value!r} is not an epoch time in milliseconds (2000 to 2100)")
    return moment


def _describe(err: ValidationError, limit: int = 3) -> str:
    parts = []
    for detail in err.errors()[:limit]:
        where = ".".join(str(p) for p in detail["loc"]) or "message"
        parts.append(f"{where}: {detail['msg']}")
    more = len(err.errors()) - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _json_object(text: str | bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MalformedMessageError(f"{what} is not JSON: {err}") from err
    if not isinstance(value, dict):
        raise MalformedMessageError(f"{what} is not a JSON object but {type(value).__name__}")
    return value


def parse_event(document: dict[str, Any]) -> RekognitionEvent:
    """A Rekognition message (the SNS `Message`), by its `eventNamespace.type`."""
    namespace = document.get("eventNamespace")
    kind = namespace.get("type") if isinstance(namespace, dict) else None
    model: type[LabelDetectedEvent] | type[StreamProcessingCompleteEvent]
    if kind == LABEL_DETECTED:
        model = LabelDetectedEvent
    elif kind == STREAM_PROCESSING_COMPLETE:
        model = StreamProcessingCompleteEvent
    elif kind is None:
        raise MalformedMessageError(
            "not a Rekognition stream processor message: no eventNamespace.type"
        )
    else:
        raise MalformedMessageError(
            f"unsupported eventNamespace.type {kind!r} (expected {LABEL_DETECTED} or "
            f"{STREAM_PROCESSING_COMPLETE})"
        )
    try:
        return model.model_validate(document)
    except ValidationError as err:
        raise MalformedMessageError(f"{kind} message: {_describe(err)}") from err


def parse_notification(body: str | bytes) -> ResultNotification:
    """An SQS message body: SNS-wrapped, raw, or the documentation's rendering."""
    document = _json_object(body, "the message body")
    if "Message" not in document:
        return ResultNotification(event=parse_event(document))
    try:
        envelope = SnsEnvelope.model_validate(document)
    except ValidationError as err:
        raise MalformedMessageError(f"SNS envelope: {_describe(err)}") from err
    inner = envelope.message
    if isinstance(inner, str):
        inner = _json_object(inner, "the SNS Message")
    return ResultNotification(
        event=parse_event(inner),
        sns_message_id=envelope.message_id,
        topic_arn=envelope.topic_arn,
        published_at=envelope.timestamp,
    )


# What the fleet keeps.


class NotificationState(StrEnum):
    PENDING = "pending"  # stored; the notification decision is not made yet
    SENT = "sent"
    SUPPRESSED = "suppressed"  # within the camera's notification cooldown
    QUIET = "quiet"  # recorded, not notified: every face is named and every name is quiet


class DetectionRecord(Model):
    """One label detected in one analysis session of one camera."""

    camera_id: CameraId
    session_id: str
    label: str
    confidence: float | None = None
    detected_at: datetime
    frame_uri: str
    crop_uri: str | None = None
    processor: str
    box: tuple[float, float, float, float] | None = Field(
        None, description="left, top, width, height as ratios of the frame"
    )
    fragment_number: str | None = None
    event_id: str | None = None
    notification: NotificationState = NotificationState.PENDING
    faces: FaceRecognition | None = Field(
        None, description="Who was seen; None when the camera's faces are not searched."
    )

    @property
    def key(self) -> str:
        """Unique per camera and sorted by time (one message per label and session)."""
        return f"{iso_ms(self.detected_at)}#{self.session_id}#{self.label}"


class SessionEndRecord(Model):
    """A `STREAM_PROCESSING_COMPLETE`: how much video the session analysed."""

    camera_id: CameraId
    session_id: str
    processor: str
    ended_at: datetime
    processed_ms: int | None = None
    message: str | None = None


class DailyUsage(Model):
    """How much video a camera's analysis sessions covered on one UTC day."""

    camera_id: CameraId
    day: date
    processed_ms: int = Field(0, ge=0)
    sessions: int = Field(0, ge=0)

    @property
    def minutes(self) -> float:
        return self.processed_ms / 60_000


class CooldownState(Model):
    """The camera's last notification: which detection claimed it, and when."""

    camera_id: CameraId
    notified_at: datetime
    detection_key: str


def iso_ms(moment: datetime) -> str:
    """A fixed-width UTC form that sorts as text: 2024-06-22T20:43:43.123Z."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def readable_utc(moment: datetime) -> str:
    """How notifications and status tables write a UTC time: 2024-06-22 20:43:43 UTC."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def faces_summary(faces: FaceRecognition | None) -> str | None:
    """How tables and logs show who was seen: `alice 99%, unknown`, `no face visible`,
    `search failed`; None when the faces were not searched."""
    if faces is None:
        return None
    if faces.status is FaceStatus.NO_FACE:
        return "no face visible"
    if faces.status is FaceStatus.FAILED:
        return "search failed"
    seen = [
        f"{face.name} {math.floor(face.similarity)}%"
        if face.name is not None and face.similarity is not None
        else face.name or "unknown"
        for face in faces.faces
    ]
    return ", ".join(seen) or faces.status.value


def detection_records(
    event: LabelDetectedEvent, camera_id: str, fallback_time: datetime
) -> list[DetectionRecord]:
    records = []
    for label in event.labels:
        box = label.bounding_box
        records.append(
            DetectionRecord(
                camera_id=camera_id,
                session_id=event.session_id,
                label=label.name,
                confidence=label.confidence,
                detected_at=_to_ms(label.detected_at() or fallback_time),
                frame_uri=label.frame_image_uri,
                crop_uri=label.cropped_image_uri,
                processor=event.processor,
                box=(box.left, box.top, box.width, box.height) if box else None,
                fragment_number=label.fragment_number,
                event_id=event.event_id,
            )
        )
    return records


def session_end_record(
    event: StreamProcessingCompleteEvent, camera_id: str, ended_at: datetime
) -> SessionEndRecord:
    processed = event.input_information.kinesis_video.processed_video_duration_millis
    results = event.stream_processing_results
    return SessionEndRecord(
        camera_id=camera_id,
        session_id=event.session_id,
        processor=event.processor,
        ended_at=_to_ms(ended_at),
        processed_ms=round(processed) if processed is not None else None,
        message=results.message if results else None,
    )


def _to_ms(moment: datetime) -> datetime:
    """UTC, truncated to the millisecond: what the store keeps, so keys round-trip."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    utc = moment.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)
