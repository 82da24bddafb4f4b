"""The detections store: one DynamoDB table per fleet (`<fleet>-detections`, on-demand).

Items per camera (partition key `camera_id`, sort key `record_key`): detections
(`detection#<UTC ms>#<session>#<label>`), a copy of the latest that named someone
(`detection~visitor`), session ends (`session#<session>`), daily usage (`usage#<YYYY-MM-DD>`) and
the notification cooldown (`cooldown`). Writes are conditional, so a redelivered message stores
nothing twice. Whether to notify is the results consumer's decision.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, TypeAlias

from cloud import tables
from cloud.clients import AwsClients
from cloud.errors import ConflictError, NotFoundError, RetryableError, aws_call
from cloud.faces.models import FaceRecognition
from cloud.paging import listed
from cloud.rekognition_messages import (
    CooldownState,
    DailyUsage,
    DetectionRecord,
    NotificationState,
    SessionEndRecord,
    iso_ms,
)

if TYPE_CHECKING:
    from types_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        PutItemInputTypeDef,
        PutTypeDef,
        QueryInputTypeDef,
        UpdateTypeDef,
        WriteRequestOutputTypeDef,
        WriteRequestTypeDef,
    )

    Item: TypeAlias = dict[str, AttributeValueTypeDef]

log = logging.getLogger(__name__)

PARTITION_KEY = "camera_id"
SORT_KEY = "record_key"
DETECTION_PREFIX = "detection#"
SESSION_PREFIX = "session#"
USAGE_PREFIX = "usage#"
COOLDOWN_KEY = "cooldown"
# Sorts after every detection key: one descending query reads it beside the latest detection.
VISITOR_KEY = "detection~visitor"
# The longest a session lasts, its pre-roll included, with room to spare.
SESSION_SPAN = timedelta(minutes=5)


def ensure_table(clients: AwsClients, name: str, tags: dict[str, str]) -> str:
    return tables.ensure_table(clients, name, tags, partition_key=PARTITION_KEY, sort_key=SORT_KEY)


# Item <-> record.


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _n(value: float) -> AttributeValueTypeDef:
    return {"N": f"{value:f}"}


def _key(camera_id: str, record_key: str) -> Item:
    return {PARTITION_KEY: _s(camera_id), SORT_KEY: _s(record_key)}


def detection_key(record: DetectionRecord) -> str:
    return DETECTION_PREFIX + record.key


def _detection_item(record: DetectionRecord) -> Item:
    item: Item = {
        **_key(record.camera_id, detection_key(record)),
        "session_id": _s(record.session_id),
        "label": _s(record.label),
        "detected_at": _s(iso_ms(record.detected_at)),
        "frame_uri": _s(record.frame_uri),
        "processor": _s(record.processor),
        "notification": _s(record.notification.value),
    }
    if record.confidence is not None:
        item["confidence"] = _n(record.confidence)
    if record.crop_uri is not None:
        item["crop_uri"] = _s(record.crop_uri)
    if record.box is not None:
        item["box"] = {"L": [_n(v) for v in record.box]}
    if record.fragment_number is not None:
        item["fragment_number"] = _s(record.fragment_number)
    if record.event_id is not None:
        item["event_id"] = _s(record.event_id)
    if record.faces is not None:
        item["faces"] = _s(record.faces.model_dump_json())
    return item


def _detection(item: Item) -> DetectionRecord:
    def text(name: str) -> str | None:
        return str(item[name]["S"]) if name in item else None

    box = item.get("box")
    return DetectionRecord(
        camera_id=str(item[PARTITION_KEY]["S"]),
        session_id=str(item["session_id"]["S"]),
        label=str(item["label"]["S"]),
        confidence=float(item["confidence"]["N"]) if "confidence" in item else None,
        detected_at=datetime.fromisoformat(str(item["detected_at"]["S"])),
        frame_uri=str(item["frame_uri"]["S"]),
        crop_uri=text("crop_uri"),
        processor=str(item["processor"]["S"]),
        box=tuple(float(v["N"]) for v in box["L"]) if box else None,
        fragment_number=text("fragment_number"),
        event_id=text("event_id"),
        notification=NotificationState(item["notification"]["S"]),
        faces=FaceRecognition.model_validate_json(faces) if (faces := text("faces")) else None,
    )


# Detections.


def put_detection(clients: AwsClients, table: str, record: DetectionRecord) -> bool:
    """Store the detection unless it is stored already; True if this call stored it."""
    try:
        with aws_call(f"camera {record.camera_id}: store detection {record.key}"):
            clients.dynamodb.put_item(
                TableName=table,
                Item=_detection_item(record),
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": SORT_KEY},
            )
    except ConflictError:
        return False
    return True


def get_detection(
    clients: AwsClients, table: str, record: DetectionRecord
) -> DetectionRecord | None:
    with aws_call(f"camera {record.camera_id}: read detection {record.key}"):
        answer = clients.dynamodb.get_item(
            TableName=table, Key=_key(record.camera_id, detection_key(record)), ConsistentRead=True
        )
    return _detection(answer["Item"]) if "Item" in answer else None


def set_notification(
    clients: AwsClients, table: str, record: DetectionRecord, state: NotificationState
) -> None:
    with aws_call(f"camera {record.camera_id}: mark detection {record.key} {state.value}"):
        clients.dynamodb.update_item(
            TableName=table,
            Key=_key(record.camera_id, detection_key(record)),
            UpdateExpression="SET #n = :n",
            ConditionExpression="attribute_exists(#k)",
            ExpressionAttributeNames={"#n": "notification", "#k": SORT_KEY},
            ExpressionAttributeValues={":n": _s(state.value)},
        )


def set_faces(
    clients: AwsClients, table: str, record: DetectionRecord, faces: FaceRecognition
) -> FaceRecognition:
    """Keep what face recognition made of the detection, unless a recognition is kept already
    (another consumer's, for a redelivered message): returns the one kept."""
    try:
        with aws_call(f"camera {record.camera_id}: keep the faces of detection {record.key}"):
            clients.dynamodb.update_item(
                TableName=table,
                Key=_key(record.camera_id, detection_key(record)),
                UpdateExpression="SET #f = :f",
                ConditionExpression="attribute_exists(#k) AND attribute_not_exists(#f)",
                ExpressionAttributeNames={"#f": "faces", "#k": SORT_KEY},
                ExpressionAttributeValues={":f": _s(faces.model_dump_json())},
            )
    except ConflictError:
        stored = get_detection(clients, table, record)
        if stored is None or stored.faces is None:
            raise NotFoundError(
                f"camera {record.camera_id}: detection {record.key} is not stored"
            ) from None
        return stored.faces
    return faces


def put_visitor(clients: AwsClients, table: str, record: DetectionRecord) -> bool:
    """Keep the detection as the camera's latest named visitor, unless a later one is kept."""
    try:
        with aws_call(f"camera {record.camera_id}: keep the visitor of detection {record.key}"):
            clients.dynamodb.put_item(
                TableName=table,
                Item={**_detection_item(record), **_key(record.camera_id, VISITOR_KEY)},
                ConditionExpression="attribute_not_exists(#k) OR #at < :at",
                ExpressionAttributeNames={"#k": SORT_KEY, "#at": "detected_at"},
                ExpressionAttributeValues={":at": _s(iso_ms(record.detected_at))},
            )
    except ConflictError:
        return False
    return True


def read_latest(
    clients: AwsClients, table: str, camera_id: str
) -> tuple[DetectionRecord | None, DetectionRecord | None]:
    """The camera's latest detection and its latest named visitor, in one query."""
    with aws_call(f"camera {camera_id}: read the latest detection"):
        answer = clients.dynamodb.query(
            TableName=table,
            KeyConditionExpression="#p = :p AND #k BETWEEN :first AND :last",
            ExpressionAttributeNames={"#p": PARTITION_KEY, "#k": SORT_KEY},
            ExpressionAttributeValues={
                ":p": _s(camera_id),
                ":first": _s(DETECTION_PREFIX),
                ":last": _s(VISITOR_KEY),
            },
            ScanIndexForward=False,
            Limit=2,
        )
    latest: DetectionRecord | None = None
    visitor: DetectionRecord | None = None
    for item in answer.get("Items", []):
        if item[SORT_KEY]["S"] == VISITOR_KEY:
            visitor = _detection(item)
        elif latest is None:
            latest = _detection(item)
    return latest, visitor


def list_detections(
    clients: AwsClients, table: str, camera_id: str, limit: int
) -> list[DetectionRecord]:
    """The camera's detections, newest first."""
    records: list[DetectionRecord] = []
    request: QueryInputTypeDef = {
        "TableName": table,
        "KeyConditionExpression": "#p = :p AND begins_with(#k, :prefix)",
        "ExpressionAttributeNames": {"#p": PARTITION_KEY, "#k": SORT_KEY},
        "ExpressionAttributeValues": {":p": _s(camera_id), ":prefix": _s(DETECTION_PREFIX)},
        "ScanIndexForward": False,
    }
    while len(records) < limit:
        with aws_call(f"camera {camera_id}: list detections"):
            request["Limit"] = limit - len(records)
            answer = clients.dynamodb.query(**request)
        records.extend(_detection(item) for item in answer.get("Items", []))
        if "LastEvaluatedKey" not in answer:
            break
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
    return records


def session_detections(
    clients: AwsClients, table: str, camera_id: str, session_id: str, ended_at: datetime
) -> list[DetectionRecord]:
    """The detections of one session, oldest first: read from the camera's detections of the
    `SESSION_SPAN` before the session's end (and a minute after it, for clocks that differ)."""
    first = iso_ms(ended_at - SESSION_SPAN)
    last = iso_ms(ended_at + timedelta(minutes=1))
    request: QueryInputTypeDef = {
        "TableName": table,
        "KeyConditionExpression": "#p = :p AND #k BETWEEN :first AND :last",
        "ExpressionAttributeNames": {"#p": PARTITION_KEY, "#k": SORT_KEY},
        "ExpressionAttributeValues": {
            ":p": _s(camera_id),
            ":first": _s(DETECTION_PREFIX + first),
            ":last": _s(DETECTION_PREFIX + last),
        },
    }
    found: list[DetectionRecord] = []
    while True:
        with aws_call(f"camera {camera_id}: read the detections of session {session_id}"):
            answer = clients.dynamodb.query(**request)
        found.extend(
            record
            for record in map(_detection, answer.get("Items", []))
            if record.session_id == session_id
        )
        if "LastEvaluatedKey" not in answer:
            return found
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


# The notification cooldown.


def read_cooldown(clients: AwsClients, table: str, camera_id: str) -> CooldownState | None:
    with aws_call(f"camera {camera_id}: read the notification cooldown"):
        answer = clients.dynamodb.get_item(
            TableName=table, Key=_key(camera_id, COOLDOWN_KEY), ConsistentRead=True
        )
    item = answer.get("Item")
    if item is None:
        return None
    return CooldownState(
        camera_id=camera_id,
        notified_at=datetime.fromisoformat(str(item["notified_at"]["S"])),
        detection_key=str(item["detection_key"]["S"]),
    )


def claim_cooldown(
    clients: AwsClients, table: str, claim: CooldownState, expected: CooldownState | None
) -> bool:
    """Write `claim` if the camera's cooldown is still `expected`; False if another consumer
    changed it meanwhile (read it again and decide again)."""
    request: PutItemInputTypeDef = {
        "TableName": table,
        "Item": {
            **_key(claim.camera_id, COOLDOWN_KEY),
            "notified_at": _s(iso_ms(claim.notified_at)),
            "detection_key": _s(claim.detection_key),
        },
    }
    if expected is None:
        request["ConditionExpression"] = "attribute_not_exists(#k)"
        request["ExpressionAttributeNames"] = {"#k": SORT_KEY}
    else:
        request["ConditionExpression"] = "#at = :at AND #d = :d"
        request["ExpressionAttributeNames"] = {"#at": "notified_at", "#d": "detection_key"}
        request["ExpressionAttributeValues"] = {
            ":at": _s(iso_ms(expected.notified_at)),
            ":d": _s(expected.detection_key),
        }
    try:
        with aws_call(f"camera {claim.camera_id}: claim the notification cooldown"):
            clients.dynamodb.put_item(**request)
    except ConflictError:
        return False
    return True


# Session ends.


def usage_key(day: date) -> str:
    return f"{USAGE_PREFIX}{day.isoformat()}"


def usage_day(record: SessionEndRecord) -> date:
    """The UTC day a session's analysed video counts for: the day it ended."""
    return record.ended_at.astimezone(UTC).date()


def put_session_end(clients: AwsClients, table: str, record: SessionEndRecord) -> bool:
    """Store the session's end and add its analysed video to the camera's usage of that day, in
    one transaction. False, and nothing written, if the session's end is stored already."""
    item: Item = {
        **_key(record.camera_id, SESSION_PREFIX + record.session_id),
        "session_id": _s(record.session_id),
        "processor": _s(record.processor),
        "ended_at": _s(iso_ms(record.ended_at)),
    }
    if record.processed_ms is not None:
        item["processed_ms"] = _n(record.processed_ms)
    if record.message is not None:
        item["message"] = _s(record.message)
    usage: UpdateTypeDef = {
        "TableName": table,
        "Key": _key(record.camera_id, usage_key(usage_day(record))),
        "UpdateExpression": "ADD #ms :ms, #n :one",
        "ExpressionAttributeNames": {"#ms": "processed_ms", "#n": "sessions"},
        "ExpressionAttributeValues": {":ms": _n(record.processed_ms or 0), ":one": _n(1)},
    }
    session_end: PutTypeDef = {
        "TableName": table,
        "Item": item,
        "ConditionExpression": "attribute_not_exists(#k)",
        "ExpressionAttributeNames": {"#k": SORT_KEY},
    }
    try:
        with aws_call(f"camera {record.camera_id}: store the end of session {record.session_id}"):
            clients.dynamodb.transact_write_items(
                TransactItems=[{"Put": session_end}, {"Update": usage}]
            )
    except ConflictError:  # the only condition is the session end's: stored already
        return False
    return True


def get_session_end(
    clients: AwsClients, table: str, camera_id: str, session_id: str
) -> SessionEndRecord | None:
    with aws_call(f"camera {camera_id}: read the end of session {session_id}"):
        answer = clients.dynamodb.get_item(
            TableName=table, Key=_key(camera_id, SESSION_PREFIX + session_id), ConsistentRead=True
        )
    item = answer.get("Item")
    if item is None:
        return None
    return SessionEndRecord(
        camera_id=camera_id,
        session_id=session_id,
        processor=str(item["processor"]["S"]),
        ended_at=datetime.fromisoformat(str(item["ended_at"]["S"])),
        processed_ms=round(float(item["processed_ms"]["N"])) if "processed_ms" in item else None,
        message=str(item["message"]["S"]) if "message" in item else None,
    )


# Usage.


def read_usage(clients: AwsClients, table: str, camera_id: str, day: date) -> DailyUsage:
    """The video analysed for the camera on a UTC day (zero if none)."""
    with aws_call(f"camera {camera_id}: read the analysis usage of {day.isoformat()}"):
        answer = clients.dynamodb.get_item(TableName=table, Key=_key(camera_id, usage_key(day)))
    item = answer.get("Item", {})
    return DailyUsage(
        camera_id=camera_id,
        day=day,
        processed_ms=round(float(item["processed_ms"]["N"])) if "processed_ms" in item else 0,
        sessions=round(float(item["sessions"]["N"])) if "sessions" in item else 0,
    )


# Teardown.

MAX_WRITE_BATCH = 25  # BatchWriteItem's limit
_UNPROCESSED_ROUNDS = 6


def _camera_keys(clients: AwsClients, table: str, camera_id: str) -> list[Item]:
    try:
        return listed(
            f"camera {camera_id}: list its items in {table}",
            clients.dynamodb.get_paginator("query").paginate(
                TableName=table,
                KeyConditionExpression="#p = :p",
                ProjectionExpression="#p, #k",
                ExpressionAttributeNames={"#p": PARTITION_KEY, "#k": SORT_KEY},
                ExpressionAttributeValues={":p": _s(camera_id)},
            ),
            lambda page: page.get("Items", []),
        )
    except NotFoundError:
        return []


def count_camera_items(clients: AwsClients, table: str, camera_id: str) -> int:
    """Every item of the camera: detections, session ends, usage and its cooldown."""
    return len(_camera_keys(clients, table, camera_id))


def delete_camera_items(clients: AwsClients, table: str, camera_id: str) -> int:
    keys = _camera_keys(clients, table, camera_id)
    for start in range(0, len(keys), MAX_WRITE_BATCH):
        requests: Sequence[WriteRequestTypeDef | WriteRequestOutputTypeDef] = [
            {"DeleteRequest": {"Key": k}} for k in keys[start : start + MAX_WRITE_BATCH]
        ]
        for attempt in range(_UNPROCESSED_ROUNDS):
            with aws_call(f"camera {camera_id}: delete its items in {table}"):
                answer = clients.dynamodb.batch_write_item(RequestItems={table: requests})
            # Throttled deletes come back unprocessed, not as an error: send them again.
            requests = answer.get("UnprocessedItems", {}).get(table, [])
            if not requests:
                break
            time.sleep(0.1 * 2**attempt)
        else:
            raise RetryableError(
                f"camera {camera_id}: {len(requests)} items of {table} stayed unprocessed"
            )
    if keys:
        log.info("camera %s: deleted %d items of %s", camera_id, len(keys), table)
    return len(keys)
