"""Thing groups on the local endpoint: a deleted thing leaves its groups, as in AWS."""

from __future__ import annotations

import uuid

from stack.endpoint.server import LocalEndpoint
from tests.support.endpoint_admin import endpoint_client


def test_a_deleted_thing_is_no_longer_listed_in_its_group(local_endpoint: LocalEndpoint) -> None:
    iot = endpoint_client(local_endpoint.url, "iot")
    group, kept, deleted = (f"{what}-{uuid.uuid4().hex[:6]}" for what in ("group", "kept", "gone"))
    iot.create_thing_group(thingGroupName=group)
    for thing in (kept, deleted):
        iot.create_thing(thingName=thing)
        iot.add_thing_to_thing_group(thingGroupName=group, thingName=thing)

    iot.delete_thing(thingName=deleted)

    assert iot.list_things_in_thing_group(thingGroupName=group)["things"] == [kept]
    assert [t["thingName"] for t in iot.list_things()["things"]].count(deleted) == 0
