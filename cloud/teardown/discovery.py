"""Find everything a fleet owns, service by service, and what only looks like it.

Every service is listed, not only the registry, and each candidate is checked against the fleet's
markers (`cloud.teardown.ownership`): what fails is reported as left alone, never deleted.
`cameras` None is the whole fleet; otherwise only those cameras' resources.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TypeVar

from cloud import detections, iam, iot, kvs, notify, queues, rekognition, shadow, storage, tables
from cloud.bridge_identity import BRIDGE_ATTRIBUTE
from cloud.clients import AwsClients
from cloud.errors import InvalidInputError
from cloud.faces import collection as faces
from cloud.models import ProcessorStatus
from cloud.naming import FleetNames
from cloud.registry import FLEET_ATTRIBUTE
from cloud.teardown import analysis_items
from cloud.teardown.models import Inventory, Kind, LeftAlone, Resource
from cloud.teardown.ownership import (
    Verdict,
    by_attribute,
    by_description,
    by_policy_grant,
    by_role_alias,
    by_tags,
    camera_of,
    camera_of_filter_policy,
    made_by_a_fleet,
)

T = TypeVar("T")
R = TypeVar("R")


class _Each:
    """`fn` over `items`, through the pool when there is one."""

    def __init__(self, pool: Executor | None):
        self._pool = pool

    def __call__(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        if self._pool is None:
            return [fn(item) for item in items]
        return list(self._pool.map(fn, items))


@dataclass
class _Found:
    names: FleetNames
    scope: frozenset[str] | None
    resources: list[Resource] = field(default_factory=list)
    left_alone: list[LeftAlone] = field(default_factory=list)

    def wanted(self, camera: str | None) -> bool:
        """Per-camera resources of the scope; fleet-level ones only for the whole fleet."""
        if self.scope is None:
            return True
        return camera is not None and camera in self.scope

    def add(self, resource: Resource) -> None:
        if self.wanted(resource.camera):
            self.resources.append(resource)

    def judge(self, kind: Kind, name: str, verdict: Verdict) -> bool:
        if not verdict.ours:
            self.left_alone.append(LeftAlone(kind=kind, name=name, reason=verdict.reason))
        return verdict.ours

    @property
    def cameras(self) -> set[str]:
        return {r.camera for r in self.resources if r.camera is not None}


def _in_scope(found: _Found, each: _Each, lookup: Callable[[str], T | None]) -> list[T]:
    """A scoped discovery's candidates: each camera's resource, looked up by its name (the
    absent ones left out)."""
    return [r for r in each(lookup, sorted(found.scope or ())) if r is not None]


def discover(
    clients: AwsClients,
    names: FleetNames,
    cameras: Collection[str] | None = None,
    *,
    pool: Executor | None = None,
) -> Inventory:
    scope = None if cameras is None else frozenset(names.thing(c) for c in cameras)
    found, each = _Found(names, scope), _Each(pool)
    things = _camera_things(clients, found, each)
    if scope is None:
        things += _bridge_thing(clients, found)
    _thing_contents(clients, found, each, things)
    _processors(clients, found, each)
    _roles(clients, found, each)
    _streams(clients, found, each)
    _results(clients, found, each)
    _analysis(clients, found, each)
    _topics(clients, found)
    if scope is None:
        _faces(clients, found)
        _queues(clients, found)
        _iot_fleet_level(clients, found)
    return Inventory(
        fleet=names.fleet,
        cameras=None if scope is None else tuple(sorted(scope)),
        resources=tuple(found.resources),
        left_alone=tuple(found.left_alone),
    )


# IoT things, their certificates and shadows.


def _camera_things(clients: AwsClients, found: _Found, each: _Each) -> list[tuple[str, str | None]]:
    """The fleet's camera things (name, camera): marked by the fleet attribute, in the group or
    not. A thing in the group without the marker is someone else's."""
    names = found.names
    if found.scope is not None:
        things = _in_scope(found, each, lambda c: iot.describe_thing(clients, names.thing(c)))
        candidates = {thing.name: thing.attributes for thing in things}
    else:
        candidates = iot.things_with_attribute(clients, FLEET_ATTRIBUTE, names.fleet)
        for name in iot.list_group_things(clients, names.thing_group):
            if name not in candidates:
                thing = iot.describe_thing(clients, name)
                candidates[name] = thing.attributes if thing else {}
    owned: list[tuple[str, str | None]] = []
    for name, attributes in sorted(candidates.items()):
        if found.judge(Kind.THING, name, by_attribute(attributes, FLEET_ATTRIBUTE, names.fleet)):
            owned.append((name, name))
    return owned


