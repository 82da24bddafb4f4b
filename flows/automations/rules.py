"""What the automations declaration becomes in Prefect: pure, from the declaration, the fleet's
name and the ids of the deployments the automations run.

Each automation is an event trigger on the fleet's cameras' events (names from `flows.events`),
evaluated per camera, whose one action runs a deployment with parameters rendered from the
triggering event. Each is tagged with the fleet and a fingerprint of what was declared, for
`flows.automations.sync`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any
from uuid import UUID

from prefect.events.actions import RunDeployment
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

from flows.automations.camera_alerts import CameraProblem, duration_text
from flows.automations.declaration import (
    AnalysesFailing,
    AutomationsDeclaration,
    CameraOffline,
    PipelineFailed,
)
from flows.events import (
    ANALYSIS_FAILED,
    ANY_CAMERA,
    CAMERA_OFFLINE,
    CAMERA_ONLINE,
    FLEET_ROLE,
    PIPELINE_FAILED,
    CameraEventKind,
    fleet_resource_id,
)

MANAGED_TAG = "camera-fleet"
FINGERPRINT_PREFIX = "declared:"
PER_CAMERA = {"prefect.resource.id"}

# Parameters rendered from the triggering event. A lone expression keeps its JSON type.
CAMERA_ID = "{{ event.resource.name }}"
OCCURRED = "{{ event.occurred|string }}"
EVENT_ID = "{{ event.id|string }}"


def payload(kind: CameraEventKind[Any], key: str) -> str:
    """A field of the event's payload as text, empty when missing or null. The field must be one
    of the kind's payload model: a misspelt key fails here, not as an empty parameter."""
    if key not in kind.payload.model_fields:
        raise ValueError(f"{kind.name} has no payload field {key!r}")
    return "{{ event.payload.%s|default('', true)|string }}" % key  # noqa: UP031 - Jinja braces


def fleet_tag(fleet: str) -> str:
    return f"fleet:{fleet}"


@dataclass(frozen=True)
class AlertDeployments:
    """The ids of the served deployments the automations run."""

    offline: UUID
    failing: UUID


@dataclass(frozen=True)
class Names:
    fleet: str

    @property
    def offline(self) -> str:
        return f"{self.fleet}: camera offline"

    @property
    def pipeline_failed(self) -> str:
        return f"{self.fleet}: camera pipeline failed"

    @property
    def analyses_failing(self) -> str:
        return f"{self.fleet}: camera analyses failing"


def _cameras_of(fleet: str) -> dict[str, Any]:
    return {
        "match": {"prefect.resource.id": ANY_CAMERA},
        "match_related": {
            "prefect.resource.role": FLEET_ROLE,
            "prefect.resource.id": fleet_resource_id(fleet),
        },
        "for_each": PER_CAMERA,
    }


def _runs(
    deployment: UUID,
    parameters: dict[str, Any],
    *,
    name: str,
    description: str,
    enabled: bool,
    trigger: EventTrigger,
) -> AutomationCore:
    """An automation whose one action runs `deployment` for the triggering event's camera:
    `parameters` between the camera's id and the event's."""
    return AutomationCore(
        name=name,
        description=description,
        enabled=enabled,
        trigger=trigger,
        actions=[
            RunDeployment(
                source="selected",
                deployment_id=deployment,
                parameters={"camera_id": CAMERA_ID, **parameters, "event_id": EVENT_ID},
            )
        ],
    )


def _offline(spec: CameraOffline, fleet: str, deployment: UUID, source: str) -> AutomationCore:
    return _runs(
        deployment,
        {"offline_since": OCCURRED, "reason": payload(CAMERA_OFFLINE, "reason")},
        name=Names(fleet).offline,
        description=(
            f"A camera of fleet {fleet} offline for {duration_text(spec.offline_seconds)} "
            f"({CAMERA_OFFLINE.name} not followed by {CAMERA_ONLINE.name}) runs camera-offline, "
            f"which notifies {fleet}-notifications. Declared in {source}."
        ),
        enabled=spec.enabled,
        trigger=EventTrigger(
            **_cameras_of(fleet),
            # Offline is expected too: a flapping camera opens a fresh window at its latest offline.
            after={CAMERA_OFFLINE.name},
            expect={CAMERA_OFFLINE.name, CAMERA_ONLINE.name},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=spec.offline_seconds),
        ),
    )


