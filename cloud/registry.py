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
SETTINGS_ATTRIBUTE = "camera"
# A thing without a thing type has at most three attributes on AWS IoT: the fleet, and the
# camera's settings packed in one value (`labels=PERSON/PET,min_confidence=50,...`).
_SETTINGS = ("labels", "min_confidence", "retention_hours", "max_duration_seconds")
_RECOGNIZE_FACES = "recognize_faces"


def thing_attributes(spec: CameraSpec, fleet: str) -> dict[str, str]:
    """IoT attribute values allow [a-zA-Z0-9_.,@/:#=-]; regions of interest live on the processor
    (or in the analysis table)."""
    settings = {
        "labels": "/".join(spec.sorted_labels),
        "min_confidence": f"{spec.min_confidence:g}",
        "retention_hours": str(spec.retention_hours),
        "max_duration_seconds": str(spec.max_duration_seconds),
        _RECOGNIZE_FACES: "true" if spec.recognize_faces else "false",
    }
    return {
        FLEET_ATTRIBUTE: fleet,
        SETTINGS_ATTRIBUTE: ",".join(f"{key}={value}" for key, value in settings.items()),
    }


def _settings(attributes: dict[str, str]) -> dict[str, str]:
    """The camera's settings, packed (`camera`) or, for a thing registered before they were,
    one attribute each (labels then comma-separated)."""
    packed = attributes.get(SETTINGS_ATTRIBUTE)
    if packed is None:
        unpacked = dict(attributes)
        if "labels" in unpacked:
            unpacked["labels"] = unpacked["labels"].replace(",", "/")
        return unpacked
    return dict(field.partition("=")[::2] for field in packed.split(",") if field)


def recognizes_faces(attributes: dict[str, str]) -> bool:
    """Whether the camera's faces are searched; a camera registered before the setting existed
    does not."""
    return _settings(attributes).get(_RECOGNIZE_FACES) == "true"


def spec_from_attributes(camera_id: str, attributes: dict[str, str]) -> CameraSpec:
    settings = _settings(attributes)
    missing = [a for a in _SETTINGS if a not in settings]
    if missing:
        raise NotFoundError(f"camera {camera_id}: its thing lacks the settings {missing}")
    try:
        return CameraSpec(
            camera_id=camera_id,
            labels=frozenset(Label(v) for v in settings["labels"].split("/") if v),
            min_confidence=float(settings["min_confidence"]),
            retention_hours=int(settings["retention_hours"]),
            max_duration_seconds=int(settings["max_duration_seconds"]),
            recognize_faces=settings.get(_RECOGNIZE_FACES) == "true",
        )
    except ValueError as err:
        raise NotFoundError(
            f"camera {camera_id}: its thing's settings are unreadable: {err}"
        ) from err


def list_camera_ids(clients: AwsClients, names: FleetNames) -> list[str]:
    return iot.list_group_things(clients, names.thing_group)


def member_attributes(
    clients: AwsClients, names: FleetNames, camera_id: str
) -> dict[str, str] | None:
    """The camera's thing attributes if it is a camera of this fleet, else None (DescribeThing
    alone: for services allowed nothing more)."""
    attributes = iot.thing_attributes(clients, names.thing(camera_id))
    if attributes is None or attributes.get(FLEET_ATTRIBUTE) != names.fleet:
        return None
    return attributes


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
