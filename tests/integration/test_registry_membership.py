"""Fleet membership against the local AWS endpoint: a camera belongs to the fleet whose name its
IoT thing carries, and to no other."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud import iot
from cloud.clients import AwsClients
from cloud.errors import NotFoundError
from cloud.fleet import fleet_names
from cloud.registry import FLEET_ATTRIBUTE, require_member
from cloud.settings import FleetSettings
from stack.endpoint.server import LocalEndpoint


def test_only_the_fleets_own_cameras_are_members(
    local_endpoint: LocalEndpoint, tmp_path: Path
) -> None:
    clients = AwsClients(FleetSettings(home=tmp_path, aws_port=local_endpoint.port))
    names = fleet_names(clients)
    iot.ensure_thing(clients, "member-ours", {FLEET_ATTRIBUTE: names.fleet})
    iot.ensure_thing(clients, "member-theirs", {FLEET_ATTRIBUTE: "someone-else"})
    iot.ensure_thing(clients, "member-unmarked", {"labels": "PERSON"})

    thing = require_member(clients, names, "member-ours")

    assert (thing.name, thing.attributes[FLEET_ATTRIBUTE]) == ("member-ours", names.fleet)
    for camera in ("member-theirs", "member-unmarked", "member-nobody"):
        with pytest.raises(NotFoundError, match=f"{camera} is not registered in fleet"):
            require_member(clients, names, camera)
