"""Rekognition stream processors with ConnectedHome settings: one per camera."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cloud.clients import AwsClients
from cloud.errors import AccessDeniedError, ConflictError, NotFoundError, aws_call
from cloud.models import (
    BoundingBox,
    Label,
    Point,
    ProcessorRecord,
    ProcessorSettings,
    ProcessorStatus,
    ProcessorWiring,
    RegionOfInterest,
)
from cloud.paging import listed

if TYPE_CHECKING:
    from types_boto3_rekognition.type_defs import (
        ConnectedHomeSettingsForUpdateTypeDef,
        ConnectedHomeSettingsTypeDef,
        CreateStreamProcessorRequestTypeDef,
        DescribeStreamProcessorResponseTypeDef,
        RegionOfInterestOutputTypeDef,
        RegionOfInterestTypeDef,
        UpdateStreamProcessorRequestTypeDef,
    )

log = logging.getLogger(__name__)

# A processor in these states is analysing, or about to stop: it cannot be deleted yet.
ACTIVE = frozenset({ProcessorStatus.STARTING, ProcessorStatus.RUNNING, ProcessorStatus.STOPPING})

# Pure translation between our models and the API's shapes.


def regions_request(regions: tuple[RegionOfInterest, ...]) -> list[RegionOfInterestTypeDef]:
    out: list[RegionOfInterestTypeDef] = []
    for region in regions:
        if region.box is not None:
            box = region.box
            out.append(
                {
                    "BoundingBox": {
                        "Left": box.left,
                        "Top": box.top,
                        "Width": box.width,
                        "Height": box.height,
                    }
                }
            )
        elif region.polygon is not None:
            out.append({"Polygon": [{"X": p.x, "Y": p.y} for p in region.polygon]})
    return out


def regions_from_response(
    regions: Sequence[RegionOfInterestOutputTypeDef],
) -> tuple[RegionOfInterest, ...]:
    parsed = []
    for region in regions:
        if "BoundingBox" in region:
            b = region["BoundingBox"]
            box = BoundingBox(left=b["Left"], top=b["Top"], width=b["Width"], height=b["Height"])
            parsed.append(RegionOfInterest(box=box))
        elif "Polygon" in region:
            points = tuple(Point(x=p["X"], y=p["Y"]) for p in region["Polygon"])
            parsed.append(RegionOfInterest(polygon=points))
    return tuple(parsed)


def _labels(settings: ProcessorSettings) -> list[str]:
    return sorted(label.value for label in settings.labels)


def settings_request(settings: ProcessorSettings) -> ConnectedHomeSettingsTypeDef:
    return {"Labels": _labels(settings), "MinConfidence": settings.min_confidence}


def settings_update(settings: ProcessorSettings) -> ConnectedHomeSettingsForUpdateTypeDef:
    return {"Labels": _labels(settings), "MinConfidence": settings.min_confidence}


def record_from_response(info: DescribeStreamProcessorResponseTypeDef) -> ProcessorRecord:
    home = info.get("Settings", {}).get("ConnectedHome", {})
    s3 = info.get("Output", {}).get("S3Destination", {})
    return ProcessorRecord(
        name=info["Name"],
        arn=info["StreamProcessorArn"],
        status=ProcessorStatus(info["Status"]),
        status_message=info.get("StatusMessage"),
        last_update=info.get("LastUpdateTimestamp"),
        settings=ProcessorSettings(
            labels=frozenset(Label(v) for v in home.get("Labels", [])),
            min_confidence=float(home.get("MinConfidence", 50.0)),
            regions_of_interest=regions_from_response(info.get("RegionsOfInterest", [])),
        ),
        wiring=ProcessorWiring(
            stream_arn=info["Input"]["KinesisVideoStream"]["Arn"],
            bucket=s3.get("Bucket", ""),
            key_prefix=s3.get("KeyPrefix", ""),
            sns_topic_arn=info.get("NotificationChannel", {}).get("SNSTopicArn", ""),
            role_arn=info["RoleArn"],
        ),
    )


_WIRING_FIELDS = {
    "stream_arn": "input KVS stream",
    "bucket": "output S3 bucket",
    "key_prefix": "output S3 key prefix",
    "sns_topic_arn": "notification SNS topic",
    "role_arn": "IAM role",
}


def wiring_differences(current: ProcessorWiring, desired: ProcessorWiring) -> list[str]:
    """Human-readable differences in the settings Rekognition cannot update in place."""
    return [
        f"{label} is {getattr(current, field)!r}, wanted {getattr(desired, field)!r}"
        for field, label in _WIRING_FIELDS.items()
        if getattr(current, field) != getattr(desired, field)
    ]


# I/O.


def describe_processor(clients: AwsClients, name: str) -> ProcessorRecord | None:
    try:
        with aws_call(f"describe stream processor {name}"):
            info = clients.rekognition.describe_stream_processor(Name=name)
    except NotFoundError:
        return None
    return record_from_response(info)


def list_processors(clients: AwsClients) -> dict[str, ProcessorStatus]:
    """Every stream processor of the account and region, by name, with its status."""
    found = listed(
        "list stream processors",
        clients.rekognition.get_paginator("list_stream_processors").paginate(
            PaginationConfig={"PageSize": 100}
        ),
        lambda page: page.get("StreamProcessors", []),
    )
    return {p["Name"]: ProcessorStatus(p["Status"]) for p in found}


def list_processor_names(clients: AwsClients) -> list[str]:
    return list(list_processors(clients))


def create_processor(
    clients: AwsClients,
    name: str,
    wiring: ProcessorWiring,
    settings: ProcessorSettings,
    tags: dict[str, str],
) -> ProcessorRecord:
    request: CreateStreamProcessorRequestTypeDef = {
        "Name": name,
        "Input": {"KinesisVideoStream": {"Arn": wiring.stream_arn}},
        "Output": {"S3Destination": {"Bucket": wiring.bucket, "KeyPrefix": wiring.key_prefix}},
        "NotificationChannel": {"SNSTopicArn": wiring.sns_topic_arn},
        "RoleArn": wiring.role_arn,
        "Settings": {"ConnectedHome": settings_request(settings)},
        "DataSharingPreference": {"OptIn": False},
        "Tags": tags,
    }
    if settings.regions_of_interest:
        request["RegionsOfInterest"] = regions_request(settings.regions_of_interest)
    try:
        with aws_call(f"create stream processor {name}"):
            clients.rekognition.create_stream_processor(**request)
    except AccessDeniedError as err:
        raise AccessDeniedError(
            f"AWS refused stream processor {name} ({err}). Rekognition Streaming Video is closed "
            "to accounts that have not used it within 12 months (since 2026-04-30): use the "
            "frames analyzer, `fleet analyzer use frames` (a new fleet: `fleet init --analyzer "
            "frames`)"
        ) from err
    log.info("created stream processor %s", name)
    created = describe_processor(clients, name)
    if created is None:
        raise NotFoundError(f"stream processor {name} vanished right after it was created")
    return created


def update_processor(clients: AwsClients, name: str, settings: ProcessorSettings) -> None:
    request: UpdateStreamProcessorRequestTypeDef = {
        "Name": name,
        "SettingsForUpdate": {"ConnectedHomeForUpdate": settings_update(settings)},
    }
    if settings.regions_of_interest:
        request["RegionsOfInterestForUpdate"] = regions_request(settings.regions_of_interest)
    else:
        request["ParametersToDelete"] = ["RegionsOfInterest"]
    try:
        with aws_call(f"update stream processor {name}"):
            clients.rekognition.update_stream_processor(**request)
    except ConflictError as err:
        raise ConflictError(
            f"stream processor {name} is analysing a session right now and cannot be updated; "
            "try again when the session ends"
        ) from err
    log.info("updated stream processor %s settings", name)


def start_session(
    clients: AwsClients, name: str, producer_timestamp_ms: int, max_duration_s: int
) -> str:
    """Analyse the camera's video from a producer timestamp (ms) for up to `max_duration_s`.

    Raises ConflictError while a session is active: Rekognition refuses a second start.
    """
    with aws_call(f"start stream processor {name}"):
        response = clients.rekognition.start_stream_processor(
            Name=name,
            StartSelector={"KVSStreamStartSelector": {"ProducerTimestamp": producer_timestamp_ms}},
            StopSelector={"MaxDurationInSeconds": max_duration_s},
        )
    session: str = response["SessionId"]
    log.info(
        "started stream processor %s at %d for %d s", name, producer_timestamp_ms, max_duration_s
    )
    return session


def stop_processor(clients: AwsClients, name: str) -> None:
    with aws_call(f"stop stream processor {name}"):
        clients.rekognition.stop_stream_processor(Name=name)


def processor_tags(clients: AwsClients, arn: str) -> dict[str, str]:
    with aws_call(f"list the tags of stream processor {arn}"):
        return dict(clients.rekognition.list_tags_for_resource(ResourceArn=arn).get("Tags", {}))


def stop_session(clients: AwsClients, name: str, *, wait_seconds: float = 60) -> bool:
    """Stop the processor's active session, if it has one, and wait until it has stopped (a
    stopping processor cannot be deleted). True if a session was stopped."""
    return _stop_and_wait(clients, name, describe_processor(clients, name), wait_seconds)


def _stop_and_wait(
    clients: AwsClients, name: str, current: ProcessorRecord | None, wait_seconds: float
) -> bool:
    if current is None or current.status not in ACTIVE:
        return False
    if current.status is not ProcessorStatus.STOPPING:
        try:
            stop_processor(clients, name)
        except ConflictError:
            log.debug("stream processor %s stopped meanwhile", name)
    deadline = time.monotonic() + wait_seconds
    while (current := describe_processor(clients, name)) is not None and current.status in ACTIVE:
        if time.monotonic() > deadline:
            raise ConflictError(
                f"stream processor {name} is still {current.status.value} {wait_seconds:g} s "
                "after it was asked to stop"
            )
        time.sleep(0.5)
    log.info("stopped the session of stream processor %s", name)
    return True


def delete_processor(clients: AwsClients, name: str) -> bool:
    current = describe_processor(clients, name)
    if current is None:
        return False
    _stop_and_wait(clients, name, current, wait_seconds=60)
    with aws_call(f"delete stream processor {name}"):
        clients.rekognition.delete_stream_processor(Name=name)
    log.info("deleted stream processor %s", name)
    return True
