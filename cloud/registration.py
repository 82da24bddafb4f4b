"""Register one camera: preflight (read-only), then idempotent steps with a rollback journal.

A failure rolls back exactly what this run created, newest first, and re-raises; a crash (no
rollback ran) is resumed by running again, because every step finds what exists before creating.
Updates made in place (processor settings, retention, thing attributes) are not rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cloud import iam, iot, kvs, rekognition
from cloud.analysis import frames_table
from cloud.bundle import Bundle
from cloud.clients import AwsClients
from cloud.errors import ConflictError, FleetError, NotFoundError, QuotaExceededError
from cloud.identity import ensure_certificate
from cloud.models import (
    Analyzer,
    Change,
    FleetRecord,
    ProcessorRecord,
    ProcessorSettings,
    ProcessorWiring,
    RegistrationResult,
)
from cloud.models import CameraSpec as Spec
from cloud.naming import FleetNames
from cloud.policies import PolicyName, render
from cloud.quotas import processor_quota
from cloud.registry import FLEET_ATTRIBUTE, thing_attributes
from cloud.tags import OWNER_KEY, fleet_tags
from device.config import AgentConfig, AwsConfig, MqttConfig, SinkConfig, SinkKind, SourceConfig

log = logging.getLogger(__name__)

# The AWS API families a registration writes to (about one create each): callers that pace
# registrations against AWS's per-account write rates draw from these.
WRITE_FAMILIES = ("iot", "kinesisvideo", "iam", "rekognition")
ROLE_POLICY = "camera-analysis"


@dataclass(frozen=True)
class RegistrationContext:
    """Everything a registration needs, built once by the composition root."""

    clients: AwsClients
    names: FleetNames
    fleet: FleetRecord
    bundle_root: Path
    broker_ca_pem: str
    fragment_root: Path | None = None  # local stack: cameras write fragments here, not to KVS


@dataclass
class Journal:
    """Undo actions for what this run created, newest last."""

    undo: list[tuple[str, Callable[[], object]]] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    def created(self, what: str, undo: Callable[[], object]) -> None:
        self.changed.append(f"created {what}")
        self.undo.append((what, undo))

    def updated(self, what: str) -> None:
        self.changed.append(f"updated {what}")

    def rollback(self, camera_id: str) -> list[str]:
        """Undo newest first; keep going past failures and return what could not be undone."""
        left: list[str] = []
        for what, action in reversed(self.undo):
            try:
                action()
                log.info("camera %s: rolled back %s", camera_id, what)
            except Exception as err:  # report, keep undoing the rest
                log.error("camera %s: could not roll back %s: %s", camera_id, what, err)
                left.append(f"{what} ({err})")
        self.undo.clear()
        return left


@dataclass(frozen=True)
class Preflight:
    existing_processor: ProcessorRecord | None
    recreate_processor: bool


def desired_wiring(
    ctx: RegistrationContext, camera_id: str, stream_arn: str, role_arn: str
) -> ProcessorWiring:
    return ProcessorWiring(
        stream_arn=stream_arn,
        bucket=ctx.fleet.bucket,
        key_prefix=ctx.names.results_prefix(camera_id),
        sns_topic_arn=ctx.fleet.topic_arn,
        role_arn=role_arn,
    )


def processor_settings(spec: Spec) -> ProcessorSettings:
    return ProcessorSettings(
        labels=spec.labels,
        min_confidence=spec.min_confidence,
        regions_of_interest=spec.regions_of_interest,
    )


def preflight(ctx: RegistrationContext, spec: Spec, *, replace: bool) -> Preflight:
    """Read-only checks that must pass before anything is created."""
    clients, names, camera = ctx.clients, ctx.names, spec.camera_id
    names.thing(camera)  # refuses the bridge's thing name before anything is read or written
    _refuse_foreign_resources(ctx, camera)
    if ctx.fleet.analyzer is Analyzer.FRAMES:  # no processor, no quota
        return Preflight(existing_processor=None, recreate_processor=False)
    existing = rekognition.describe_processor(clients, names.processor(camera))
    if existing is None:
        quota = processor_quota(clients)
        in_use = len(rekognition.list_processor_names(clients))
        if in_use >= quota.value:
            raise QuotaExceededError(
                f"camera {camera}: the Rekognition stream processor quota is reached "
                f"({in_use} of {quota.value} in {clients.region}; quota {quota.code!r}, "
                f"{quota.name!r}). Raise it in Service Quotas (service 'rekognition'), or on the "
                "local stack restart it with `fleet up --processor-quota N`. Nothing was created."
            )
        return Preflight(existing_processor=None, recreate_processor=False)
    stream = kvs.describe_stream(clients, names.stream(camera))
    stream_arn = stream.arn if stream else existing.wiring.stream_arn
    role = iam.get_role(clients, names.rekognition_role(camera))
    role_arn = role[0].arn if role else existing.wiring.role_arn
    differences = rekognition.wiring_differences(
        existing.wiring, desired_wiring(ctx, camera, stream_arn, role_arn)
    )
    if differences and not replace:
        raise ConflictError(
            f"camera {camera} is registered with settings that cannot be changed in place: "
            + "; ".join(differences)
            + ". Re-run with --replace to re-create its stream processor."
        )
    return Preflight(existing_processor=existing, recreate_processor=bool(differences))


def _refuse_foreign_resources(ctx: RegistrationContext, camera: str) -> None:
    """A camera id names its thing and stream in the account: never take over one that another
    fleet (or anyone else) made."""
    clients, names = ctx.clients, ctx.names
    thing = iot.describe_thing(clients, names.thing(camera))
    if thing is not None:
        _refuse_unless_ours(
            camera, f"IoT thing {thing.name}", thing.attributes.get(FLEET_ATTRIBUTE), names.fleet
        )
    if kvs.describe_stream(clients, names.stream(camera)) is not None:
        owner = kvs.stream_tags(clients, names.stream(camera)).get(OWNER_KEY)
        _refuse_unless_ours(camera, f"KVS stream {names.stream(camera)}", owner, names.fleet)


def _refuse_unless_ours(camera: str, what: str, owner: str | None, fleet: str) -> None:
    if owner == fleet:
        return
    whose = f"belongs to fleet {owner}" if owner else "was not created by a camera fleet"
    raise ConflictError(
        f"camera {camera}: {what} already exists and {whose}; choose another camera id. "
        "Nothing was created."
    )


def register_camera(
    ctx: RegistrationContext, spec: Spec, *, replace: bool = False
) -> RegistrationResult:
    check = preflight(ctx, spec, replace=replace)
    journal = Journal()
    try:
        return _register(ctx, spec, check, journal)
    except BaseException as err:
        left = journal.rollback(spec.camera_id)
        if left and isinstance(err, FleetError):
            raise type(err)(f"{err} (rollback left: {', '.join(left)})") from err
        raise


def _register(
    ctx: RegistrationContext, spec: Spec, check: Preflight, journal: Journal
) -> RegistrationResult:
    clients, names, camera = ctx.clients, ctx.names, spec.camera_id
    tags = fleet_tags(names.fleet, camera)

    thing, change = iot.ensure_thing(
        clients, names.thing(camera), thing_attributes(spec, names.fleet)
    )
    _note(journal, change, "IoT thing", lambda: iot.delete_thing(clients, thing.name))
    iot.ensure_in_group(clients, thing.name, names.thing_group, new_thing=change is Change.CREATED)

    stream, change = kvs.ensure_stream(clients, names.stream(camera), spec.retention_hours, tags)
    _note(journal, change, "KVS stream", lambda: kvs.delete_stream(clients, stream.name))

    if ctx.fleet.analyzer is Analyzer.FRAMES:
        role_arn = processor_arn = None
        frames_table.put_regions(clients, names.analysis_table, camera, spec.regions_of_interest)
    else:
        role_arn, processor_arn = _ensure_analysis_by_processor(
            ctx, spec, check, stream.arn, journal
        )

    cert_arn = _ensure_certificate(ctx, camera, thing.name, set(thing.principals), journal)

    _write_bundle(ctx, spec, journal)
    log.info("camera %s: registered (%s)", camera, "; ".join(journal.changed) or "no change")
    return RegistrationResult(
        camera_id=camera,
        thing_name=thing.name,
        stream_arn=stream.arn,
        processor_arn=processor_arn,
        role_arn=role_arn,
        certificate_arn=cert_arn,
        bundle_dir=Bundle(ctx.bundle_root / camera).dir,
        changed=tuple(journal.changed),
    )


def add_processor_analysis(ctx: RegistrationContext, spec: Spec, journal: Journal) -> str:
    """A registered camera's Rekognition role and stream processor, when its fleet switches to
    stream processors (the quota checked first); the processor's ARN."""
    camera = spec.camera_id
    stream = kvs.describe_stream(ctx.clients, ctx.names.stream(camera))
    if stream is None:
        raise NotFoundError(f"camera {camera} has no KVS stream: register it again")
    check = Preflight(
        existing_processor=rekognition.describe_processor(ctx.clients, ctx.names.processor(camera)),
        recreate_processor=False,
    )
    return _ensure_analysis_by_processor(ctx, spec, check, stream.arn, journal)[1]


