"""Delete one resource of a teardown plan with the `delete_*` call of its service.

Each call is idempotent: it returns False when the resource is already gone, so a re-run after a
partial teardown repeats nothing and fails on nothing that was done.
"""

from __future__ import annotations

from cloud import detections, iam, iot, kvs, notify, queues, rekognition, shadow, storage, tables
from cloud.clients import AwsClients
from cloud.errors import InvalidInputError
from cloud.faces import collection as faces
from cloud.teardown import analysis_items
from cloud.teardown.models import Kind, Resource

THING_DETACH_WAIT_S = 30  # DetachThingPrincipal is asynchronous on AWS


def delete(clients: AwsClients, resource: Resource) -> bool:
    """Delete `resource`; True if it existed."""
    name, parent = resource.name, resource.parent
    match resource.kind:
        case Kind.SESSION:
            return rekognition.stop_session(clients, name)
        case Kind.PROCESSOR:
            return rekognition.delete_processor(clients, name)
        case Kind.CERTIFICATE:
            return _retire_certificate(clients, name, parent)
        case Kind.SHADOW:
            return shadow.delete_shadow(clients, _required(resource), name)
        case Kind.THING:
            return iot.delete_thing_when_detached(
                clients, name, detach_wait_seconds=THING_DETACH_WAIT_S
            )
        case Kind.STREAM:
            return kvs.delete_stream(clients, name)
        case Kind.ROLE:
            return iam.delete_role(clients, name)
        case Kind.RESULTS | Kind.FACE_PHOTOS:
            return storage.delete_prefix(clients, _required(resource), name) > 0
        case Kind.DETECTIONS:
            return detections.delete_camera_items(clients, _required(resource), name) > 0
        case Kind.ANALYSIS_ITEM:
            return analysis_items.delete(clients, _required(resource), name)
        case Kind.SUBSCRIPTION:
            return notify.unsubscribe(clients, name)
        case Kind.TOPIC:
            return notify.delete_topic(clients, name)
        case Kind.QUEUE:
            return queues.delete_queue(clients, name)
        case Kind.TABLE | Kind.ANALYSIS_TABLE:
            return tables.delete_table(clients, name)
        case Kind.FACE_COLLECTION:
            return faces.delete_collection(clients, name)
        case Kind.BUCKET:
            return storage.delete_bucket(clients, name)
        case Kind.IOT_POLICY:
            return iot.delete_policy(clients, name)
        case Kind.ROLE_ALIAS:
            return iot.delete_role_alias(clients, name)
        case Kind.THING_GROUP:
            return iot.delete_thing_group(clients, name)
    raise InvalidInputError(f"no way to delete a {resource.kind.value}")


def _retire_certificate(clients: AwsClients, arn: str, thing: str | None) -> bool:
    if iot.describe_certificate(clients, iot.certificate_id(arn)) is None:
        return False
    iot.retire_certificate(clients, arn, thing)
    return True


def _required(resource: Resource) -> str:
    if resource.parent is None:
        raise InvalidInputError(f"{resource.label}: the plan does not say where it lives")
    return resource.parent
