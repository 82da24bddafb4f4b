"""Event clips: one MP4 per analysis session with a detection, stored beside the session's frames
(`<session prefix>/clip.mp4`), and what became of it in the detections table (`clip#<session>`).

A clip is asked for by a `ClipJob` on the results queue once the session has ended and has a
detection; the job's outcome is written once (`MADE` with its size, or `FAILED` with the
reason). No item means the clip is still to be made, or its session had no detection.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, TypeAlias

from pydantic import Field

from cloud.clients import AwsClients
from cloud.detections import PARTITION_KEY, SORT_KEY
from cloud.errors import ConflictError, aws_call
from cloud.models import CameraId, Model
from cloud.rekognition_messages import DetectionRecord, SessionEndRecord, iso_ms

if TYPE_CHECKING:
    from types_boto3_dynamodb.type_defs import AttributeValueTypeDef

    Item: TypeAlias = dict[str, AttributeValueTypeDef]

CLIP_NAME = "clip.mp4"
CLIP_PREFIX = "clip#"
ATTEMPTS = 3  # a clip that keeps failing for a passing reason is given up after these
DELAY_SECONDS = 5  # after the session's end: the last fragments reach the stream first
MAX_SECONDS = 180  # the longest clip made for a session (its pre-roll and 120 s of analysis)
# GetClip starts at the first fragment that starts in its range; asked from this much earlier, it
# takes in the fragment holding the window's start (fragments start at key frames: 2 s apart
# from the agent, at most 4 s from a camera with a longer key-frame interval).
FRAGMENT_LEAD = timedelta(seconds=4)


class ClipState(StrEnum):
    MADE = "made"
    FAILED = "failed"


class ClipJob(Model):
    """The results-queue message that asks for a session's clip."""

    kind: Literal["clip-job"] = "clip-job"
    camera_id: CameraId
    session_id: str = Field(min_length=1, max_length=256)
    uri: str = Field(pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+\.mp4$")
    start: datetime
    end: datetime


class ClipRecord(Model):
    """What became of a session's clip."""

    camera_id: CameraId
    session_id: str
    state: ClipState
    uri: str
    start: datetime
    end: datetime
    size_bytes: int | None = Field(None, ge=0)
    reason: str | None = None
    at: datetime


def clip_uri(record: DetectionRecord) -> str:
    """The clip of the record's session: beside the session's frames
    (`<session prefix>/<LABEL>-<id>/frame.jpg` -> `<session prefix>/clip.mp4`)."""
    folder = record.frame_uri.rsplit("/", 2)[0]
    return f"{folder}/{CLIP_NAME}"


def clip_window(
    session_end: SessionEndRecord, found: list[DetectionRecord], preroll_ms: int
) -> tuple[datetime, datetime]:
    """The producer-time span a session's clip covers: from the start of the video the session
    analysed (its end less the video analysed, or else its first detection less the pre-roll)
    to its end, and at least from each detection's pre-roll; at most `MAX_SECONDS`."""
    end = session_end.ended_at
    preroll = timedelta(milliseconds=preroll_ms)
    starts = [record.detected_at - preroll for record in found]
    if session_end.processed_ms is not None:
        starts.append(end - timedelta(milliseconds=session_end.processed_ms))
    start = min(starts, default=end - preroll)
    latest = max([end, *(record.detected_at for record in found)])
    return max(start, latest - timedelta(seconds=MAX_SECONDS)), latest


def clip_job(
    session_end: SessionEndRecord, found: list[DetectionRecord], preroll_ms: int
) -> ClipJob:
    start, end = clip_window(session_end, found, preroll_ms)
    return ClipJob(
        camera_id=session_end.camera_id,
        session_id=session_end.session_id,
        uri=clip_uri(found[0]),
        start=start,
        end=end,
    )


# The table.


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _record_key(camera_id: str, session_id: str) -> Item:
    return {PARTITION_KEY: _s(camera_id), SORT_KEY: _s(CLIP_PREFIX + session_id)}


def put_clip_record(clients: AwsClients, table: str, record: ClipRecord) -> bool:
    """Keep the clip's outcome unless one is kept already; True if this call kept it."""
    item: Item = {
        **_record_key(record.camera_id, record.session_id),
        "state": _s(record.state.value),
        "uri": _s(record.uri),
        "start": _s(iso_ms(record.start)),
        "end": _s(iso_ms(record.end)),
        "at": _s(iso_ms(record.at)),
    }
    if record.size_bytes is not None:
        item["size_bytes"] = {"N": str(record.size_bytes)}
    if record.reason is not None:
        item["reason"] = _s(record.reason)
    try:
        with aws_call(f"camera {record.camera_id}: keep the clip of session {record.session_id}"):
            clients.dynamodb.put_item(
                TableName=table,
                Item=item,
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": SORT_KEY},
            )
    except ConflictError:
        return False
    return True


def get_clip_record(
    clients: AwsClients, table: str, camera_id: str, session_id: str
) -> ClipRecord | None:
    with aws_call(f"camera {camera_id}: read the clip of session {session_id}"):
        answer = clients.dynamodb.get_item(
            TableName=table, Key=_record_key(camera_id, session_id), ConsistentRead=True
        )
    item = answer.get("Item")
    if item is None:
        return None
    return ClipRecord(
        camera_id=camera_id,
        session_id=session_id,
        state=ClipState(str(item["state"]["S"])),
        uri=str(item["uri"]["S"]),
        start=datetime.fromisoformat(str(item["start"]["S"])),
        end=datetime.fromisoformat(str(item["end"]["S"])),
        size_bytes=int(str(item["size_bytes"]["N"])) if "size_bytes" in item else None,
        reason=str(item["reason"]["S"]) if "reason" in item else None,
        at=datetime.fromisoformat(str(item["at"]["S"])),
    )