def remove_processor_analysis(clients: AwsClients, names: FleetNames, camera: str) -> list[str]:
    """What a camera's stream processor analysis needed, deleted (a fleet switching to frames):
    what was deleted."""
    deleted = []
    if rekognition.delete_processor(clients, names.processor(camera)):
        deleted.append(f"stream processor {names.processor(camera)}")
    if iam.delete_role(clients, names.rekognition_role(camera)):
        deleted.append(f"IAM role {names.rekognition_role(camera)}")
    return deleted


def _ensure_analysis_by_processor(
    ctx: RegistrationContext, spec: Spec, check: Preflight, stream_arn: str, journal: Journal
) -> tuple[str, str]:
    """The camera's Rekognition role and stream processor: their ARNs."""
    clients, names, camera = ctx.clients, ctx.names, spec.camera_id
    tags = fleet_tags(names.fleet, camera)
    role_name = names.rekognition_role(camera)
    role, change = iam.ensure_role(
        clients,
        role_name,
        trust=render(
            PolicyName.REKOGNITION_TRUST,
            AccountId=names.account_id,
            ProcessorArn=names.processor_arn(camera),
        ),
        tags=tags,
        description=f"Rekognition reads camera {camera}'s stream and writes its results",
    )
    _note(journal, change, "Rekognition IAM role", lambda: iam.delete_role(clients, role_name))
    permissions = render(
        PolicyName.REKOGNITION_PERMISSIONS,
        Partition=names.partition,
        StreamArn=stream_arn,
        Bucket=ctx.fleet.bucket,
        KeyPrefix=names.results_prefix(camera),
        TopicArn=ctx.fleet.topic_arn,
    )
    change = iam.ensure_inline_policy(clients, role_name, ROLE_POLICY, permissions)
    if change is Change.UPDATED:  # a new inline policy goes with the role it was put on
        journal.updated("Rekognition role permissions")

    processor = _ensure_processor(ctx, spec, check, stream_arn, role.arn, tags, journal)

    return role.arn, processor.arn