def _pipeline_failed(
    spec: PipelineFailed, fleet: str, deployment: UUID, source: str
) -> AutomationCore:
    return _runs(
        deployment,
        {
            "problem": CameraProblem.PIPELINE_FAILED.value,
            "occurred": OCCURRED,
            "detail": payload(PIPELINE_FAILED, "error"),
        },
        name=Names(fleet).pipeline_failed,
        description=(
            f"A camera of fleet {fleet} whose pipeline failed ({PIPELINE_FAILED.name}) runs "
            f"camera-failing, at most once per camera per {duration_text(spec.cooldown_seconds)}. "
            f"Declared in {source}."
        ),
        enabled=spec.enabled,
        trigger=EventTrigger(
            **_cameras_of(fleet),
            expect={PIPELINE_FAILED.name},
            posture=Posture.Reactive,
            threshold=1,
            # The camera's events are ignored until its window ends: a cooldown.
            within=timedelta(seconds=spec.cooldown_seconds),
        ),
    )


def _analyses_failing(
    spec: AnalysesFailing, fleet: str, deployment: UUID, source: str
) -> AutomationCore:
    return _runs(
        deployment,
        {
            "problem": CameraProblem.ANALYSES_FAILING.value,
            "occurred": OCCURRED,
            "detail": payload(ANALYSIS_FAILED, "message"),
            "failures": spec.failures,
            "within_seconds": spec.within_seconds,
        },
        name=Names(fleet).analyses_failing,
        description=(
            f"A camera of fleet {fleet} with {spec.failures} failed analyses "
            f"({ANALYSIS_FAILED.name}) within {duration_text(spec.within_seconds)} runs "
            f"camera-failing. Declared in {source}."
        ),
        enabled=spec.enabled,
        trigger=EventTrigger(
            **_cameras_of(fleet),
            expect={ANALYSIS_FAILED.name},
            posture=Posture.Reactive,
            threshold=spec.failures,
            within=timedelta(seconds=spec.within_seconds),
        ),
    )


def _canonical(value: Any) -> Any:
    """JSON-able and in a stable order: sets (the triggers' `expect`, `for_each`) are sorted."""
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(_canonical(v) for v in value)
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, UUID):
        return str(value)
    return value


def fingerprint(automation: AutomationCore) -> str:
    """A digest of everything declared but the tags: equal exactly when nothing changed."""
    content = _canonical(automation.model_dump(exclude={"tags"}))
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
    return digest[:16]


def _tagged(automation: AutomationCore, fleet: str) -> AutomationCore:
    tags = [MANAGED_TAG, fleet_tag(fleet), FINGERPRINT_PREFIX + fingerprint(automation)]
    return automation.model_copy(update={"tags": tags})


def declared_automations(
    declaration: AutomationsDeclaration,
    fleet: str,
    deployments: AlertDeployments,
    source: str,
) -> list[AutomationCore]:
    """The fleet's automations as Prefect takes them, each tagged with its fingerprint. `source`
    (where the declaration is) goes into their descriptions: where to edit them for good."""
    automations = [
        _offline(declaration.camera_offline, fleet, deployments.offline, source),
        _pipeline_failed(declaration.pipeline_failed, fleet, deployments.failing, source),
        _analyses_failing(declaration.analyses_failing, fleet, deployments.failing, source),
    ]
    return [_tagged(a, fleet) for a in automations]


def declared_fingerprint(automation: AutomationCore) -> str | None:
    for tag in automation.tags:
        if tag.startswith(FINGERPRINT_PREFIX):
            return tag.removeprefix(FINGERPRINT_PREFIX)
    return None