def _bridge_thing(clients: AwsClients, found: _Found) -> list[tuple[str, str | None]]:
    name = found.names.bridge_thing
    thing = iot.describe_thing(clients, name)
    if thing is None:
        return []
    verdict = by_attribute(thing.attributes, BRIDGE_ATTRIBUTE, found.names.fleet)
    return [(name, None)] if found.judge(Kind.THING, name, verdict) else []


def _thing_contents(
    clients: AwsClients, found: _Found, each: _Each, things: list[tuple[str, str | None]]
) -> None:
    def read(thing: tuple[str, str | None]) -> tuple[list[str], list[str]]:
        return iot.thing_principals(clients, thing[0]), shadow.list_named_shadows(clients, thing[0])

    for (name, camera), (principals, shadows) in zip(things, each(read, things), strict=True):
        for principal in principals:
            if ":cert/" in principal:
                found.add(
                    Resource(kind=Kind.CERTIFICATE, name=principal, camera=camera, parent=name)
                )
        for shadow_name in shadows:
            found.add(Resource(kind=Kind.SHADOW, name=shadow_name, camera=camera, parent=name))
        detail = "the MQTT bridge's identity" if camera is None else "in the registry"
        found.add(Resource(kind=Kind.THING, name=name, camera=camera, detail=detail))


# Rekognition, IAM, Kinesis Video: tagged per camera.


def _processors(clients: AwsClients, found: _Found, each: _Each) -> None:
    names = found.names
    if found.scope is not None:
        records = _in_scope(
            found, each, lambda c: rekognition.describe_processor(clients, names.processor(c))
        )
        statuses = {record.name: record.status for record in records}
    else:
        statuses = {
            n: s
            for n, s in rekognition.list_processors(clients).items()
            if n.startswith(f"{names.fleet}-")
        }
    candidates: list[tuple[str, str]] = []
    for name in sorted(statuses):
        try:
            candidates.append((name, names.camera_from_processor(name)))
        except InvalidInputError as err:
            found.judge(Kind.PROCESSOR, name, Verdict(ours=False, reason=str(err)))
    tags = each(
        lambda c: rekognition.processor_tags(clients, names.processor_arn(c[1])), candidates
    )
    for (name, camera), tagged in zip(candidates, tags, strict=True):
        if not found.judge(Kind.PROCESSOR, name, by_tags(tagged, names.fleet)):
            continue
        status, owner = statuses[name], camera_of(tagged, camera)
        if status in rekognition.ACTIVE - {ProcessorStatus.STOPPING}:
            found.add(Resource(kind=Kind.SESSION, name=name, camera=owner, detail=status.value))
        found.add(Resource(kind=Kind.PROCESSOR, name=name, camera=owner, detail=status.value))


def _roles(clients: AwsClients, found: _Found, each: _Each) -> None:
    names = found.names
    if found.scope is not None:
        candidates = [names.rekognition_role(c) for c in sorted(found.scope)]
    else:
        candidates = sorted(r.name for r in iam.list_roles(clients, f"{names.fleet}-"))
    tags = each(lambda role: iam.role_tags(clients, role), candidates)
    for role, tagged in zip(candidates, tags, strict=True):
        if tagged is None:
            continue  # looked up by name, and absent
        if role == names.producer_role:
            if found.judge(Kind.ROLE, role, by_tags(tagged, names.fleet)):
                found.add(Resource(kind=Kind.ROLE, name=role, detail="KVS producer role"))
            continue
        try:
            camera = names.camera_from_role(role)
        except InvalidInputError as err:
            found.judge(Kind.ROLE, role, Verdict(ours=False, reason=str(err)))
            continue
        if found.judge(Kind.ROLE, role, by_tags(tagged, names.fleet)):
            found.add(Resource(kind=Kind.ROLE, name=role, camera=camera_of(tagged, camera)))


