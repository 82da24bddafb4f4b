"""Teardown's discovery, plan and deletions against the local AWS endpoint, without Prefect:
every resource registration and the results wiring create is found (a half-failed registration
too), deleted in order, and nothing of the fleet is left; look-alikes and another fleet survive."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cloud import detections, rekognition
from cloud.bridge_identity import ensure_bridge_identity
from cloud.errors import AccessDeniedError
from cloud.models import CameraSpec
from cloud.registration import RegistrationContext, register_camera
from cloud.rekognition_messages import DetectionRecord, NotificationState
from cloud.teardown.actions import delete
from cloud.teardown.discovery import discover
from cloud.teardown.models import Inventory, Kind
from cloud.teardown.plan import build_plan
from tests.support.endpoint_admin import clear_faults, inject_fault
from tests.support.lookalikes import make_lookalikes, surviving
from tests.support.registration import registration_context


@pytest.fixture
def ctx(local_endpoint: Any, tmp_path: Path) -> RegistrationContext:
    local_endpoint.reset()
    clear_faults(local_endpoint.url)
    return registration_context(local_endpoint, tmp_path / "teardown", name="tdfleet")


def _half_register(ctx: RegistrationContext, endpoint: Any, camera: str) -> None:
    """A registration that fails at the processor and whose rollback fails twice: its role and
    stream are left, its thing (the registry's entry) is rolled back."""
    inject_fault(endpoint.url, "rekognition", "CreateStreamProcessor")
    inject_fault(endpoint.url, "iam", "DeleteRole")
    inject_fault(endpoint.url, "kinesisvideo", "DeleteStream")
    try:
        with pytest.raises(AccessDeniedError, match="rollback left"):
            register_camera(ctx, CameraSpec(camera_id=camera))
    finally:
        clear_faults(endpoint.url)


def _result_files(ctx: RegistrationContext, camera: str) -> None:
    s3, bucket = ctx.clients.s3, ctx.fleet.bucket
    for session in ("s1", "s2"):
        key = f"{ctx.names.results_prefix(camera)}/{ctx.names.processor(camera)}/{session}/f.jpg"
        s3.put_object(Bucket=bucket, Key=key, Body=b"jpeg")


def _detection(ctx: RegistrationContext, camera: str) -> None:
    record = DetectionRecord(
        camera_id=camera,
        session_id="s1",
        label="PERSON",
        confidence=90.0,
        detected_at=datetime(2026, 5, 2, tzinfo=UTC),
        frame_uri=f"s3://{ctx.fleet.bucket}/x.jpg",
        processor=ctx.names.processor(camera),
        notification=NotificationState.SENT,
    )
    detections.put_detection(ctx.clients, ctx.names.detections_table, record)


def _subscribe_camera(ctx: RegistrationContext, camera: str) -> str:
    names = ctx.names
    return str(
        ctx.clients.sns.subscribe(
            TopicArn=names.user_notifications_topic_arn(),
            Protocol="email",
            Endpoint=f"{camera}@example.com",
            Attributes={"FilterPolicy": f'{{"camera": ["{camera}"]}}'},
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
    )


def _tear_down(ctx: RegistrationContext, inventory: Inventory) -> None:
    for step in build_plan(inventory).steps:
        delete(ctx.clients, step.resource)


def test_the_whole_fleet_is_found_deleted_in_order_and_nothing_else(
    ctx: RegistrationContext, local_endpoint: Any, tmp_path: Path
) -> None:
    clients, names = ctx.clients, ctx.names
    other = registration_context(local_endpoint, tmp_path / "other", name="tdother")
    register_camera(other, CameraSpec(camera_id="other-cam"))
    for camera in ("cam-a", "cam-b"):
        register_camera(ctx, CameraSpec(camera_id=camera))
        _result_files(ctx, camera)
        _detection(ctx, camera)
    _half_register(ctx, local_endpoint, "cam-half")
    _subscribe_camera(ctx, "cam-a")
    ensure_bridge_identity(clients, names, tmp_path / "bridge", local_endpoint.ca.cert_pem)
    rekognition.start_session(clients, names.processor("cam-b"), 1_000, 30)
    lookalikes = make_lookalikes(clients, names)

    inventory = discover(clients, names)
    found = {(r.kind, r.camera, r.name) for r in inventory.resources}
    for camera in ("cam-a", "cam-b"):
        for kind, name in (
            (Kind.PROCESSOR, names.processor(camera)),
            (Kind.THING, camera),
            (Kind.STREAM, camera),
            (Kind.ROLE, names.rekognition_role(camera)),
            (Kind.RESULTS, f"cameras/{camera}/"),
        ):
            assert (kind, camera, name) in found
    assert (Kind.SESSION, "cam-b", names.processor("cam-b")) in found
    assert (Kind.STREAM, "cam-half", "cam-half") in found
    assert (Kind.ROLE, "cam-half", names.rekognition_role("cam-half")) in found
    assert not any(r.camera == "cam-half" and r.kind is Kind.THING for r in inventory.resources)
    for kind, name in (
        (Kind.THING, names.bridge_thing),
        (Kind.IOT_POLICY, names.iot_policy),
        (Kind.IOT_POLICY, names.bridge_policy),
        (Kind.ROLE_ALIAS, names.role_alias),
        (Kind.ROLE, names.producer_role),
        (Kind.THING_GROUP, names.thing_group),
        (Kind.BUCKET, names.results_bucket),
        (Kind.TABLE, names.detections_table),
        (Kind.QUEUE, names.results_queue),
        (Kind.QUEUE, names.results_dlq),
        (Kind.TOPIC, names.topic_arn()),
        (Kind.TOPIC, names.user_notifications_topic_arn()),
    ):
        assert (kind, None, name) in found, (kind, name)
    assert sum(r.kind is Kind.CERTIFICATE for r in inventory.resources) == 3  # 2 cameras, bridge
    assert [r.camera for r in inventory.resources if r.kind is Kind.SUBSCRIPTION].count(
        "cam-a"
    ) == 1
    assert not any("other" in r.name for r in inventory.resources)
    left_alone = {a.name for a in inventory.left_alone}
    for what in ("thing", "stream", "other-fleet-stream", "processor", "role"):
        assert lookalikes[what] in left_alone, what

    _tear_down(ctx, inventory)

    after = discover(clients, names)
    assert after.resources == ()
    assert all(surviving(clients, lookalikes).values()), surviving(clients, lookalikes)
    assert discover(other.clients, other.names).resources != ()
    assert rekognition.describe_processor(clients, other.names.processor("other-cam")) is not None


def test_one_camera_goes_and_the_rest_of_the_fleet_stays(
    ctx: RegistrationContext, local_endpoint: Any
) -> None:
    clients, names = ctx.clients, ctx.names
    for camera in ("cam-a", "cam-b"):
        register_camera(ctx, CameraSpec(camera_id=camera))
        _result_files(ctx, camera)
        _detection(ctx, camera)
        _subscribe_camera(ctx, camera)

    inventory = discover(clients, names, ["cam-a"])
    assert {r.camera for r in inventory.resources} == {"cam-a"}
    kinds = [s.resource.kind for s in build_plan(inventory).steps]
    assert kinds == [
        Kind.PROCESSOR,
        Kind.CERTIFICATE,
        Kind.THING,
        Kind.STREAM,
        Kind.ROLE,
        Kind.RESULTS,
        Kind.DETECTIONS,
        Kind.SUBSCRIPTION,
    ]
    _tear_down(ctx, inventory)

    assert discover(clients, names, ["cam-a"]).resources == ()
    rest = discover(clients, names)
    assert {r.camera for r in rest.resources} == {"cam-b", None}
    assert detections.count_camera_items(clients, names.detections_table, "cam-b") == 1
