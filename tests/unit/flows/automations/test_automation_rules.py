"""The declared automations as Prefect takes them, and the sync's plan against what a server
holds (Prefect's own models, no server)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from prefect.events.actions import RunDeployment
from prefect.events.schemas.automations import Automation, AutomationCore, EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification

from flows.automations.declaration import AutomationsDeclaration, parse_declaration
from flows.automations.rules import (
    AlertDeployments,
    Names,
    _canonical,
    declared_automations,
    declared_fingerprint,
    fingerprint,
    payload,
)
from flows.automations.sync import SyncAction, plan
from flows.events import CATALOGUE, PIPELINE_FAILED
from tests.unit.flows.automations.test_automation_declaration import VALID

FLEET = "camfleet"
DEPLOYMENTS = AlertDeployments(offline=uuid.uuid4(), failing=uuid.uuid4())
NAMES = Names(FLEET)


def _declared(text: str = VALID) -> list[AutomationCore]:
    return declared_automations(parse_declaration(text, "t.toml"), FLEET, DEPLOYMENTS, "t.toml")


def _by_name(automations: list[AutomationCore]) -> dict[str, AutomationCore]:
    return {a.name: a for a in automations}


def _trigger(automation: AutomationCore) -> EventTrigger:
    assert isinstance(automation.trigger, EventTrigger)
    return automation.trigger


def _action(automation: AutomationCore) -> RunDeployment:
    (action,) = automation.actions
    assert isinstance(action, RunDeployment)
    return action


def test_camera_offline_is_proactive_per_camera_of_the_fleet() -> None:
    offline = _by_name(_declared())[NAMES.offline]
    trigger = _trigger(offline)
    assert trigger.posture == Posture.Proactive
    assert trigger.after == {"camera.offline"}
    assert trigger.expect == {"camera.offline", "camera.online"}
    assert trigger.threshold == 1 and trigger.within == timedelta(seconds=60)
    assert trigger.for_each == {"prefect.resource.id"}
    assert isinstance(trigger.match, ResourceSpecification)
    assert trigger.match.model_dump() == {"prefect.resource.id": "camera.*"}
    related = trigger.match_related
    assert isinstance(related, ResourceSpecification)
    assert related.model_dump() == {
        "prefect.resource.role": "fleet",
        "prefect.resource.id": f"fleet.{FLEET}",
    }
    action = _action(offline)
    assert action.deployment_id == DEPLOYMENTS.offline
    assert action.parameters == {
        "camera_id": "{{ event.resource.name }}",
        "offline_since": "{{ event.occurred|string }}",
        "reason": "{{ event.payload.reason|default('', true)|string }}",
        "event_id": "{{ event.id|string }}",
    }
    assert "1 min" in offline.description and "t.toml" in offline.description


def test_failures_are_reactive_and_run_camera_failing() -> None:
    declared = _by_name(_declared())
    pipeline, analyses = declared[NAMES.pipeline_failed], declared[NAMES.analyses_failing]
    assert _trigger(pipeline).expect == {"camera.pipeline.failed"}
    assert _trigger(pipeline).posture == Posture.Reactive
    assert _trigger(pipeline).threshold == 1
    assert _trigger(analyses).expect == {"camera.analysis.failed"}
    assert _trigger(analyses).threshold == 2
    assert _trigger(analyses).within == timedelta(seconds=120)
    assert _action(pipeline).deployment_id == _action(analyses).deployment_id == DEPLOYMENTS.failing
    assert (_action(pipeline).parameters or {})["problem"] == "pipeline-failed"
    parameters = _action(analyses).parameters or {}
    assert parameters["problem"] == "analyses-failing"
    assert parameters["failures"] == 2 and parameters["within_seconds"] == 120


def test_every_event_an_automation_waits_for_is_catalogued() -> None:
    catalogued = {kind.name for kind in CATALOGUE}
    for automation in _declared():
        trigger = _trigger(automation)
        assert trigger.expect | trigger.after <= catalogued, automation.name


def test_a_parameter_from_a_payload_field_the_event_lacks_fails() -> None:
    assert payload(PIPELINE_FAILED, "error") == "{{ event.payload.error|default('', true)|string }}"
    with pytest.raises(ValueError, match="no payload field 'eror'"):
        payload(PIPELINE_FAILED, "eror")


def test_enabled_false_creates_it_disabled() -> None:
    text = VALID.replace("[pipeline_failed]", "[pipeline_failed]\nenabled = false")
    declared = _by_name(_declared(text))
    assert not declared[NAMES.pipeline_failed].enabled
    assert declared[NAMES.offline].enabled


def test_tags_name_the_fleet_and_fingerprint_the_declaration() -> None:
    first, again = _declared(), _declared()
    assert [a.model_dump() for a in first] == [a.model_dump() for a in again]
    assert all(a.tags[:2] == ["camera-fleet", f"fleet:{FLEET}"] for a in first)
    changed = _by_name(_declared(VALID.replace("offline_seconds = 60", "offline_seconds = 90")))
    for automation in first:
        same = declared_fingerprint(changed[automation.name]) == declared_fingerprint(automation)
        assert same is (automation.name != NAMES.offline)
    assert declared_fingerprint(first[0]) == fingerprint(first[0])


def test_the_fingerprint_does_not_depend_on_the_order_of_a_set() -> None:
    assert _canonical({"b": {"z", "a", "m"}}) == {"b": ["a", "m", "z"]}


def _held(automation: AutomationCore, **changes: object) -> Automation:
    """What a server returns: the automation with an id, perhaps edited."""
    return Automation(id=uuid.uuid4(), **{**automation.model_dump(), **changes})


def test_plan_creates_what_is_missing_and_leaves_what_is_declared() -> None:
    desired = _declared()
    steps = plan(desired, [], FLEET)
    assert [(s.action, s.name) for s in steps] == [(SyncAction.CREATED, a.name) for a in desired]
    held = [_held(a) for a in desired]
    assert {s.action for s in plan(desired, held, FLEET)} == {SyncAction.UNCHANGED}


def test_a_ui_edit_stays_until_the_declaration_changes() -> None:
    desired = _declared()
    edited = [_held(a, enabled=False, description="mine") for a in desired]
    assert {s.action for s in plan(desired, edited, FLEET)} == {SyncAction.UNCHANGED}
    changed = _declared(VALID.replace("failures = 2", "failures = 4"))
    steps = {s.name: s for s in plan(changed, edited, FLEET)}
    update = steps[NAMES.analyses_failing]
    assert update.action is SyncAction.UPDATED
    assert update.automation_id == edited[2].id and update.desired == changed[2]
    assert steps[NAMES.offline].action is SyncAction.UNCHANGED


def test_an_automation_without_its_fingerprint_is_updated_in_place() -> None:
    desired = _declared()
    untagged = [_held(a, tags=[]) for a in desired]
    steps = plan(desired, untagged, FLEET)
    assert [(s.action, s.automation_id) for s in steps] == [
        (SyncAction.UPDATED, held.id) for held in untagged
    ]


def test_duplicates_and_what_is_no_longer_declared_are_deleted_last() -> None:
    desired = _declared()
    stale = _held(desired[0], tags=["camera-fleet", f"fleet:{FLEET}", "declared:old"])
    current = _held(desired[0])
    gone = _held(desired[1], name=f"{FLEET}: an old rule")
    others = _held(desired[1], name="someone else's", tags=["fleet:another"])
    observed = [stale, current, gone, others, *(_held(a) for a in desired[1:])]
    steps = plan(desired, observed, FLEET)
    assert [(s.action, s.automation_id) for s in steps] == [
        (SyncAction.UNCHANGED, current.id),
        (SyncAction.UNCHANGED, observed[4].id),
        (SyncAction.UNCHANGED, observed[5].id),
        (SyncAction.DELETED, stale.id),
        (SyncAction.DELETED, gone.id),
    ]


def test_a_declaration_built_by_hand_is_the_same_model() -> None:
    declaration = AutomationsDeclaration.model_validate(
        {
            "version": 1,
            "camera_offline": {"offline_seconds": 60},
            "pipeline_failed": {"cooldown_seconds": 0},
            "analyses_failing": {"failures": 2, "within_seconds": 120},
        }
    )
    assert declaration == parse_declaration(VALID, "t.toml")
