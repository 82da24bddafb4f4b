"""Read one camera's detections and daily usage for a report window from the detections table.

Two queries per camera on its partition, each a sort-key range (never a scan): the detection
items `detection#<UTC ms>#...` from the window's start to its end, and the usage items
`usage#<day>` of the window's days. Only the attributes the report counts are read.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, TypeAlias

from cloud.clients import AwsClients
from cloud.detections import DETECTION_PREFIX, PARTITION_KEY, SORT_KEY, USAGE_PREFIX, usage_key
from cloud.paging import listed
from cloud.rekognition_messages import DailyUsage, iso_ms
from cloud.report.models import CameraReadings, DetectionFact, ReportWindow

if TYPE_CHECKING:
    from types_boto3_dynamodb.type_defs import AttributeValueTypeDef

    Item: TypeAlias = dict[str, AttributeValueTypeDef]


def detection_range(window: ReportWindow) -> tuple[str, str]:
    """The sort keys bounding the window's detections (BETWEEN is inclusive: a detection at
    `end` sorts after `detection#<end>`, because its key goes on with `#<session>#<label>`)."""
    return DETECTION_PREFIX + iso_ms(window.start), DETECTION_PREFIX + iso_ms(window.end)


def usage_range(window: ReportWindow) -> tuple[str, str]:
    days = window.days
    return usage_key(days[0]), usage_key(days[-1])


def read_camera(
    clients: AwsClients, table: str, camera_id: str, window: ReportWindow
) -> CameraReadings:
    detections = _between(
        clients, table, camera_id, "detections", detection_range(window), "#l, #s, #at"
    )
    usage = _between(clients, table, camera_id, "usage", usage_range(window), "#k, #ms, #n")
    return CameraReadings(
        camera_id=camera_id,
        detections=tuple(_detection(item) for item in detections),
        usage=tuple(_usage(camera_id, item) for item in usage),
    )


_NAMES = {
    "#p": PARTITION_KEY,
    "#k": SORT_KEY,
    "#l": "label",
    "#s": "session_id",
    "#at": "detected_at",
    "#ms": "processed_ms",
    "#n": "sessions",
}


def _between(
    clients: AwsClients,
    table: str,
    camera_id: str,
    what: str,
    bounds: tuple[str, str],
    projection: str,
) -> list[Item]:
    used = {"#p", "#k", *(name.strip() for name in projection.split(","))}
    return listed(
        f"camera {camera_id}: read its {what} from {bounds[0]} to {bounds[1]}",
        clients.dynamodb.get_paginator("query").paginate(
            TableName=table,
            KeyConditionExpression="#p = :p AND #k BETWEEN :first AND :last",
            ProjectionExpression=projection,
            ExpressionAttributeNames={k: v for k, v in _NAMES.items() if k in used},
            ExpressionAttributeValues={
                ":p": {"S": camera_id},
                ":first": {"S": bounds[0]},
                ":last": {"S": bounds[1]},
            },
        ),
        lambda page: page.get("Items", []),
    )


def _detection(item: Item) -> DetectionFact:
    return DetectionFact(
        label=str(item["label"]["S"]),
        session_id=str(item["session_id"]["S"]),
        detected_at=datetime.fromisoformat(str(item["detected_at"]["S"])),
    )


def _usage(camera_id: str, item: Item) -> DailyUsage:
    day = date.fromisoformat(str(item[SORT_KEY]["S"]).removeprefix(USAGE_PREFIX))
    return DailyUsage(
        camera_id=camera_id,
        day=day,
        processed_ms=round(float(item["processed_ms"]["N"])) if "processed_ms" in item else 0,
        sessions=round(float(item["sessions"]["N"])) if "sessions" in item else 0,
    )
