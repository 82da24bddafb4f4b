"""Camera status shadows and the bridge's own identity, against the local AWS endpoint over real
HTTP (moto's iot-data behind our server, AWS's shadow semantics: merge, null deletes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography import x509

from cloud import iot
from cloud.bridge_identity import bridge_policy, ensure_bridge_identity
from cloud.bundle import CA_FILE
from cloud.clients import AwsClients
from cloud.errors import AccessDeniedError, FleetError, InvalidInputError, NotFoundError
from cloud.fleet import fleet_names
from cloud.naming import FleetNames
from cloud.policies import canonical
from cloud.settings import FleetSettings
from cloud.shadow import (
    SHADOW_NAME,
    PresenceReport,
    ShadowUpdate,
    get_reported,
    update_reported,
)
from device.messages import HealthEvent, PipelineState, Presence
from tests.support.endpoint_admin import clear_faults, inject_fault
from tests.support.messages import health_event

AT = 1_800_000_000_000


def health(**fields: object) -> HealthEvent:
    return health_event(**{"camera_id": "cam-s", "sent_at_ms": AT, **fields})


@pytest.fixture
def clients(local_endpoint: Any, tmp_path: Path) -> Iterator[AwsClients]:
    local_endpoint.reset()
    clear_faults(local_endpoint.url)
    yield AwsClients(FleetSettings(home=tmp_path, aws_port=local_endpoint.port))
    clear_faults(local_endpoint.url)


@pytest.fixture
def thing(clients: AwsClients) -> str:
    clients.iot.create_thing(thingName="cam-s")
    return "cam-s"


def test_a_camera_never_seen_has_no_status(clients: AwsClients, thing: str) -> None:
    assert get_reported(clients, thing) is None
    assert get_reported(clients, "no-such-thing") is None


def test_parts_are_merged_and_nulls_delete(clients: AwsClients, thing: str) -> None:
    online = PresenceReport(presence=Presence.ONLINE, reason="hello", status_at_ms=AT)
    first = update_reported(clients, thing, ShadowUpdate(presence=online, last_seen_ms=AT))
    stalled = health(
        pipeline=PipelineState.STALLED,
        pipeline_error="no buffers",
        versions={"agent": "1", "gst": "1.22"},
    )
    second = update_reported(clients, thing, ShadowUpdate(health=stalled, last_motion_ms=AT - 7))
    assert second == first + 1

    read = get_reported(clients, thing)
    assert read is not None
    assert (read.online, read.reason, read.status_at_ms, read.last_seen_ms) == (
        True,
        "hello",
        AT,
        AT,
    )
    assert read.health == stalled

    running = health(versions={"agent": "2"})  # no error, one version key fewer
    offline = PresenceReport(presence=Presence.OFFLINE, status_at_ms=AT + 9)
    update_reported(
        clients,
        thing,
        ShadowUpdate(presence=offline, health=running, stale_versions=("agent", "gst")),
    )
    read = get_reported(clients, thing)
    assert read is not None
    assert read.online is False and read.reason is None  # deleted, not left from "hello"
    assert read.last_seen_ms == AT  # not part of this write: kept
    assert read.last_motion_ms == AT - 7  # nor this
    assert read.health == running  # pipeline_error and versions.gst deleted


def test_it_is_a_named_shadow_apart_from_the_classic_one(clients: AwsClients, thing: str) -> None:
    update_reported(clients, thing, ShadowUpdate(last_seen_ms=AT))
    named = json.loads(
        clients.iot_data.get_thing_shadow(thingName=thing, shadowName=SHADOW_NAME)["payload"].read()
    )
    assert named["state"]["reported"] == {"last_seen_ms": AT}
    with pytest.raises(ClientError) as raised:
        clients.iot_data.get_thing_shadow(thingName=thing)
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_errors_are_translated(local_endpoint: Any, clients: AwsClients, thing: str) -> None:
    with pytest.raises(NotFoundError):
        update_reported(clients, "no-such-thing", ShadowUpdate(last_seen_ms=AT))
    inject_fault(local_endpoint.url, "iot-data", "UpdateThingShadow", "AccessDeniedException")
    with pytest.raises(AccessDeniedError):
        update_reported(clients, thing, ShadowUpdate(last_seen_ms=AT))
    clients.iot_data.update_thing_shadow(
        thingName=thing, shadowName=SHADOW_NAME, payload=b'{"state":{"reported":{"x":1}}}'
    )
    with pytest.raises(FleetError, match="does not hold a camera status"):
        get_reported(clients, thing)


def _identity_context(local_endpoint: Any, clients: AwsClients) -> tuple[FleetNames, str]:
    return fleet_names(clients), local_endpoint.ca.cert_pem


def test_the_bridge_identity_is_created_once(
    local_endpoint: Any, clients: AwsClients, tmp_path: Path
) -> None:
    names, ca_pem = _identity_context(local_endpoint, clients)
    first = ensure_bridge_identity(clients, names, tmp_path / "bridge", ca_pem)
    assert first.thing_name == "camfleet-bridge"
    assert "created IoT certificate" in first.changed

    again = ensure_bridge_identity(clients, names, tmp_path / "bridge", ca_pem)
    assert again.changed == ()
    assert again.certificate_arn == first.certificate_arn

    bundle = first.bundle
    assert bundle.key_path.stat().st_mode & 0o777 == 0o600
    assert (bundle.dir / CA_FILE).read_text() == ca_pem
    cert = x509.load_pem_x509_certificate(bundle.cert_path.read_bytes())
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem.encode()))
    thing = iot.describe_thing(clients, names.bridge_thing)
    assert thing is not None and thing.principals == (first.certificate_arn,)
    attached = clients.iot.list_attached_policies(target=first.certificate_arn)["policies"]
    assert [p["policyName"] for p in attached] == [names.bridge_policy]
    document = clients.iot.get_policy(policyName=names.bridge_policy)["policyDocument"]
    assert canonical(document) == canonical(bridge_policy(names))


def test_each_bridge_host_has_its_own_certificate_and_keeps_the_others(
    local_endpoint: Any, clients: AwsClients, tmp_path: Path
) -> None:
    names, ca_pem = _identity_context(local_endpoint, clients)
    one = ensure_bridge_identity(clients, names, tmp_path / "host-1", ca_pem)
    two = ensure_bridge_identity(clients, names, tmp_path / "host-2", ca_pem)
    assert one.certificate_arn != two.certificate_arn
    thing = iot.describe_thing(clients, names.bridge_thing)
    assert thing is not None
    assert set(thing.principals) == {one.certificate_arn, two.certificate_arn}


def test_a_camera_cannot_take_the_bridges_thing_name() -> None:
    with pytest.raises(InvalidInputError, match="bridge"):
        FleetNames("camfleet", "123456789012", "us-east-1").thing("camfleet-bridge")