def _streams(clients: AwsClients, found: _Found, each: _Each) -> None:
    """Stream names are camera ids, with no fleet prefix: every stream of the account is read,
    and only those named like the fleet's or tagged by a fleet are reported when not ours."""
    names = found.names
    if found.scope is not None:
        streams = _in_scope(found, each, lambda c: kvs.describe_stream(clients, names.stream(c)))
        candidates = [s.name for s in streams if s.status != kvs.DELETING]
    else:
        candidates = [r.name for r in kvs.list_streams(clients)]
    known = found.cameras
    tags = each(lambda stream: kvs.stream_tags(clients, stream), candidates)
    for stream, tagged in zip(candidates, tags, strict=True):
        verdict = by_tags(tagged, names.fleet)
        if verdict.ours:
            found.add(Resource(kind=Kind.STREAM, name=stream, camera=camera_of(tagged, stream)))
        elif stream in known or stream.startswith(f"{names.fleet}-") or made_by_a_fleet(tagged):
            found.judge(Kind.STREAM, stream, verdict)


# Results: S3 objects and detection records; SNS subscriptions.


def _results(clients: AwsClients, found: _Found, each: _Each) -> None:
    names = found.names
    bucket, table = names.results_bucket, names.detections_table
    bucket_tags = storage.bucket_tags(clients, bucket)
    if bucket_tags is not None and found.judge(
        Kind.BUCKET, bucket, by_tags(bucket_tags, names.fleet)
    ):
        if found.scope is None:
            keys = storage.list_keys(clients, bucket)
            per_camera: dict[str, int] = {}
            for key in keys:
                camera = names.camera_from_results_key(key)
                if camera is not None:
                    per_camera[camera] = per_camera.get(camera, 0) + 1
            found.add(Resource(kind=Kind.BUCKET, name=bucket, count=len(keys)))
        else:
            cameras = sorted(found.scope)
            counts = each(
                lambda c: len(storage.list_keys(clients, bucket, _prefix(names, c))), cameras
            )
            per_camera = dict(zip(cameras, counts, strict=True))
        for camera, count in sorted(per_camera.items()):
            if count:
                found.add(
                    Resource(
                        kind=Kind.RESULTS,
                        name=_prefix(names, camera),
                        camera=camera,
                        parent=bucket,
                        count=count,
                    )
                )
    table_tags = tables.table_tags(clients, table)
    if table_tags is None or not found.judge(Kind.TABLE, table, by_tags(table_tags, names.fleet)):
        return
    if found.scope is None:
        # The whole table goes: its items go with it, not one by one.
        found.add(Resource(kind=Kind.TABLE, name=table))
        return
    cameras = sorted(found.scope)
    counts = each(lambda c: detections.count_camera_items(clients, table, c), cameras)
    for camera, count in zip(cameras, counts, strict=True):
        if count:
            found.add(
                Resource(
                    kind=Kind.DETECTIONS, name=camera, camera=camera, parent=table, count=count
                )
            )


def _prefix(names: FleetNames, camera: str) -> str:
    return f"{names.results_prefix(camera)}/"


# The frames analyzer: its table, or each camera's item in it (its queues are fleet-level, below).


def _analysis(clients: AwsClients, found: _Found, each: _Each) -> None:
    """The whole table for the whole fleet (each camera's item goes with it), else the items of
    the cameras asked for."""
    table = found.names.analysis_table
    tags = tables.table_tags(clients, table)
    if tags is None or not found.judge(
        Kind.ANALYSIS_TABLE, table, by_tags(tags, found.names.fleet)
    ):
        return
    if found.scope is None:
        found.add(Resource(kind=Kind.ANALYSIS_TABLE, name=table))
        return
    cameras = sorted(found.scope)
    held = each(lambda c: analysis_items.present(clients, table, c), cameras)
    for camera, present in zip(cameras, held, strict=True):
        if present:
            found.add(Resource(kind=Kind.ANALYSIS_ITEM, name=camera, camera=camera, parent=table))


