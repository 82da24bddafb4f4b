"""Each camera's status as the cloud last saw it: the reported state of the named shadow
`camera-status`, apart from the device's classic shadow.

The MQTT bridge writes only the parts that changed (nulls delete keys), so bridge replicas do not
overwrite each other's newer parts; `fleet camera show` reads it. No shadow: never seen.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationError

from cloud.clients import AwsClients
from cloud.errors import FleetError, InvalidInputError, NotFoundError, aws_call
from cloud.models import Model
from device.messages import HealthEvent, Presence

if TYPE_CHECKING:
    from types_boto3_iot_data.type_defs import ListNamedShadowsForThingRequestTypeDef

log = logging.getLogger(__name__)

SHADOW_NAME = "camera-status"
# AWS IoT refuses a shadow state document over 8 KB; a health message may be up to 16 KB.
MAX_DOCUMENT_BYTES = 8 * 1024


class CameraShadow(Model):
    """The reported state as stored: presence from the status topic, the latest health, and when
    the bridge last heard from the camera. Bridge replicas write parts of it (see `ShadowUpdate`),
    so a field may be missing: `presence` None means no replica has seen a status yet."""

    presence: Presence | None = None
    reason: str | None = Field(None, description="Why, as the camera said (e.g. its Last Will).")
    status_at_ms: int | None = Field(
        None, description="When the bridge received the presence (the bridge's clock)."
    )
    last_seen_ms: int | None = Field(
        None, description="When the bridge last heard from the camera (the bridge's clock)."
    )
    health: HealthEvent | None = None
    last_motion_ms: int | None = Field(
        None,
        description="The newest motion's producer timestamp (the camera's clock, as its video).",
    )

    @property
    def online(self) -> bool | None:
        return None if self.presence is None else self.presence is Presence.ONLINE


class PresenceReport(Model):
    presence: Presence
    reason: str | None = None
    status_at_ms: int


class ShadowUpdate(Model):
    """One write: only what changed. A part left None is not sent, and the shadow keeps it."""

    presence: PresenceReport | None = None
    last_seen_ms: int | None = None
    health: HealthEvent | None = None
    last_motion_ms: int | None = None
    stale_versions: tuple[str, ...] = Field(
        (), description="`health.versions` keys the previously written health had: deleted."
    )

    @property
    def empty(self) -> bool:
        return (
            self.presence is None
            and self.last_seen_ms is None
            and self.health is None
            and self.last_motion_ms is None
        )


def reported_patch(update: ShadowUpdate) -> dict[str, Any]:
    """The `reported` section of a shadow update: None fields as null, which deletes them."""
    patch: dict[str, Any] = {}
    if update.presence is not None:
        patch.update(update.presence.model_dump(mode="json"))
    if update.last_seen_ms is not None:
        patch["last_seen_ms"] = update.last_seen_ms
    if update.last_motion_ms is not None:
        patch["last_motion_ms"] = update.last_motion_ms
    if update.health is not None:
        health = update.health.model_dump(mode="json", by_alias=True)
        stale = set(update.stale_versions) - update.health.versions.keys()
        health["versions"].update(dict.fromkeys(sorted(stale)))
        patch["health"] = health
    return patch


def shadow_document(update: ShadowUpdate) -> bytes:
    """The update request body, within AWS's size limit (a bulky health loses its details)."""
    body = _encode(reported_patch(update))
    if len(body) > MAX_DOCUMENT_BYTES and update.health is not None:
        lean = update.health.model_copy(update={"versions": {}, "pipeline_error": None})
        body = _encode(reported_patch(update.model_copy(update={"health": lean})))
    if len(body) > MAX_DOCUMENT_BYTES:
        raise InvalidInputError(
            f"a camera status of {len(body)} bytes is over the shadow limit of "
            f"{MAX_DOCUMENT_BYTES} bytes"
        )
    return body


def _encode(reported: dict[str, Any]) -> bytes:
    return json.dumps({"state": {"reported": reported}}, separators=(",", ":")).encode()


def update_reported(clients: AwsClients, thing: str, update: ShadowUpdate) -> int:
    """Write what changed of the camera's status; returns the shadow's new version."""
    body = shadow_document(update)
    with aws_call(f"update the {SHADOW_NAME} shadow of {thing}"):
        answer = clients.iot_data.update_thing_shadow(
            thingName=thing, shadowName=SHADOW_NAME, payload=body
        )
        document = json.loads(answer["payload"].read())
    return int(document["version"])


def get_reported(clients: AwsClients, thing: str) -> CameraShadow | None:
    """The camera's last written status, or None if the bridge never saw it."""
    try:
        with aws_call(f"get the {SHADOW_NAME} shadow of {thing}"):
            answer = clients.iot_data.get_thing_shadow(thingName=thing, shadowName=SHADOW_NAME)
            document = json.loads(answer["payload"].read())
    except NotFoundError:
        return None
    return parse_reported(thing, document.get("state", {}).get("reported"))


def parse_reported(thing: str, reported: object) -> CameraShadow | None:
    """The camera status in a shadow's reported section (from GetThingShadow or the fleet index);
    None when nothing is reported. FleetError when it does not hold a camera status."""
    if not reported:
        return None
    try:
        return CameraShadow.model_validate(reported)
    except ValidationError as err:
        raise FleetError(
            f"the {SHADOW_NAME} shadow of {thing} does not hold a camera status: {err}"
        ) from err


class CameraStatus(Model):
    """A camera's status as `fleet camera show` prints it: None where the bridge never saw it."""

    online: bool | None = None
    last_seen: datetime | None = None
    status_reason: str | None = None
    status_since: datetime | None = None
    last_motion: datetime | None = None
    health: HealthEvent | None = None


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def camera_status(reported: CameraShadow | None) -> CameraStatus:
    if reported is None:
        return CameraStatus()
    return CameraStatus(
        online=reported.online,
        last_seen=_time(reported.last_seen_ms),
        status_reason=reported.reason,
        status_since=_time(reported.status_at_ms),
        last_motion=_time(reported.last_motion_ms),
        health=reported.health,
    )


def read_status(clients: AwsClients, thing: str) -> CameraStatus:
    return camera_status(get_reported(clients, thing))


def list_named_shadows(clients: AwsClients, thing: str) -> list[str]:
    """The thing's named shadows ([] when the thing or its shadows are gone)."""
    names: list[str] = []
    request: ListNamedShadowsForThingRequestTypeDef = {"thingName": thing, "pageSize": 100}
    try:
        while True:
            with aws_call(f"list the named shadows of {thing}"):
                page = clients.iot_data.list_named_shadows_for_thing(**request)
            names.extend(page.get("results", []))
            if not page.get("nextToken"):
                return names
            request["nextToken"] = page["nextToken"]
    except NotFoundError:
        return names


def delete_shadow(clients: AwsClients, thing: str, name: str) -> bool:
    try:
        with aws_call(f"delete shadow {name} of {thing}"):
            clients.iot_data.delete_thing_shadow(thingName=thing, shadowName=name)
    except NotFoundError:
        return False
    log.info("camera %s: deleted shadow %s", thing, name)
    return True
