"""The fleet registry is the IoT thing registry: the fleet's thing group, with each camera's
settings as thing attributes. No side file: what AWS holds is the truth."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from cloud import iam, iot, kvs, rekognition
from cloud.analysis import frames_table
from cloud.analysis.models import FramesCamera
from cloud.clients import AwsClients
from cloud.errors import NotFoundError
from cloud.models import CameraRecord, CameraSpec, Label, ThingRecord
from cloud.naming import FleetNames

FLEET_ATTRIBUTE = "fleet"
RECOGNIZE_FACES_ATTRIBUTE = "recognize_faces"
_SPEC_ATTRIBUTES = ("labels", "min_confidence", "retention_hours", "max_duration_seconds")


def thing_attributes(spec: CameraSpec, fleet: str) -> dict[str, str]:
    """IoT attribute values allow [a-zA-Z0-9_.,@/:#-]; regions of interest live on the processor."""
    return {
        FLEET_ATTRIBUTE: fleet,
        "labels": ",".join(spec.sorted_labels),
        "min_confidence": f"{spec.min_confidence:g}",
        "retention_hours": str(spec.retention_hours),
        "max_duration_seconds": str(spec.max_duration_seconds),
        RECOGNIZE_FACES_ATTRIBUTE: "true" if spec.recognize_faces else "false",
    }


def recognizes_faces(attributes: dict[str, str]) -> bool:
    """Whether the camera's faces are searched; a camera registered before the attribute
    existed has none and does not."""
    return attributes.get(RECOGNIZE_FACES_ATTRIBUTE) == "true"


def spec_from_attributes(camera_id: str, attributes: dict[str, str]) -> CameraSpec:
    missing = [a for a in _SPEC_ATTRIBUTES if a not in attributes]
    if missing:
        raise NotFoundError(f"camera {camera_id}: thing attributes {missing} are missing")
    return CameraSpec(
        camera_id=camera_id,
        labels=frozenset(Label(v) for v in attributes["labels"].split(",") if v),
        min_confidence=float(attributes["min_confidence"]),
        retention_hours=int(attributes["retention_hours"]),
        max_duration_seconds=int(attributes["max_duration_seconds"]),
        recognize_faces=recognizes_faces(attributes),
    )


def list_camera_ids(clients: AwsClients, names: FleetNames) -> list[str]:
    return iot.list_group_things(clients, names.thing_group)


def require_member(clients: AwsClients, names: FleetNames, camera_id: str) -> ThingRecord:
    """The camera's thing if the camera is registered in this fleet; NotFoundError if not."""
    thing = iot.describe_thing(clients, names.thing(camera_id))
    if thing is None or thing.attributes.get(FLEET_ATTRIBUTE) != names.fleet:
        raise NotFoundError(f"camera {camera_id} is not registered in fleet {names.fleet}")
    return thing


def show_camera(clients: AwsClients, names: FleetNames, camera_id: str) -> CameraRecord:
    thing = require_member(clients, names, camera_id)
    spec = spec_from_attributes(camera_id, thing.attributes)
    with ThreadPoolExecutor(max_workers=3) as pool:  # three services, each a round trip
        stream_read = pool.submit(kvs.describe_stream, clients, names.stream(camera_id))
        processor_read = pool.submit(
            rekognition.describe_processor, clients, names.processor(camera_id)
        )
        role_read = pool.submit(iam.get_role, clients, names.rekognition_role(camera_id))
    stream, processor, role = stream_read.result(), processor_read.result(), role_read.result()
    if processor is not None:
        spec = spec.model_copy(
            update={"regions_of_interest": processor.settings.regions_of_interest}
        )
    elif (item := _frames_item(clients, names, camera_id)) is not None:  # a frames fleet
        spec = spec.model_copy(update={"regions_of_interest": item.regions_of_interest})
    certs = [p for p in thing.principals if ":cert/" in p]
    return CameraRecord(
        camera_id=camera_id,
        thing_name=thing.name,
        thing_arn=thing.arn,
        settings=spec,
        stream_arn=stream.arn if stream else None,
        processor_arn=processor.arn if processor else None,
        processor_status=processor.status if processor else None,
        role_arn=role[0].arn if role else None,
        certificate_arn=certs[0] if certs else None,
    )


def _frames_item(clients: AwsClients, names: FleetNames, camera_id: str) -> FramesCamera | None:
    try:
        return frames_table.read_camera(clients, names.analysis_table, camera_id)
    except NotFoundError:  # no analysis table: a stream-processor fleet
        return None
