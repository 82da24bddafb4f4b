"""The frames analyzer's table (`<fleet>-analysis`, on demand): one item per camera.

An item holds the camera's regions of interest and its current session: the request, a status
(STARTING once queued, RUNNING while a worker works it, then STOPPED or FAILED), a lease the
working worker keeps renewing, and the LABEL_DETECTED messages the session published. A session
is claimed only when the camera's previous one ended or its lease ran out: one session per camera
at a time, across bridge replicas, as a stream processor allows one. Every session write is
conditional on the session id, so a superseded worker changes nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeAlias

from pydantic import TypeAdapter

from cloud import tables
from cloud.analysis.models import FramesCamera, FramesSessionRequest
from cloud.clients import AwsClients
from cloud.errors import ConflictError, aws_call
from cloud.models import ProcessorStatus, RegionOfInterest
from cloud.paging import listed

if TYPE_CHECKING:
    from types_boto3_dynamodb.type_defs import AttributeValueTypeDef

    Item: TypeAlias = dict[str, AttributeValueTypeDef]

PARTITION_KEY = "camera_id"
_REGIONS = TypeAdapter(tuple[RegionOfInterest, ...])
_ENDED = (ProcessorStatus.STOPPED.value, ProcessorStatus.FAILED.value)


def ensure_table(clients: AwsClients, name: str, tags: dict[str, str]) -> str:
    return tables.ensure_table(clients, name, tags, partition_key=PARTITION_KEY)


def _key(camera_id: str) -> Item:
    return {PARTITION_KEY: {"S": camera_id}}


def _now() -> str:
    return datetime.now(UTC).isoformat()


def put_regions(
    clients: AwsClients, table: str, camera_id: str, regions: tuple[RegionOfInterest, ...]
) -> None:
    with aws_call(f"store the regions of interest of {camera_id} in {table}"):
        clients.dynamodb.update_item(
            TableName=table,
            Key=_key(camera_id),
            UpdateExpression="SET #r = :r",
            ExpressionAttributeNames={"#r": "regions"},
            ExpressionAttributeValues={":r": {"S": _REGIONS.dump_json(regions).decode()}},
        )


def claim(
    clients: AwsClients, table: str, request: FramesSessionRequest, lease_until_ms: int
) -> datetime:
    """Make `request` the camera's session (STARTING); ConflictError while another session of
    the camera is unfinished and its lease holds. Returns the session's `updated_at`."""
    updated_at = datetime.now(UTC)
    with aws_call(f"claim an analysis session for {request.camera_id}"):
        clients.dynamodb.update_item(
            TableName=table,
            Key=_key(request.camera_id),
            UpdateExpression=(
                "SET #q = :q, #sid = :sid, #s = :starting, #u = :u, #l = :l, #p = :zero, "
                "#c = :none REMOVE #m"
            ),
            ConditionExpression=(
                "attribute_not_exists(#sid) OR #s IN (:stopped, :failed) OR #l < :now"
            ),
            ExpressionAttributeNames={
                "#q": "session",
                "#sid": "session_id",
                "#s": "status",
                "#u": "updated_at",
                "#l": "lease_until_ms",
                "#p": "processed_ms",
                "#c": "confirmed",
                "#m": "message",
            },
            ExpressionAttributeValues={
                ":q": {"S": request.model_dump_json()},
                ":sid": {"S": request.session_id},
                ":starting": {"S": ProcessorStatus.STARTING.value},
                ":stopped": {"S": ProcessorStatus.STOPPED.value},
                ":failed": {"S": ProcessorStatus.FAILED.value},
                ":u": {"S": updated_at.isoformat()},
                ":l": {"N": str(lease_until_ms)},
                ":now": {"N": str(request.requested_at_ms)},
                ":zero": {"N": "0"},
                ":none": {"M": {}},
            },
        )
    return updated_at


def renew(
    clients: AwsClients, table: str, camera_id: str, session_id: str, lease_until_ms: int
) -> bool:
    """The working worker's heartbeat: RUNNING, leased until `lease_until_ms`. False when the
    session is no longer the camera's, or has ended (a duplicate delivery): stop working it."""
    return _update_session(
        clients,
        table,
        camera_id,
        session_id,
        "SET #s = :running, #l = :l",
        {":running": {"S": ProcessorStatus.RUNNING.value}, ":l": {"N": str(lease_until_ms)}},
        unfinished=True,
    )


