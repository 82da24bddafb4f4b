"""Every camera's status shadow by pages, through AWS IoT fleet indexing.

`fleet init` turns thing indexing on with the registry, the classic shadow and the named shadow
`camera-status` (`ensure_indexing`, which keeps whatever else the account indexes). The
`fleet-status` flow then reads the fleet's things and their status shadows with `SearchIndex` on
`AWS_Things`, `thingGroupNames:<fleet>`, 100 things a page (the API's maximum), instead of listing
the group and reading each shadow.

The index is eventually consistent: AWS updates it as the registry and shadows change, not within
the write, so a status written just before a search may show its previous value. A newly enabled
index builds for a while (`IndexNotReadyException`); with indexing off, `SearchIndex` answers
`ResourceNotFoundException`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cloud.clients import AwsClients
from cloud.errors import FleetError, NotFoundError, aws_call
from cloud.naming import FleetNames
from cloud.shadow import SHADOW_NAME, CameraStatus, camera_status, parse_reported

if TYPE_CHECKING:
    from types_boto3_iot.type_defs import (
        SearchIndexRequestTypeDef,
        ThingDocumentTypeDef,
        ThingIndexingConfigurationUnionTypeDef,
    )

log = logging.getLogger(__name__)

THINGS_INDEX = "AWS_Things"
SEARCH_PAGE_SIZE = 100  # SearchIndex's maxResults cannot exceed 100
_SHADOW_MODE = "REGISTRY_AND_SHADOW"
_ON = "ON"


def planned_indexing(current: Mapping[str, Any]) -> dict[str, Any] | None:
    """The thing indexing configuration to write so the index holds the registry, the classic
    shadow and the named shadow `camera-status`, given the `current` one (GetIndexingConfiguration's
    `thingIndexingConfiguration`); None when it already does. What else the account indexes
    (connectivity, Device Defender, other named shadows, custom fields) is kept."""
    names = list((current.get("filter") or {}).get("namedShadowNames") or [])
    if (
        current.get("thingIndexingMode") == _SHADOW_MODE
        and current.get("namedShadowIndexingMode") == _ON
        and SHADOW_NAME in names
    ):
        return None
    wanted = {key: value for key, value in current.items() if value not in (None, [], {})}
    wanted.pop("managedFields", None)  # AWS manages them; UpdateIndexingConfiguration refuses them
    wanted["thingIndexingMode"] = _SHADOW_MODE
    wanted["namedShadowIndexingMode"] = _ON
    wanted["filter"] = {
        **(current.get("filter") or {}),
        "namedShadowNames": [*names, SHADOW_NAME] if SHADOW_NAME not in names else names,
    }
    return wanted


def ensure_indexing(clients: AwsClients) -> bool:
    """Index the cameras' status shadows; True if the configuration had to change."""
    with aws_call("read the IoT indexing configuration"):
        answer = clients.iot.get_indexing_configuration()
    current: Mapping[str, Any] = answer.get("thingIndexingConfiguration") or {}
    wanted = planned_indexing(current)
    if wanted is None:
        return False
    configuration: ThingIndexingConfigurationUnionTypeDef = wanted  # type: ignore[assignment]
    with aws_call(f"index the things and their {SHADOW_NAME} shadows"):
        clients.iot.update_indexing_configuration(thingIndexingConfiguration=configuration)
    log.info("fleet indexing: things, their classic and %s shadows", SHADOW_NAME)
    return True


@dataclass(frozen=True)
class FleetShadows:
    """The fleet's cameras as the index lists them, each one's status or why it has none."""

    camera_ids: list[str] = field(default_factory=list)
    statuses: dict[str, CameraStatus] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    calls: int = 0


def indexed_status(thing: str, shadow: str | None) -> CameraStatus:
    """The camera status in a thing's indexed `shadow` document (a JSON string: the classic
    shadow's sections at the top, each indexed named shadow under `name`). No `camera-status`
    shadow: never seen. FleetError when the document or the status in it is invalid."""
    if not shadow:
        return CameraStatus()
    try:
        document = json.loads(shadow)
    except ValueError as err:
        raise FleetError(f"the indexed shadows of {thing} are not JSON: {err}") from err
    named = document.get("name") if isinstance(document, dict) else None
    status = named.get(SHADOW_NAME) if isinstance(named, dict) else None
    reported = status.get("reported") if isinstance(status, dict) else None
    return camera_status(parse_reported(thing, reported))


def _page_into(things: list[ThingDocumentTypeDef], found: FleetShadows) -> None:
    for thing in things:
        name = thing.get("thingName")
        if not name:
            continue
        found.camera_ids.append(name)
        try:
            found.statuses[name] = indexed_status(name, thing.get("shadow"))
        except FleetError as err:
            found.errors[name] = str(err)


def search_statuses(clients: AwsClients, names: FleetNames) -> FleetShadows:
    """Every thing of the fleet's group with its camera status, by pages of 100. A camera whose
    indexed status is invalid keeps the error; an index that cannot be read raises."""
    request: SearchIndexRequestTypeDef = {
        "indexName": THINGS_INDEX,
        "queryString": f"thingGroupNames:{names.thing_group}",
        "maxResults": SEARCH_PAGE_SIZE,
    }
    found = FleetShadows()
    calls = 0
    while True:
        try:
            with aws_call(f"search the fleet index for group {names.thing_group}"):
                page = clients.iot.search_index(**request)
        except NotFoundError as err:
            raise NotFoundError(f"{err} (fleet indexing is off: run `fleet init`)") from err
        calls += 1
        _page_into(page.get("things", []), found)
        token = page.get("nextToken")
        if not token:
            break
        request["nextToken"] = token
    return FleetShadows(
        camera_ids=sorted(found.camera_ids),
        statuses=found.statuses,
        errors=found.errors,
        calls=calls,
    )