def _topics(clients: AwsClients, found: _Found) -> None:
    names = found.names
    for arn in (names.topic_arn(), names.user_notifications_topic_arn()):
        tags = notify.topic_tags(clients, arn)
        if tags is None or not found.judge(Kind.TOPIC, arn, by_tags(tags, names.fleet)):
            continue
        for subscription in notify.list_subscriptions(clients, arn):
            camera = camera_of_filter_policy(subscription.filter_policy)
            found.add(
                Resource(
                    kind=Kind.SUBSCRIPTION,
                    name=subscription.arn,
                    camera=camera,
                    parent=arn,
                    detail=f"{subscription.protocol} {subscription.endpoint}",
                )
            )
        found.add(Resource(kind=Kind.TOPIC, name=arn))


# Known faces (fleet-level): the collection, and the photos and records kept beside it.


def _faces(clients: AwsClients, found: _Found) -> None:
    """The collection if tagged as the fleet's; the objects under the faces prefix of the
    fleet's own bucket (they go before the bucket, and with `--keep-results` too)."""
    names = found.names
    collection = names.faces_collection
    tags = faces.collection_tags(clients, names.faces_collection_arn())
    if tags is not None and found.judge(
        Kind.FACE_COLLECTION, collection, by_tags(tags, names.fleet)
    ):
        indexed = faces.list_faces(clients, collection) or []
        found.add(Resource(kind=Kind.FACE_COLLECTION, name=collection, count=len(indexed)))
    bucket = names.results_bucket
    if any(r.kind is Kind.BUCKET and r.name == bucket for r in found.resources):
        keys = storage.list_keys(clients, bucket, names.faces_prefix)
        if keys:
            found.add(
                Resource(
                    kind=Kind.FACE_PHOTOS, name=names.faces_prefix, parent=bucket, count=len(keys)
                )
            )


# Fleet-level: queues, the IoT policies, role alias and thing group, orphaned certificates.


def _queues(clients: AwsClients, found: _Found) -> None:
    """The results queue and the frames analyzer's analysis queue, each with its dead letters."""
    names = found.names
    for name in (names.results_queue, names.results_dlq, names.analysis_queue, names.analysis_dlq):
        url = queues.queue_url(clients, name)
        if url is not None and found.judge(
            Kind.QUEUE, name, by_tags(queues.queue_tags(clients, url), names.fleet)
        ):
            found.add(Resource(kind=Kind.QUEUE, name=name))


def _iot_fleet_level(clients: AwsClients, found: _Found) -> None:
    names = found.names
    markers = {
        names.iot_policy: ("iot:AssumeRoleWithCertificate", names.role_alias_arn()),
        names.bridge_policy: (
            "iot:Connect",
            names.iot_arn(f"client/{names.bridge_client_prefix}*"),
        ),
    }
    attached = {r.name for r in found.resources if r.kind is Kind.CERTIFICATE}
    for policy, (action, resource) in markers.items():
        document = iot.policy_document(clients, policy)
        if document is None or not found.judge(
            Kind.IOT_POLICY, policy, by_policy_grant(document, action, resource)
        ):
            continue
        # A certificate still attached to the fleet's policy but to none of its things: a
        # registration or a bridge host that stopped half-way.
        for target in iot.policy_targets(clients, policy):
            if ":cert/" in target and target not in attached:
                attached.add(target)
                found.add(
                    Resource(
                        kind=Kind.CERTIFICATE,
                        name=target,
                        detail=f"attached to policy {policy}, to none of the fleet's things",
                    )
                )
        found.add(Resource(kind=Kind.IOT_POLICY, name=policy))
    role_arn = iot.role_alias_role(clients, names.role_alias)
    if role_arn is not None:
        producer_ours = any(
            r.kind is Kind.ROLE and r.name == names.producer_role for r in found.resources
        )
        verdict = by_role_alias(role_arn, names.role_arn(names.producer_role), producer_ours)
        if found.judge(Kind.ROLE_ALIAS, names.role_alias, verdict):
            found.add(Resource(kind=Kind.ROLE_ALIAS, name=names.role_alias))
    description = iot.thing_group_description(clients, names.thing_group)
    if description is not None and found.judge(
        Kind.THING_GROUP,
        names.thing_group,
        by_description(description, iot.thing_group_marker(names.fleet)),
    ):
        found.add(Resource(kind=Kind.THING_GROUP, name=names.thing_group))
