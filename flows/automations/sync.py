"""Keep the fleet's automations in Prefect as declared: by name, idempotent, never twice.

`plan` (pure) compares the declared automations with the server's (by name, and by the fleet's
tag) and decides per name: create, leave alone (same fingerprint: an edit made in the UI stays),
update in place, or delete (duplicates, no longer declared). `sync_automations` loads the
declaration first, so a malformed one fails before any call, and maps Prefect's errors to the
fleet's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from uuid import UUID

import httpx
from prefect.client.orchestration import PrefectClient, get_client
from prefect.events.filters import AutomationFilter, AutomationFilterName, AutomationFilterTags
from prefect.events.schemas.automations import Automation, AutomationCore
from prefect.exceptions import ObjectNotFound
from pydantic import BaseModel

from cloud.errors import (
    FleetError,
    InvalidInputError,
    NotFoundError,
    RetryableError,
    UnavailableError,
)
from cloud.policies import INFRA_DIR
from flows.automations.camera_alerts import FAILING_DEPLOYMENT, OFFLINE_DEPLOYMENT
from flows.automations.declaration import AutomationsDeclaration, load_declaration
from flows.automations.rules import (
    AlertDeployments,
    declared_automations,
    declared_fingerprint,
    fleet_tag,
)

log = logging.getLogger(__name__)


class SyncAction(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"


class SyncRecord(BaseModel):
    name: str
    action: SyncAction
    automation_id: UUID | None = None


@dataclass(frozen=True)
class Step:
    action: SyncAction
    name: str
    automation_id: UUID | None = None  # the one to update, keep or delete
    desired: AutomationCore | None = None  # what to create or update to


def plan(
    desired: Sequence[AutomationCore], observed: Sequence[Automation], fleet: str
) -> list[Step]:
    """The steps that make `observed` hold `desired`, deletions last."""
    steps: list[Step] = []
    deletions: list[Step] = []
    declared = {automation.name for automation in desired}
    for automation in desired:
        found = [o for o in observed if o.name == automation.name]
        if not found:
            steps.append(Step(SyncAction.CREATED, automation.name, desired=automation))
            continue
        wanted = declared_fingerprint(automation)
        keep = next((o for o in found if declared_fingerprint(o) == wanted), found[0])
        if declared_fingerprint(keep) == wanted:
            steps.append(Step(SyncAction.UNCHANGED, automation.name, keep.id))
        else:
            steps.append(Step(SyncAction.UPDATED, automation.name, keep.id, automation))
        deletions += [Step(SyncAction.DELETED, o.name, o.id) for o in found if o.id != keep.id]
    deletions += [
        Step(SyncAction.DELETED, o.name, o.id)
        for o in observed
        if o.name not in declared and fleet_tag(fleet) in o.tags
    ]
    return steps + deletions


def source_text(path: Path) -> str:
    """Where the declaration is, as its automations' descriptions say: relative in the repo."""
    try:
        return str(path.resolve().relative_to(INFRA_DIR.parent))
    except ValueError:
        return str(path)


def _translated(err: Exception, doing: str) -> FleetError:
    if isinstance(err, httpx.HTTPStatusError):
        code = err.response.status_code
        detail = f"{doing}: the Prefect API answered {code}: {err.response.text[:300]}"
        return RetryableError(detail) if code >= 500 else InvalidInputError(detail)
    return UnavailableError(f"{doing}: the Prefect API cannot be reached: {err}")


async def read_alert_deployments(client: PrefectClient) -> AlertDeployments:
    ids: dict[str, UUID] = {}
    for name in (OFFLINE_DEPLOYMENT, FAILING_DEPLOYMENT):
        try:
            ids[name] = (await client.read_deployment_by_name(name)).id
        except ObjectNotFound as err:
            raise NotFoundError(
                f"deployment {name} not found: the served flows create it "
                "(`python -m flows.serve`, started by `fleet up`)"
            ) from err
    return AlertDeployments(offline=ids[OFFLINE_DEPLOYMENT], failing=ids[FAILING_DEPLOYMENT])


async def _observed(
    client: PrefectClient, desired: Sequence[AutomationCore], fleet: str
) -> list[Automation]:
    by_name = await client.read_automations(
        automations=AutomationFilter(name=AutomationFilterName(any_=[a.name for a in desired]))
    )
    by_tag = await client.read_automations(
        automations=AutomationFilter(tags=AutomationFilterTags(all_=[fleet_tag(fleet)]))
    )
    unique = {automation.id: automation for automation in [*by_name, *by_tag]}
    return list(unique.values())


async def _apply(client: PrefectClient, step: Step) -> SyncRecord:
    automation_id = step.automation_id
    if step.action is SyncAction.CREATED:
        assert step.desired is not None
        automation_id = await client.create_automation(step.desired)
    elif step.action is SyncAction.UPDATED:
        assert step.desired is not None and automation_id is not None
        await client.update_automation(automation_id, step.desired)
    elif step.action is SyncAction.DELETED:
        assert automation_id is not None
        await client.delete_automation(automation_id)
    if step.action is not SyncAction.UNCHANGED:
        log.info("automation %r %s (%s)", step.name, step.action.value, automation_id)
    return SyncRecord(name=step.name, action=step.action, automation_id=automation_id)


async def sync_declared(
    declaration: AutomationsDeclaration, fleet: str, source: str
) -> list[SyncRecord]:
    """Make the Prefect server of the environment hold the declared automations."""
    doing = "syncing the automations"
    try:
        async with get_client() as client:
            deployments = await read_alert_deployments(client)
            desired = declared_automations(declaration, fleet, deployments, source)
            steps = plan(desired, await _observed(client, desired, fleet), fleet)
            return [await _apply(client, step) for step in steps]
    except (httpx.HTTPStatusError, httpx.TransportError) as err:
        raise _translated(err, doing) from err


async def sync_automations(path: Path, fleet: str) -> list[SyncRecord]:
    """Load the declaration at `path` (a malformed one fails here, before any call), then sync."""
    declaration = load_declaration(path)
    return await sync_declared(declaration, fleet, source_text(path))
