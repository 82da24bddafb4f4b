"""Kinesis Video streams: one per camera, named after it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from cloud.clients import AwsClients
from cloud.errors import NotFoundError, aws_call
from cloud.models import Change, StreamRecord
from cloud.paging import listed

if TYPE_CHECKING:
    from types_boto3_kinesisvideo.type_defs import StreamInfoTypeDef

log = logging.getLogger(__name__)

MEDIA_TYPE = "video/h264"
DELETING = "DELETING"  # DeleteStream is asynchronous: such a stream is on its way out


def _record(info: StreamInfoTypeDef) -> StreamRecord:
    return StreamRecord(
        name=info["StreamName"],
        arn=info["StreamARN"],
        retention_hours=int(info.get("DataRetentionInHours", 0)),
        status=info.get("Status", "ACTIVE"),
    )


def describe_stream(clients: AwsClients, name: str) -> StreamRecord | None:
    try:
        with aws_call(f"describe KVS stream {name}"):
            return _record(clients.kvs.describe_stream(StreamName=name)["StreamInfo"])
    except NotFoundError:
        return None


def list_streams(clients: AwsClients) -> list[StreamRecord]:
    """Every stream of the account and region, but those being deleted."""
    found = listed(
        "list KVS streams",
        clients.kvs.get_paginator("list_streams").paginate(),
        lambda page: page.get("StreamInfoList", []),
    )
    return [s for s in map(_record, found) if s.status != DELETING]


def stream_tags(clients: AwsClients, name: str) -> dict[str, str]:
    with aws_call(f"list the tags of KVS stream {name}"):
        return dict(clients.kvs.list_tags_for_stream(StreamName=name).get("Tags", {}))


def ensure_stream(
    clients: AwsClients, name: str, retention_hours: int, tags: dict[str, str]
) -> tuple[StreamRecord, Change]:
    current = describe_stream(clients, name)
    if current is None:
        with aws_call(f"create KVS stream {name}"):
            clients.kvs.create_stream(
                StreamName=name,
                MediaType=MEDIA_TYPE,
                DataRetentionInHours=retention_hours,
                Tags=tags,
            )
        log.info("camera %s: created KVS stream (retention %d h)", name, retention_hours)
        created = describe_stream(clients, name)
        if created is None:
            raise NotFoundError(f"KVS stream {name} vanished right after it was created")
        return created, Change.CREATED
    if current.retention_hours == retention_hours:
        return current, Change.UNCHANGED
    _update_retention(clients, current, retention_hours)
    return current.model_copy(update={"retention_hours": retention_hours}), Change.UPDATED


def _update_retention(clients: AwsClients, current: StreamRecord, hours: int) -> None:
    delta = hours - current.retention_hours
    with aws_call(f"describe KVS stream {current.name}"):
        version = clients.kvs.describe_stream(StreamName=current.name)["StreamInfo"]["Version"]
    with aws_call(f"update retention of KVS stream {current.name}"):
        clients.kvs.update_data_retention(
            StreamName=current.name,
            CurrentVersion=version,
            Operation="INCREASE_DATA_RETENTION" if delta > 0 else "DECREASE_DATA_RETENTION",
            DataRetentionChangeInHours=abs(delta),
        )
    log.info("camera %s: KVS retention %d -> %d h", current.name, current.retention_hours, hours)


def delete_stream(clients: AwsClients, name: str) -> bool:
    current = describe_stream(clients, name)
    if current is None or current.status == DELETING:
        return False
    with aws_call(f"delete KVS stream {name}"):
        clients.kvs.delete_stream(StreamARN=current.arn)
    log.info("camera %s: deleted KVS stream", name)
    return True