def record_confirmed(
    clients: AwsClients, table: str, camera_id: str, session_id: str, label: str, message: str
) -> str | None:
    """Keep the LABEL_DETECTED message of `label` before it is published (see FramesCamera).
    Returns the message to publish: this one, or the one another worker of the same session
    recorded first (one message per class and session, whoever publishes it); None when the
    session is no longer the camera's."""
    if _update_session(
        clients,
        table,
        camera_id,
        session_id,
        "SET #c.#label = :message",
        {":message": {"S": message}},
        names={"#c": "confirmed", "#label": label},
        condition="attribute_not_exists(#c.#label)",
    ):
        return message
    current = read_camera(clients, table, camera_id)
    if current is None or current.session is None or current.session.session_id != session_id:
        return None
    return current.confirmed.get(label)


def finish(
    clients: AwsClients,
    table: str,
    camera_id: str,
    session_id: str,
    status: ProcessorStatus,
    message: str,
    processed_ms: int,
) -> bool:
    """End the session STOPPED or FAILED; False if it is no longer the camera's."""
    return _update_session(
        clients,
        table,
        camera_id,
        session_id,
        "SET #s = :status, #m = :message, #p = :p, #u = :u",
        {
            ":status": {"S": status.value},
            ":message": {"S": message},
            ":p": {"N": str(processed_ms)},
            ":u": {"S": _now()},
        },
        names={"#m": "message", "#p": "processed_ms", "#u": "updated_at"},
    )


def _update_session(
    clients: AwsClients,
    table: str,
    camera_id: str,
    session_id: str,
    update: str,
    values: dict[str, AttributeValueTypeDef],
    *,
    names: dict[str, str] | None = None,
    unfinished: bool = False,
    condition: str | None = None,
) -> bool:
    """Apply `update` if the item's session is `session_id` (and unfinished, and `condition`)."""
    condition = " AND ".join(
        c
        for c in (
            "#sid = :sid",
            "NOT #s IN (:stopped, :failed)" if unfinished else None,
            condition,
        )
        if c
    )
    known = {
        "#sid": "session_id",
        "#s": "status",
        "#l": "lease_until_ms",
        **(names or {}),
    }
    attribute_values: dict[str, AttributeValueTypeDef] = {":sid": {"S": session_id}, **values}
    if unfinished:
        attribute_values[":stopped"] = {"S": ProcessorStatus.STOPPED.value}
        attribute_values[":failed"] = {"S": ProcessorStatus.FAILED.value}
    used = set(re.findall(r"#\w+", f"{update} {condition}"))
    try:
        with aws_call(f"update analysis session {session_id} of {camera_id}"):
            clients.dynamodb.update_item(
                TableName=table,
                Key=_key(camera_id),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={k: v for k, v in known.items() if k in used},
                ExpressionAttributeValues=attribute_values,
            )
    except ConflictError:
        return False
    return True


def read_camera(clients: AwsClients, table: str, camera_id: str) -> FramesCamera | None:
    with aws_call(f"read the analysis item of {camera_id}"):
        item = clients.dynamodb.get_item(
            TableName=table, Key=_key(camera_id), ConsistentRead=True
        ).get("Item")
    return _camera(item) if item else None


def list_cameras(clients: AwsClients, table: str) -> dict[str, FramesCamera]:
    """Every camera's item: one scan (its pages), for the bridge's watch of running sessions."""
    pages = clients.dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    cameras = [_camera(item) for item in listed(f"scan {table}", pages, lambda p: p["Items"])]
    return {c.camera_id: c for c in cameras}


def delete_camera(clients: AwsClients, table: str, camera_id: str) -> None:
    with aws_call(f"delete the analysis item of {camera_id}"):
        clients.dynamodb.delete_item(TableName=table, Key=_key(camera_id))


def _camera(item: Item) -> FramesCamera:
    def text(name: str) -> str | None:
        value = item.get(name)
        return value.get("S") if value else None

    def number(name: str) -> int:
        value = item.get(name)
        return int(float(value["N"])) if value and "N" in value else 0

    session, status, updated_at = text("session"), text("status"), text("updated_at")
    confirmed = item.get("confirmed", {}).get("M", {})
    return FramesCamera(
        camera_id=item[PARTITION_KEY]["S"],
        regions_of_interest=_REGIONS.validate_json(text("regions") or "[]"),
        session=FramesSessionRequest.model_validate_json(session) if session else None,
        status=ProcessorStatus(status) if status else ProcessorStatus.STOPPED,
        message=text("message"),
        updated_at=datetime.fromisoformat(updated_at) if updated_at else None,
        lease_until_ms=number("lease_until_ms"),
        processed_ms=number("processed_ms"),
        confirmed={label: value["S"] for label, value in confirmed.items() if "S" in value},
    )
