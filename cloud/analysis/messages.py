"""What a frames session publishes, in a ConnectedHome stream processor's format: the S3 keys of a
detection's frame and crop, the `LABEL_DETECTED` message and the `STREAM_PROCESSING_COMPLETE`
message. Pure.

The format is the Rekognition developer guide's ("Analyzing label detection results"), as
`cloud/rekognition_messages.py` parses it and the local stream processor writes it: each label
carries `confidence`; `startStreamProcessorRequest` repeats the request in camel case with the
processor's name as `name` (the fleet's name for the camera's processor, which the results
consumer maps back to the camera); `tags` are the ones registration gives the processor. A
frame's place in the stream is its producer timestamp (`frameOffsetMillis` 0): GetImages gives
neither a fragment number nor a server timestamp, so both are left out.

Frames go to `<KeyPrefix>/<processor>/<session>/<LABEL>-<label id>/frame.jpg` and `cropped.jpg`
beside it, as a stream processor writes them.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from pydantic import Field

from cloud.analysis.regions import Box
from cloud.models import Model
from cloud.rekognition_messages import LABEL_DETECTED, STREAM_PROCESSING_COMPLETE

SUBJECT: Final = "Rekognition Stream Processing Event"
FRAME_IMAGE: Final = "frame.jpg"
CROPPED_IMAGE: Final = "cropped.jpg"
_EVENT_IDS = uuid.UUID("5f2b8e0c-3d4a-4f6e-9b1c-7a0d2e4c6f81")


class SessionRef(Model):
    """What every message of a session repeats about it."""

    processor: str
    session_id: str
    stream_arn: str
    start_ms: int
    duration_s: int
    tags: dict[str, str] = Field(default_factory=dict)


class Detection(Model):
    """A class confirmed in a session: what its LABEL_DETECTED message says."""

    label_id: str
    name: str = Field(description="The class: PERSON, PET or PACKAGE.")
    confidence: float = Field(ge=0, le=100)
    box: Box | None = None
    producer_ms: int = Field(description="The frame's producer timestamp, milliseconds.")
    frame_uri: str
    crop_uri: str | None = None


def session_prefix(key_prefix: str, processor: str, session_id: str) -> str:
    """`<KeyPrefix>/<processor>/<session>`: where a session's frames go."""
    prefix = key_prefix.strip("/")
    return "/".join([*([prefix] if prefix else []), processor, session_id])


def image_keys(
    key_prefix: str, processor: str, session_id: str, label: str, label_id: str
) -> tuple[str, str]:
    """The S3 keys of a detection's frame and its crop."""
    folder = f"{session_prefix(key_prefix, processor, session_id)}/{label}-{label_id}"
    return f"{folder}/{FRAME_IMAGE}", f"{folder}/{CROPPED_IMAGE}"


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def start_request(session: SessionRef) -> dict[str, Any]:
    """The StartStreamProcessor request a stream processor's messages repeat."""
    return {
        "name": session.processor,
        "startSelector": {"kvsStreamStartSelector": {"producerTimestamp": session.start_ms}},
        "stopSelector": {"maxDurationInSeconds": session.duration_s},
    }


def _common(session: SessionRef, event_id: str) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "tags": dict(session.tags),
        "sessionId": session.session_id,
        "startStreamProcessorRequest": start_request(session),
    }


def label_detected(session: SessionRef, event_id: str, detection: Detection) -> dict[str, Any]:
    """The `Message` of a LABEL_DETECTED notification."""
    label: dict[str, Any] = {
        "id": detection.label_id,
        "name": detection.name,
        "confidence": round(detection.confidence, 3),
        "frameImageUri": detection.frame_uri,
        "videoMapping": {
            "kinesisVideoMapping": {
                "producerTimestamp": detection.producer_ms,
                "frameOffsetMillis": 0,
            }
        },
    }
    if detection.crop_uri is not None:
        label["croppedImageUri"] = detection.crop_uri
    if detection.box is not None:
        box = detection.box.clipped()
        label["boundingBox"] = {
            "left": round(box.left, 6),
            "top": round(box.top, 6),
            "height": round(box.height, 6),
            "width": round(box.width, 6),
        }
    return {
        "inputInformation": {"kinesisVideo": {"streamArn": session.stream_arn}},
        "eventNamespace": {"type": LABEL_DETECTED},
        "labels": [label],
        **_common(session, event_id),
    }


def processing_complete(
    session: SessionRef, event_id: str, processed_ms: int, message: str
) -> dict[str, Any]:
    """The `Message` of the STREAM_PROCESSING_COMPLETE notification."""
    return {
        "inputInformation": {
            "kinesisVideo": {
                "streamArn": session.stream_arn,
                "processedVideoDurationMillis": processed_ms,
            }
        },
        "eventNamespace": {"type": STREAM_PROCESSING_COMPLETE},
        "streamProcessingResults": {"message": message},
        **_common(session, event_id),
    }


def complete_event_id(session_id: str) -> str:
    """The completion's event id, the same whichever worker ends the session."""
    return str(uuid.uuid5(_EVENT_IDS, f"{session_id}/complete"))
