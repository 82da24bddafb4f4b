"""What the automations declaration becomes in Prefect: pure, from the declaration, the fleet's
name and the ids of the deployments the automations run.

Each automation is an event trigger on the cameras' events (resource `camera.<id>`, related to
`fleet.<fleet>`: another fleet on the same Prefect server is not matched), evaluated per camera
(`for_each: prefect.resource.id`), whose one action is RunDeployment with parameters rendered
from the triggering event (Jinja; an event id must go through `|string`). Webhook and
notification-block actions are not used: webhooks are Cloud-only, and the notification goes to
the fleet's own SNS topic like every other notification of the fleet.

- `<fleet>: camera offline`: proactive. `camera.offline` opens a window of `offline_seconds`
  per camera; it fires at the end of a window that saw no `camera.online`. `camera.offline` is
  expected too, so that a camera flapping (offline, online, offline) opens a fresh window at its
  latest offline instead of being forgotten (Prefect's "same event in after and expect" rule).
- `<fleet>: camera pipeline failed`: reactive on `camera.pipeline.failed`, at most once per
  camera per `cooldown_seconds` (Prefect ignores the camera's events until its window ends).
- `<fleet>: camera analyses failing`: reactive, `failures` `camera.analysis.failed` of one
  camera within `within_seconds`.

Every automation is tagged with the fleet and a fingerprint of what was declared, so a sync
knows which automations are the fleet's and whether the declaration changed since (see
`flows.automations.sync`).
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
from services.bridge.presence_events import OFFLINE, ONLINE, PIPELINE_FAILED

ANALYSIS_FAILED = "camera.analysis.failed"
MANAGED_TAG = "camera-fleet"
FINGERPRINT_PREFIX = "declared:"
PER_CAMERA = {"prefect.resource.id"}

# Parameters rendered from the triggering event. A lone expression keeps its JSON type.
CAMERA_ID = "{{ event.resource.name }}"
OCCURRED = "{{ event.occurred|string }}"
EVENT_ID = "{{ event.id|string }}"


def payload(key: str) -> str:
    """A payload field as text, empty when missing or null."""
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
        "match": {"prefect.resource.id": "camera.*"},
        "match_related": {
            "prefect.resource.role": "fleet",
            "prefect.resource.id": f"fleet.{fleet}",
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
        {"offline_since": OCCURRED, "reason": payload("reason")},
        name=Names(fleet).offline,
        description=(
            f"A camera of fleet {fleet} offline for {duration_text(spec.offline_seconds)} "
            f"({OFFLINE} not followed by {ONLINE}) runs camera-offline, which notifies "
            f"{fleet}-notifications. Declared in {source}."
        ),
        enabled=spec.enabled,
        trigger=EventTrigger(
            **_cameras_of(fleet),
            after={OFFLINE},
            expect={OFFLINE, ONLINE},
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
            "detail": payload("error"),
        },
        name=Names(fleet).pipeline_failed,
        description=(
            f"A camera of fleet {fleet} whose pipeline failed ({PIPELINE_FAILED}) runs "
            f"camera-failing, at most once per camera per {duration_text(spec.cooldown_seconds)}. "
            f"Declared in {source}."
        ),
        enabled=spec.enabled,
        trigger=EventTrigger(
            **_cameras_of(fleet),
            expect={PIPELINE_FAILED},
            posture=Posture.Reactive,
            threshold=1,
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
            "detail": payload("message"),
            "failures": spec.failures,
            "within_seconds": spec.within_seconds,
        },
        name=Names(fleet).analyses_failing,
        description=(
            f"A camera of fleet {fleet} with {spec.failures} failed analyses ({ANALYSIS_FAILED}) "
            f"within {duration_text(spec.within_seconds)} runs camera-failing. "
            f"Declared in {source}."
        ),
        enabled=spec.enabled,
        trigger=EventTrigger(
            **_cameras_of(fleet),
            expect={ANALYSIS_FAILED},
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
