"""The teardown plan: what discovery found, grouped by camera, in deletion order. Pure: no I/O.

Each camera's resources go first, fleet-level resources last and only for a whole-fleet teardown.
A step waits for the steps it depends on (`after`) and is skipped, not tried, when one fails.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from cloud.models import Model
from cloud.teardown.models import Inventory, Kind, LeftAlone, Resource

CAMERA_ORDER = (
    Kind.SESSION,
    Kind.PROCESSOR,
    Kind.CERTIFICATE,
    Kind.SHADOW,
    Kind.THING,
    Kind.ANALYSIS_ITEM,  # ends a frames analysis session: its worker's next renewal fails
    Kind.STREAM,
    Kind.ROLE,
    Kind.RESULTS,
    Kind.DETECTIONS,
    Kind.SUBSCRIPTION,
)
FLEET_ORDER = (
    Kind.SUBSCRIPTION,
    Kind.TOPIC,
    Kind.QUEUE,
    Kind.TABLE,
    Kind.ANALYSIS_TABLE,
    Kind.FACE_COLLECTION,
    Kind.FACE_PHOTOS,  # with --keep-results too: known faces are not results
    Kind.BUCKET,
    Kind.CERTIFICATE,
    Kind.SHADOW,
    Kind.THING,
    Kind.IOT_POLICY,
    Kind.ROLE_ALIAS,
    Kind.ROLE,
    Kind.THING_GROUP,
)
# What `--keep-results` keeps: the frames in S3 and the detection records. The frames analyzer's
# table and items hold sessions and regions of interest, not results: they go.
RESULT_KINDS = frozenset({Kind.RESULTS, Kind.DETECTIONS, Kind.BUCKET, Kind.TABLE})

ACTIONS = {
    Kind.SESSION: "stop, await stopped",
    Kind.PROCESSOR: "delete",
    Kind.CERTIFICATE: "detach policies, INACTIVE, detach thing, delete",
    Kind.SHADOW: "delete",
    Kind.THING: "await no principal, delete",
    Kind.STREAM: "delete",
    Kind.ROLE: "delete inline policies, role",
    Kind.RESULTS: "delete objects",
    Kind.DETECTIONS: "delete records",
    Kind.ANALYSIS_ITEM: "delete item",
    Kind.SUBSCRIPTION: "unsubscribe",
    Kind.TOPIC: "delete",
    Kind.QUEUE: "delete with its messages",
    Kind.TABLE: "delete with its records",
    Kind.ANALYSIS_TABLE: "delete with its items",
    Kind.FACE_COLLECTION: "delete with its faces",
    Kind.FACE_PHOTOS: "delete objects",
    Kind.BUCKET: "empty, delete",
    Kind.IOT_POLICY: "delete versions, policy",
    Kind.ROLE_ALIAS: "delete",
    Kind.THING_GROUP: "delete",
}


class Step(Model):
    resource: Resource
    after: tuple[str, ...] = ()  # keys of the steps that must have succeeded first

    @property
    def key(self) -> str:
        return self.resource.key

    @property
    def action(self) -> str:
        return ACTIONS[self.resource.kind]


class CameraPlan(Model):
    camera_id: str
    steps: tuple[Step, ...]


class Plan(Model):
    fleet: str
    scope: tuple[str, ...] | None = None  # the cameras asked for; None: the whole fleet
    keep_results: bool = False
    cameras: tuple[CameraPlan, ...] = ()
    fleet_steps: tuple[Step, ...] = ()
    kept: tuple[Resource, ...] = ()
    left_alone: tuple[LeftAlone, ...] = ()

    @property
    def steps(self) -> list[Step]:
        """Every step: the cameras' (each camera in order), then the fleet's."""
        return [s for c in self.cameras for s in c.steps] + list(self.fleet_steps)

    @property
    def whole_fleet(self) -> bool:
        return self.scope is None

    @property
    def empty(self) -> bool:
        return not self.cameras and not self.fleet_steps


def build_plan(inventory: Inventory, *, keep_results: bool = False) -> Plan:
    kept: list[Resource] = []
    by_camera: dict[str, list[Resource]] = defaultdict(list)
    fleet_level: list[Resource] = []
    for resource in inventory.resources:
        if keep_results and resource.kind in RESULT_KINDS:
            kept.append(resource)
        elif resource.camera is not None:
            by_camera[resource.camera].append(resource)
        elif inventory.whole_fleet:  # never for a few cameras, whatever discovery found
            fleet_level.append(resource)
    camera_steps = {c: _ordered(rs, CAMERA_ORDER) for c, rs in sorted(by_camera.items())}
    fleet_steps = _ordered(fleet_level, FLEET_ORDER)
    steps = _steps([r for rs in camera_steps.values() for r in rs] + fleet_steps)
    return Plan(
        fleet=inventory.fleet,
        scope=inventory.cameras,
        keep_results=keep_results,
        cameras=tuple(
            CameraPlan(camera_id=c, steps=tuple(steps[r.key] for r in rs))
            for c, rs in camera_steps.items()
        ),
        fleet_steps=tuple(steps[r.key] for r in fleet_steps),
        kept=tuple(kept),
        left_alone=inventory.left_alone,
    )


def _ordered(resources: Iterable[Resource], order: tuple[Kind, ...]) -> list[Resource]:
    rank = {kind: i for i, kind in enumerate(order)}
    return sorted(resources, key=lambda r: (rank.get(r.kind, len(order)), r.parent or "", r.name))


def _steps(resources: list[Resource]) -> dict[str, Step]:
    """Each resource's step, with what it waits for: a processor for its session to stop, a
    thing for its certificates and shadows, a policy for every certificate (any may be attached
    to it), the producer role for the alias handing it out."""
    keys: dict[tuple[Kind, str | None], list[str]] = defaultdict(list)
    for r in resources:
        holder = r.parent if r.kind in (Kind.CERTIFICATE, Kind.SHADOW) else r.name
        if holder is not None:
            keys[r.kind, holder].append(r.key)
        keys[r.kind, None].append(r.key)  # every one of the kind

    def after(r: Resource) -> list[str]:
        match r.kind:
            case Kind.PROCESSOR:
                return keys[Kind.SESSION, r.name]
            case Kind.THING:
                return keys[Kind.CERTIFICATE, r.name] + keys[Kind.SHADOW, r.name]
            case Kind.IOT_POLICY:
                return keys[Kind.CERTIFICATE, None]
            case Kind.ROLE if r.camera is None:
                return keys[Kind.ROLE_ALIAS, None]
        return []

    return {r.key: Step(resource=r, after=tuple(after(r))) for r in resources}
