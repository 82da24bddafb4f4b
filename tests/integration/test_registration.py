"""Registration against the local AWS endpoint over real HTTP: idempotence, updates, refusals,
quota, throttling, and a failure injected at every step."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from cloud import iam, iot, kvs, rekognition
from cloud.bundle import Bundle
from cloud.errors import AccessDeniedError, ConflictError, InvalidInputError, QuotaExceededError
from cloud.models import CameraSpec, Label, ProcessorStatus
from cloud.policies import canonical
from cloud.registration import RegistrationContext, register_camera
from cloud.registry import list_camera_ids, show_camera
from cloud.tags import fleet_tags
from device.config import load_agent_config
from tests.support.endpoint_admin import clear_faults, inject_fault, last_seq, requests_since
from tests.support.registration import registration_context

WRITE_PREFIXES = ("Create", "Put", "Update", "Attach", "Detach", "Delete", "Add", "Tag")


@pytest.fixture
def ctx(local_endpoint: Any, tmp_path: Path) -> Iterator[RegistrationContext]:
    local_endpoint.reset()
    clear_faults(local_endpoint.url)
    yield registration_context(local_endpoint, tmp_path)
    clear_faults(local_endpoint.url)


def _writes_since(endpoint: Any, seq: int) -> list[str]:
    return [
        r["operation"]
        for r in requests_since(endpoint.url, seq)
        if str(r["operation"]).startswith(WRITE_PREFIXES)
    ]


def _last_seq(endpoint: Any) -> int:
    return last_seq(endpoint.url)


def _footprint(ctx: RegistrationContext, camera: str) -> dict[str, object]:
    """Everything of one camera that exists in AWS right now."""
    c, n = ctx.clients, ctx.names
    thing = iot.describe_thing(c, n.thing(camera))
    certs = c.iot.list_certificates()["certificates"]
    return {
        "thing": thing is not None,
        "stream": kvs.describe_stream(c, n.stream(camera)) is not None,
        "role": iam.get_role(c, n.rekognition_role(camera)) is not None,
        "processor": rekognition.describe_processor(c, n.processor(camera)) is not None,
        "certificates": len(certs),
        "bundle": (ctx.bundle_root / camera).exists(),
    }


NOTHING = {
    "thing": False,
    "stream": False,
    "role": False,
    "processor": False,
    "certificates": 0,
    "bundle": False,
}


def test_register_creates_every_resource_and_a_usable_bundle(
    ctx: RegistrationContext, local_endpoint: Any
) -> None:
    spec = CameraSpec(
        camera_id="front-door",
        labels=frozenset({Label.PERSON}),
        min_confidence=70,
        retention_hours=2,
    )
    result = register_camera(ctx, spec)
    c, n = ctx.clients, ctx.names

    stream = kvs.describe_stream(c, "front-door")
    assert stream is not None and stream.retention_hours == 2
    assert result.stream_arn == stream.arn

    processor = rekognition.describe_processor(c, n.processor("front-door"))
    assert processor is not None
    assert processor.status is ProcessorStatus.STOPPED
    assert processor.settings.labels == {Label.PERSON}
    assert processor.wiring.stream_arn == stream.arn
    assert processor.wiring.bucket == ctx.fleet.bucket
    assert processor.wiring.key_prefix == "cameras/front-door"
    assert processor.wiring.sns_topic_arn == ctx.fleet.topic_arn

    role = c.iam.get_role(RoleName=n.rekognition_role("front-door"))["Role"]
    trust: dict[str, Any] = json.loads(canonical(role["AssumeRolePolicyDocument"]))
    condition = trust["Statement"][0]["Condition"]
    assert condition["ArnLike"]["aws:SourceArn"] == n.processor_arn("front-door")
    assert processor.wiring.role_arn == role["Arn"] == result.role_arn

    thing = iot.describe_thing(c, "front-door")
    assert thing is not None and thing.principals == (result.certificate_arn,)
    assert list_camera_ids(c, n) == ["front-door"]
    policies = c.iot.list_attached_policies(target=result.certificate_arn)["policies"]
    assert [p["policyName"] for p in policies] == [n.iot_policy]

    bundle = Bundle(result.bundle_dir)
    assert stat.S_IMODE(bundle.key_path.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(bundle.cert_path.read_bytes())
    ca = x509.load_pem_x509_certificate(local_endpoint.ca.cert_pem.encode())
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)
    config = load_agent_config(bundle.config_path)
    assert config.camera_id == config.mqtt.client_id == "front-door"
    assert config.mqtt.ca.read_text() == local_endpoint.ca.cert_pem
    assert ctx.fragment_root is not None
    assert config.sink.fragment_dir == ctx.fragment_root / "front-door"

    shown = show_camera(c, n, "front-door")
    assert shown.settings == spec
    assert shown.certificate_arn == result.certificate_arn


def test_registering_again_with_the_same_settings_writes_nothing(
    ctx: RegistrationContext, local_endpoint: Any
) -> None:
    spec = CameraSpec(camera_id="cam1")
    first = register_camera(ctx, spec)
    seq = _last_seq(local_endpoint)
    again = register_camera(ctx, spec)
    assert again.changed == ()
    assert again.model_dump(exclude={"changed"}) == first.model_dump(exclude={"changed"})
    assert _writes_since(local_endpoint, seq) == []


def test_mutable_settings_update_the_processor_in_place(ctx: RegistrationContext) -> None:
    first = register_camera(ctx, CameraSpec(camera_id="cam1"))
    changed = CameraSpec.model_validate(
        {
            "camera_id": "cam1",
            "labels": ["PET"],
            "min_confidence": 90,
            "retention_hours": 48,
            "regions_of_interest": [{"box": {"left": 0, "top": 0, "width": 0.5, "height": 0.5}}],
        }
    )
    second = register_camera(ctx, changed)
    assert second.processor_arn == first.processor_arn
    assert "updated stream processor settings" in second.changed
    assert "updated KVS stream" in second.changed
    processor = rekognition.describe_processor(ctx.clients, ctx.names.processor("cam1"))
    assert processor is not None
    assert processor.settings.labels == {Label.PET}
    assert processor.settings.min_confidence == 90
    assert len(processor.settings.regions_of_interest) == 1
    assert show_camera(ctx.clients, ctx.names, "cam1").settings == changed


def test_recognising_faces_is_a_thing_attribute_set_without_any_face_api(
    ctx: RegistrationContext, local_endpoint: Any
) -> None:
    seq = _last_seq(local_endpoint)
    register_camera(ctx, CameraSpec(camera_id="cam1", recognize_faces=True))
    rekognition_calls = {
        r["operation"]
        for r in requests_since(local_endpoint.url, seq)
        if r["service"] == "rekognition"
    }
    assert "CreateStreamProcessor" in rekognition_calls  # the log names Rekognition's calls
    assert not rekognition_calls & {
        "CreateCollection",
        "IndexFaces",
        "ListFaces",
        "SearchFacesByImage",
        "DetectFaces",
        "DeleteFaces",
    }
    thing = iot.describe_thing(ctx.clients, ctx.names.thing("cam1"))
    assert thing is not None and "recognize_faces=true" in thing.attributes["camera"].split(",")
    assert show_camera(ctx.clients, ctx.names, "cam1").settings.recognize_faces is True

    again = register_camera(ctx, CameraSpec(camera_id="cam1"))  # without the flag: off again
    assert again.changed == ("updated IoT thing",)
    assert show_camera(ctx.clients, ctx.names, "cam1").settings.recognize_faces is False


def test_immutable_difference_is_refused_unless_replace(
    ctx: RegistrationContext, local_endpoint: Any, tmp_path: Path
) -> None:
    register_camera(ctx, CameraSpec(camera_id="cam1"))
    moved = registration_context(local_endpoint, tmp_path, results_bucket="camfleet-elsewhere")
    seq = _last_seq(local_endpoint)
    with pytest.raises(ConflictError, match=r"output S3 bucket .*--replace"):
        register_camera(moved, CameraSpec(camera_id="cam1"))
    assert _writes_since(local_endpoint, seq) == []

    result = register_camera(moved, CameraSpec(camera_id="cam1"), replace=True)
    processor = rekognition.describe_processor(ctx.clients, ctx.names.processor("cam1"))
    assert processor is not None and processor.wiring.bucket == "camfleet-elsewhere"
    assert any("re-created" in c for c in result.changed)


def test_the_quota_is_checked_before_anything_is_created(
    ctx: RegistrationContext, local_endpoint: Any
) -> None:
    for i in range(10):
        register_camera(ctx, CameraSpec(camera_id=f"cam{i}"))
    seq = _last_seq(local_endpoint)
    with pytest.raises(QuotaExceededError, match=r"10 of 10 .*--processor-quota"):
        register_camera(ctx, CameraSpec(camera_id="cam10"))
    assert _writes_since(local_endpoint, seq) == []
    assert _footprint(ctx, "cam10")["thing"] is False
    # An existing camera still re-registers at the quota: it needs no new processor.
    assert register_camera(ctx, CameraSpec(camera_id="cam3")).changed == ()


# Every write a registration makes, in order, as (service, operation).
STEPS = [
    ("iot", "CreateThing"),
    ("iot", "AddThingToThingGroup"),
    ("kinesisvideo", "CreateStream"),
    ("iam", "CreateRole"),
    ("iam", "PutRolePolicy"),
    ("rekognition", "CreateStreamProcessor"),
    ("iot", "CreateCertificateFromCsr"),
    ("iot", "AttachPolicy"),
    ("iot", "AttachThingPrincipal"),
]


def test_steps_list_is_the_real_order_of_writes(
    ctx: RegistrationContext, local_endpoint: Any
) -> None:
    seq = _last_seq(local_endpoint)
    register_camera(ctx, CameraSpec(camera_id="cam1"))
    assert _writes_since(local_endpoint, seq) == [op for _, op in STEPS]


@pytest.mark.parametrize(("service", "operation"), STEPS, ids=[op for _, op in STEPS])
def test_a_failure_at_any_step_rolls_back_and_a_rerun_completes(
    ctx: RegistrationContext, local_endpoint: Any, service: str, operation: str
) -> None:
    certificates_before = _footprint(ctx, "cam1")["certificates"]
    inject_fault(local_endpoint.url, service, operation, "AccessDeniedException")
    with pytest.raises(AccessDeniedError):
        register_camera(ctx, CameraSpec(camera_id="cam1"))
    assert _footprint(ctx, "cam1") == {**NOTHING, "certificates": certificates_before}

    result = register_camera(ctx, CameraSpec(camera_id="cam1"))
    assert _footprint(ctx, "cam1") == {
        "thing": True,
        "stream": True,
        "role": True,
        "processor": True,
        "certificates": 1,
        "bundle": True,
    }
    thing = iot.describe_thing(ctx.clients, "cam1")
    assert thing is not None and thing.principals == (result.certificate_arn,)


def test_a_crash_between_steps_is_resumed_without_duplicates(ctx: RegistrationContext) -> None:
    """A crash leaves no rollback: simulate one by creating the first half by hand."""
    c, n = ctx.clients, ctx.names
    iot.ensure_thing(c, "cam1", {"fleet": n.fleet})
    kvs.ensure_stream(c, "cam1", 24, fleet_tags(n.fleet, "cam1"))
    bundle = Bundle(ctx.bundle_root / "cam1")
    bundle.ensure_dir()
    record, pem = iot.create_certificate_from_csr(c, bundle.csr("cam1"))
    bundle.write_certificate(pem, record.arn)  # crashed before attaching it
    result = register_camera(ctx, CameraSpec(camera_id="cam1"))
    assert result.certificate_arn == record.arn
    assert len(c.iot.list_certificates()["certificates"]) == 1
    assert [s["StreamName"] for s in c.kvs.list_streams()["StreamInfoList"]] == ["cam1"]


def test_throttling_is_retried_with_backoff(ctx: RegistrationContext, local_endpoint: Any) -> None:
    seq = _last_seq(local_endpoint)
    inject_fault(local_endpoint.url, "kinesisvideo", "CreateStream", "ThrottlingException", count=2)
    register_camera(ctx, CameraSpec(camera_id="cam1"))
    attempts = [
        r for r in requests_since(local_endpoint.url, seq) if r["operation"] == "CreateStream"
    ]
    assert [r["error_code"] for r in attempts] == [
        "ThrottlingException",
        "ThrottlingException",
        None,
    ]


def test_a_lost_bundle_gets_a_new_certificate_and_the_old_one_is_retired(
    ctx: RegistrationContext,
) -> None:
    first = register_camera(ctx, CameraSpec(camera_id="cam1"))
    Bundle(first.bundle_dir).remove()
    for leftover in first.bundle_dir.glob("*"):
        leftover.unlink()
    second = register_camera(ctx, CameraSpec(camera_id="cam1"))
    assert second.certificate_arn != first.certificate_arn
    assert iot.describe_certificate(ctx.clients, iot.certificate_id(first.certificate_arn)) is None
    thing = iot.describe_thing(ctx.clients, "cam1")
    assert thing is not None and thing.principals == (second.certificate_arn,)


def test_an_unwritable_bundle_directory_rolls_back(
    ctx: RegistrationContext, tmp_path: Path
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a directory should be")
    bad = RegistrationContext(**{**ctx.__dict__, "bundle_root": blocked})
    with pytest.raises(InvalidInputError, match="bundle directory"):
        register_camera(bad, CameraSpec(camera_id="cam1"))
    assert _footprint(ctx, "cam1") == NOTHING


def test_a_batch_larger_than_the_free_quota_is_refused_before_anything_is_created(
    ctx: RegistrationContext, local_endpoint: Any, tmp_path: Path
) -> None:
    from flows import runtime
    from flows.register import check_batch_quota

    runtime.configure(ctx.clients.settings)
    for i in range(8):
        register_camera(ctx, CameraSpec(camera_id=f"cam{i}"))
    seq = _last_seq(local_endpoint)
    batch = [CameraSpec(camera_id=f"new{i}") for i in range(3)] + [CameraSpec(camera_id="cam1")]
    with pytest.raises(QuotaExceededError, match=r"3 new cameras needs 3 .* only 2 of 10"):
        check_batch_quota(batch)
    assert _writes_since(local_endpoint, seq) == []
    check_batch_quota(batch[1:])  # two new ones fit


def test_a_registered_camera_starts_one_session_at_a_time(ctx: RegistrationContext) -> None:
    register_camera(ctx, CameraSpec(camera_id="cam1"))
    name = ctx.names.processor("cam1")
    now_ms = int(time.time() * 1000)
    session = rekognition.start_session(ctx.clients, name, now_ms - 2000, 5)
    assert session
    current = rekognition.describe_processor(ctx.clients, name)
    assert current is not None and current.status is ProcessorStatus.STARTING
    with pytest.raises(ConflictError, match=name):
        rekognition.start_session(ctx.clients, name, now_ms, 5)


def test_a_thing_or_stream_another_fleet_made_is_never_taken_over(
    ctx: RegistrationContext, local_endpoint: Any, tmp_path: Path
) -> None:
    """A camera id names its thing and stream account-wide: another fleet's, or one made by
    hand, is refused before anything is written, and left as it was."""
    register_camera(ctx, CameraSpec(camera_id="shared-name"))
    other = registration_context(local_endpoint, tmp_path / "other", name="otherfleet")
    ctx.clients.iot.create_thing(thingName="by-hand")
    ctx.clients.kvs.create_stream(StreamName="stream-by-hand", DataRetentionInHours=1)
    seq = _last_seq(local_endpoint)

    with pytest.raises(ConflictError, match=r"IoT thing shared-name .* belongs to fleet camfleet"):
        register_camera(other, CameraSpec(camera_id="shared-name"))
    with pytest.raises(ConflictError, match=r"IoT thing by-hand .* not created by a camera fleet"):
        register_camera(other, CameraSpec(camera_id="by-hand"))
    with pytest.raises(ConflictError, match=r"KVS stream stream-by-hand .* not created by"):
        register_camera(other, CameraSpec(camera_id="stream-by-hand"))

    assert _writes_since(local_endpoint, seq) == []
    thing = iot.describe_thing(ctx.clients, "shared-name")
    assert thing is not None and thing.attributes["fleet"] == "camfleet"
    assert list_camera_ids(other.clients, other.names) == []