def _note(journal: Journal, change: Change, what: str, undo: Callable[[], object]) -> None:
    if change is Change.CREATED:
        journal.created(what, undo)
    elif change is Change.UPDATED:
        journal.updated(what)


def _ensure_processor(
    ctx: RegistrationContext,
    spec: Spec,
    check: Preflight,
    stream_arn: str,
    role_arn: str,
    tags: dict[str, str],
    journal: Journal,
) -> ProcessorRecord:
    clients, name = ctx.clients, ctx.names.processor(spec.camera_id)
    wanted = processor_settings(spec)
    wiring = desired_wiring(ctx, spec.camera_id, stream_arn, role_arn)
    existing = check.existing_processor
    if existing is not None and check.recreate_processor:
        rekognition.delete_processor(clients, name)
        journal.updated("stream processor (re-created: --replace)")
        return rekognition.create_processor(clients, name, wiring, wanted, tags)
    if existing is None:
        created = rekognition.create_processor(clients, name, wiring, wanted, tags)
        journal.created("stream processor", lambda: rekognition.delete_processor(clients, name))
        return created
    if existing.settings != wanted:
        rekognition.update_processor(clients, name, wanted)
        journal.updated("stream processor settings")
    return existing


def _ensure_certificate(
    ctx: RegistrationContext, camera: str, thing: str, principals: set[str], journal: Journal
) -> str:
    clients, bundle = ctx.clients, Bundle(ctx.bundle_root / camera)
    if bundle.ensure_dir():
        journal.created("bundle directory", bundle.remove)

    def created(arn: str) -> None:
        def undo() -> None:
            iot.retire_certificate(clients, arn, thing)
            bundle.forget_certificate()

        journal.created("IoT certificate", undo)

    outcome = ensure_certificate(
        clients, bundle, thing, ctx.names.iot_policy, principals, on_created=created
    )
    if outcome.retired:
        journal.updated("IoT certificate (re-issued)")
    return outcome.arn


def _write_bundle(ctx: RegistrationContext, spec: Spec, journal: Journal) -> None:
    bundle, fleet = Bundle(ctx.bundle_root / spec.camera_id), ctx.fleet
    if ctx.fragment_root is not None:
        sink = SinkConfig(
            kind=SinkKind.LOCAL,
            stream_name=spec.camera_id,
            fragment_dir=ctx.fragment_root / spec.camera_id,
        )
    else:
        sink = SinkConfig(kind=SinkKind.KVS, stream_name=spec.camera_id)
    config = AgentConfig(
        camera_id=spec.camera_id,
        mqtt=MqttConfig(endpoint=fleet.mqtt_host, port=fleet.mqtt_port, client_id=spec.camera_id),
        aws=AwsConfig(
            region=fleet.region,
            credentials_endpoint=fleet.credentials_endpoint,
            role_alias=fleet.role_alias,
        ),
        source=SourceConfig(),
        sink=sink,
    )
    existing = bundle.config_path.read_text() if bundle.config_path.exists() else None
    bundle.write_ca(ctx.broker_ca_pem)
    bundle.write_agent_config(config)
    if existing is not None and existing != bundle.config_path.read_text():
        journal.updated("agent.toml")
