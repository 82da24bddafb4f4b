"""What a teardown reports: each step's outcome, what is left and why, and the tables of the plan
and of the proof (every service listed again). Pure: built from the plan, the outcomes and what
the second discovery found."""

from __future__ import annotations

from collections import Counter
from enum import StrEnum

from cloud.models import Model
from cloud.teardown.models import Inventory, Resource, Service, short_arn
from cloud.teardown.plan import Plan

FLEET_ROW = "(fleet)"  # the camera column of fleet-level resources
_REASON_CHARS = 300


class StepStatus(StrEnum):
    DELETED = "deleted"
    ABSENT = "already gone"
    FAILED = "failed"
    SKIPPED = "skipped"


class StepOutcome(Model):
    resource: Resource
    status: StepStatus
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in (StepStatus.DELETED, StepStatus.ABSENT)


class Leftover(Model):
    resource: Resource
    reason: str


class TeardownReport(Model):
    fleet: str
    dry_run: bool
    plan: Plan
    outcomes: tuple[StepOutcome, ...] = ()
    left: tuple[Leftover, ...] = ()

    @property
    def complete(self) -> bool:
        return self.dry_run or not self.left

    @property
    def deleted(self) -> int:
        return sum(o.status is StepStatus.DELETED for o in self.outcomes)


def build_report(plan: Plan, outcomes: list[StepOutcome], after: Inventory) -> TeardownReport:
    """What is left: every step that did not succeed (with its error), and whatever the fleet
    still owns when every service is listed again, but what `--keep-results` kept."""
    left = {
        o.resource.key: Leftover(resource=o.resource, reason=o.error or o.status.value)
        for o in outcomes
        if not o.ok
    }
    done = {o.resource.key for o in outcomes if o.ok}
    kept = {r.key for r in plan.kept}
    for resource in after.resources:
        if resource.key in left or resource.key in kept:
            continue
        if resource.key in done:
            reason = "deleted, yet still listed (AWS may be catching up): run the teardown again"
        else:
            reason = "not in the plan: it appeared while the teardown ran; run the teardown again"
        left[resource.key] = Leftover(resource=resource, reason=reason)
    return TeardownReport(
        fleet=plan.fleet,
        dry_run=False,
        plan=plan,
        outcomes=tuple(outcomes),
        left=tuple(left.values()),
    )


def _camera(resource: Resource) -> str:
    return resource.camera or FLEET_ROW


def plan_rows(plan: Plan) -> list[dict[str, str]]:
    """The plan as a table: every resource, grouped by camera, in deletion order."""
    rows = [
        {
            "#": str(number),
            "camera": _camera(step.resource),
            "resource": step.resource.kind.value,
            "name": step.resource.name,
            "action": step.action,
            "detail": _detail(step.resource),
        }
        for number, step in enumerate(plan.steps, start=1)
    ]
    rows += [
        {
            "#": "",
            "camera": _camera(r),
            "resource": r.kind.value,
            "name": r.name,
            "action": "keep (--keep-results)",
            "detail": _detail(r),
        }
        for r in plan.kept
    ]
    rows += [
        {
            "#": "",
            "camera": "",
            "resource": a.kind.value,
            "name": a.name,
            "action": "leave alone: not this fleet's",
            "detail": a.reason,
        }
        for a in plan.left_alone
    ]
    return rows


def _detail(resource: Resource) -> str:
    parts = [resource.detail] if resource.detail else []
    if resource.parent:
        parts.append(f"in {short_arn(resource.parent)}")
    if resource.count is not None:
        parts.append(f"{resource.count} items")
    return "; ".join(parts)


def proof_rows(report: TeardownReport) -> list[dict[str, str]]:
    """A row per service listed again: how many of the fleet's resources are left, and why."""
    left: dict[Service, list[str]] = {s: [] for s in Service}
    for leftover in report.left:
        reason = leftover.reason[:_REASON_CHARS]
        left[leftover.resource.kind.service].append(f"{leftover.resource.label}: {reason}")
    kept = Counter(r.kind.service for r in report.plan.kept)
    return [
        {
            "service": service.value,
            "fleet resources left": str(len(lines)),
            "kept (--keep-results)": str(kept[service]),
            "what is left and why": "; ".join(lines) or "nothing",
        }
        for service, lines in left.items()
    ]


def summary_line(report: TeardownReport) -> str:
    plan = report.plan
    scope = "the whole fleet" if plan.scope is None else "camera " + ", ".join(plan.scope)
    if report.dry_run:
        return (
            f"fleet {report.fleet}: dry run: {len(plan.steps)} resources of {scope} to delete "
            f"({len(plan.cameras)} cameras), {len(plan.kept)} to keep, "
            f"{len(plan.left_alone)} look-alikes to leave alone"
        )
    kept = f", {len(plan.kept)} kept" if plan.kept else ""
    left = (
        "nothing of the fleet is left"
        if not report.left
        else f"{len(report.left)} left: "
        + "; ".join(f"{x.resource.label} ({x.reason[:_REASON_CHARS]})" for x in report.left)
    )
    return f"fleet {report.fleet}: {report.deleted} resources of {scope} deleted{kept}; {left}"
