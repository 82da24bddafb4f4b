"""What a label detection (ConnectedHome) session publishes: SNS messages and S3 keys. Pure.

The format is the Rekognition developer guide's ("Analyzing label detection results"): an SNS
notification with the subject ``Rekognition Stream Processing Event`` whose ``Message`` is a JSON
``LABEL_DETECTED`` (the first time a label class is seen in a session) or
``STREAM_PROCESSING_COMPLETE`` (at the end). Each label also carries ``confidence`` (0 to 100):
the guide's text mentions it, though its format listing leaves it out. Nothing the guide does not
document is added (no ``streamProcessorInformation``, no ``s3Destination``);
``startStreamProcessorRequest`` holds the request in camel case, the processor's name as ``name``.

Frames go to ``<KeyPrefix>/<processor>/<session>/<service-determined path>``; the guide leaves
the last part to the service, here ``<LABEL>-<label id>/frame.jpg`` and ``.../cropped.jpg``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stack.endpoint.rekognition.sessions import SessionContext

SUBJECT = "Rekognition Stream Processing Event"
LABEL_DETECTED = "LABEL_DETECTED"
STREAM_PROCESSING_COMPLETE = "STREAM_PROCESSING_COMPLETE"
FRAME_IMAGE = "frame.jpg"
CROPPED_IMAGE = "cropped.jpg"


@dataclass(frozen=True)
class Box:
    """A bounding box as ratios of the frame's width and height (AWS's convention)."""

    left: float
    top: float
    width: float
    height: float


@dataclass(frozen=True)
class FrameRef:
    """Where a frame is in the stream: its fragment and its offset in it."""

    fragment_number: str
    server_timestamp_ms: int
    producer_timestamp_ms: int  # the fragment's
    frame_offset_ms: int


@dataclass(frozen=True)
class LabelNotice:
    label_id: str
    name: str
    confidence: float
    box: Box
    frame: FrameRef
    frame_image_uri: str
    cropped_image_uri: str


def session_prefix(context: SessionContext) -> str:
    """``<KeyPrefix>/<processor>/<session>``: where a session's frames go."""
    key_prefix = str(context.output.get("S3Destination", {}).get("KeyPrefix") or "").strip("/")
    parts = [key_prefix] if key_prefix else []
    return "/".join([*parts, context.processor_name, context.session_id])


def image_keys(context: SessionContext, label_name: str, label_id: str) -> tuple[str, str]:
    """The S3 keys of a label's frame and its crop."""
    folder = f"{session_prefix(context)}/{label_name}-{label_id}"
    return f"{folder}/{FRAME_IMAGE}", f"{folder}/{CROPPED_IMAGE}"


def results_bucket(context: SessionContext) -> str:
    return str(context.output.get("S3Destination", {}).get("Bucket") or "")


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def start_request(context: SessionContext) -> dict[str, Any]:
    """The session's StartStreamProcessor request, as the messages repeat it."""
    selector: dict[str, Any] = {}
    if context.producer_timestamp_ms is not None:
        selector["producerTimestamp"] = context.producer_timestamp_ms
    if context.fragment_number is not None:
        selector["fragmentNumber"] = context.fragment_number
    return {
        "name": context.processor_name,
        "startSelector": {"kvsStreamStartSelector": selector},
        "stopSelector": {"maxDurationInSeconds": context.max_duration_seconds},
    }


def _envelope(context: SessionContext, event_id: str) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "tags": dict(context.tags),
        "sessionId": context.session_id,
        "startStreamProcessorRequest": start_request(context),
    }


def label_detected(context: SessionContext, event_id: str, notice: LabelNotice) -> dict[str, Any]:
    """The ``Message`` of a LABEL_DETECTED notification."""
    label = {
        "id": notice.label_id,
        "name": notice.name,
        "confidence": round(notice.confidence, 3),
        "frameImageUri": notice.frame_image_uri,
        "croppedImageUri": notice.cropped_image_uri,
        "videoMapping": {
            "kinesisVideoMapping": {
                "fragmentNumber": notice.frame.fragment_number,
                "serverTimestamp": notice.frame.server_timestamp_ms,
                "producerTimestamp": notice.frame.producer_timestamp_ms,
                "frameOffsetMillis": notice.frame.frame_offset_ms,
            }
        },
        "boundingBox": {
            "left": round(notice.box.left, 6),
            "top": round(notice.box.top, 6),
            "height": round(notice.box.height, 6),
            "width": round(notice.box.width, 6),
        },
    }
    return {
        "inputInformation": {"kinesisVideo": {"streamArn": context.kvs_stream_arn}},
        "eventNamespace": {"type": LABEL_DETECTED},
        "labels": [label],
        **_envelope(context, event_id),
    }


def processing_complete(
    context: SessionContext, event_id: str, processed_ms: int, message: str
) -> dict[str, Any]:
    """The ``Message`` of the STREAM_PROCESSING_COMPLETE notification."""
    return {
        "inputInformation": {
            "kinesisVideo": {
                "streamArn": context.kvs_stream_arn,
                "processedVideoDurationMillis": processed_ms,
            }
        },
        "eventNamespace": {"type": STREAM_PROCESSING_COMPLETE},
        "streamProcessingResults": {"message": message},
        **_envelope(context, event_id),
    }


def notification(message: Mapping[str, Any]) -> dict[str, Any]:
    """The whole notification as the guide shows it: subject and message (tests, docs)."""
    return {"Subject": SUBJECT, "Message": dict(message)}
