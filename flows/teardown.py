"""`teardown-fleet`: remove cameras, or the whole fleet, and prove nothing is left.

A run discovers what the fleet owns (`cloud.teardown.discovery`), plans the deletions
(`cloud.teardown.plan`) and publishes the plan as the table artifact `teardown-plan`. A dry run
(the default, so a run started from the UI changes nothing) stops there. Otherwise a task per
camera deletes its resources in order, cameras concurrently, admitted in waves by the Prefect
rate limits of the AWS API families they write to; then one task deletes the fleet-level
resources (whole fleet only). A step that fails is retried while retryable (throttling, with
jitter), then reported with its reason; the camera's other steps go on, but for those that wait
on it. Last, every service is listed again: the table artifact `teardown-proof` says, per
service, how many of the fleet's resources are left and why. The run fails when any is, and a
re-run finishes the job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Protocol

from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_table_artifact
from prefect.deployments.runner import RunnerDeployment
from prefect.futures import PrefectFuture, as_completed
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from cloud.errors import FleetError
from cloud.models import CameraId
from cloud.registration import WRITE_FAMILIES
from cloud.teardown import actions as teardown_actions
from cloud.teardown.discovery import discover
from cloud.teardown.models import Inventory, Resource
from cloud.teardown.plan import CameraPlan, Step, build_plan
from flows.rate_limits import ensure_rate_limits, waves
from flows.retry import AWS_RETRY, retrying
from flows.runtime import runtime
from flows.teardown_report import (
    StepOutcome,
    StepStatus,
    TeardownReport,
    build_report,
    plan_rows,
    proof_rows,
    summary_line,
)

PLAN_KEY = "teardown-plan"
PROOF_KEY = "teardown-proof"
MAX_CONCURRENCY = 16
_READERS = 16  # discovery's threads for the per-resource reads (tags, principals)
# A camera's teardown writes about once to each family a registration writes to (its IoT calls
# go to different APIs, each with its own AWS rate), so it draws one slot of each, like one
# registration does.
FAMILIES = WRITE_FAMILIES


class TeardownProgress(Protocol):
    def planned(self, steps: int) -> None: ...

    def finished(self, outcomes: list[StepOutcome]) -> None: ...


# The CLI sets this to draw a progress bar; tasks run in threads with a copy of the context.
progress_reporter: ContextVar[TeardownProgress | None] = ContextVar(
    "teardown_progress", default=None
)


class TeardownIncomplete(FleetError):
    """Something of the fleet is left after a teardown: the report says what and why."""

    def __init__(self, report: TeardownReport):
        super().__init__(summary_line(report))
        self.report = report

    def __reduce__(self) -> tuple[type[TeardownIncomplete], tuple[TeardownReport]]:
        return (TeardownIncomplete, (self.report,))


def run_steps(
    steps: Iterable[Step],
    failed: set[str],
    delete: Callable[[Resource], bool],
    sleep: Callable[[float], None] = time.sleep,
) -> list[StepOutcome]:
    """Each step in order, retried while retryable; a step whose prerequisite failed (its key is
    in `failed`, which this extends) is skipped. Never raises: failures are outcomes."""
    outcomes = []
    for step in steps:
        blocked = [k for k in step.after if k in failed]
        if blocked:
            outcome = StepOutcome(
                resource=step.resource,
                status=StepStatus.SKIPPED,
                error=f"not tried: {len(blocked)} step(s) it waits for failed ({blocked[0]})",
            )
        else:
            outcome = _attempt(step.resource, delete, sleep)
        if not outcome.ok:
            failed.add(step.key)
        outcomes.append(outcome)
    return outcomes


def _attempt(
    resource: Resource, delete: Callable[[Resource], bool], sleep: Callable[[float], None]
) -> StepOutcome:
    try:
        existed = retrying(lambda: delete(resource), sleep=sleep)
    except Exception as err:  # reported with its reason; the other steps go on
        return StepOutcome(resource=resource, status=StepStatus.FAILED, error=str(err) or repr(err))
    return StepOutcome(
        resource=resource, status=StepStatus.DELETED if existed else StepStatus.ABSENT
    )


def _log_outcomes(who: str, outcomes: list[StepOutcome]) -> None:
    log = get_run_logger()
    done = sum(o.ok for o in outcomes)
    log.info("%s: %d of %d resources gone", who, done, len(outcomes))
    for outcome in outcomes:
        if not outcome.ok:
            log.error("%s: %s %s: %s", who, outcome.resource.label, outcome.status, outcome.error)


def _report(outcomes: list[StepOutcome]) -> None:
    reporter = progress_reporter.get()
    if reporter is not None:
        reporter.finished(outcomes)


@task(name="discover-fleet-resources", **AWS_RETRY)
def discover_task(cameras: list[str] | None) -> Inventory:
    rt = runtime()
    with ThreadPoolExecutor(max_workers=_READERS) as pool:
        return discover(rt.clients, rt.names, cameras, pool=pool)


def _tear_down(who: str, steps: Iterable[Step], failed: set[str]) -> list[StepOutcome]:
    """`run_steps` against AWS, logged and reported to the progress bar."""
    clients = runtime().clients
    outcomes = run_steps(steps, failed, lambda r: teardown_actions.delete(clients, r))
    _log_outcomes(who, outcomes)
    _report(outcomes)
    return outcomes


@task(name="teardown-camera", task_run_name="teardown {camera.camera_id}")
def teardown_camera_task(camera: CameraPlan) -> list[StepOutcome]:
    return _tear_down(f"camera {camera.camera_id}", camera.steps, set())


@task(name="teardown-fleet-resources")
def teardown_fleet_task(steps: tuple[Step, ...], failed: list[str]) -> list[StepOutcome]:
    return _tear_down("fleet-level resources", steps, set(failed))


async def _tear_down_cameras(cameras: tuple[CameraPlan, ...]) -> list[StepOutcome]:
    futures: list[PrefectFuture[list[StepOutcome]]] = []
    # Paces the cameras to AWS's write rates; earlier waves run meanwhile in the threads.
    async for count in waves(FAMILIES, len(cameras)):
        start = len(futures)
        futures.extend(teardown_camera_task.submit(c) for c in cameras[start : start + count])
    plans = {f.task_run_id: c for f, c in zip(futures, cameras, strict=True)}
    outcomes: list[StepOutcome] = []
    for future in as_completed(list(futures)):
        try:
            outcomes.extend(future.result())
        except Exception as err:  # the task itself broke: none of its steps is known done
            camera = plans[future.task_run_id]
            outcomes.extend(
                StepOutcome(resource=s.resource, status=StepStatus.FAILED, error=str(err))
                for s in camera.steps
            )
    return outcomes


def _run_name() -> str:
    parameters = flow_run.parameters
    cameras = parameters.get("cameras") or []
    what = f"remove {', '.join(cameras)}" if cameras else f"teardown {runtime().settings.name}"
    return f"{what} (dry run)" if parameters.get("dry_run", True) else what


@flow(
    name="teardown-fleet",
    flow_run_name=_run_name,
    task_runner=ThreadPoolTaskRunner(max_workers=MAX_CONCURRENCY),  # type: ignore[arg-type]
    log_prints=False,
)
async def teardown_fleet_flow(
    dry_run: bool = True,
    cameras: list[CameraId] | None = None,
    keep_results: bool = False,
) -> TeardownReport:
    """Delete every resource of the given cameras (none given: of the whole fleet, fleet-level
    resources included) in order, and prove nothing is left.

    Args:
        dry_run: Only plan: publish the plan as the `teardown-plan` artifact, delete nothing.
        cameras: Only these cameras; none: the whole fleet, fleet-level resources included.
        keep_results: Keep the result frames in S3 and the detection records.
    """
    log = get_run_logger()
    scope = sorted(set(cameras)) if cameras else None
    inventory = discover_task(scope)
    plan = build_plan(inventory, keep_results=keep_results)
    reporter = progress_reporter.get()
    if reporter is not None:
        reporter.planned(len(plan.steps))
    if dry_run:
        report = TeardownReport(fleet=plan.fleet, dry_run=True, plan=plan)
        await acreate_table_artifact(
            key=PLAN_KEY, table=plan_rows(plan), description=summary_line(report)
        )
        log.info("%s", summary_line(report))
        return report
    await acreate_table_artifact(
        key=PLAN_KEY, table=plan_rows(plan), description=f"Fleet {plan.fleet}: teardown plan"
    )
    outcomes: list[StepOutcome] = []
    if plan.cameras:
        await ensure_rate_limits()
        outcomes += await _tear_down_cameras(plan.cameras)
    if plan.fleet_steps:
        failed = [o.resource.key for o in outcomes if not o.ok]
        outcomes += teardown_fleet_task(plan.fleet_steps, failed)
    # Nothing planned: the discovery just made is the proof; otherwise list everything again.
    after = discover_task.with_options(name="verify-teardown")(scope) if outcomes else inventory
    report = build_report(plan, outcomes, after)
    summary = summary_line(report)
    await acreate_table_artifact(key=PROOF_KEY, table=proof_rows(report), description=summary)
    if not report.complete:
        raise TeardownIncomplete(report)
    log.info("%s", summary)
    return report


def deployment() -> RunnerDeployment:
    """The served `teardown-fleet` deployment: a run from the UI is a dry run unless told."""
    # An async flow's to_deployment is typed as maybe a coroutine; called from sync code it is not.
    return teardown_fleet_flow.to_deployment(  # type: ignore[return-value]
        name="teardown-fleet",
        description=(
            "Delete cameras (or, with no cameras given, the whole fleet) and prove nothing is "
            "left. A dry run by default: it publishes the plan as the `teardown-plan` artifact."
        ),
        parameters={"dry_run": True},
        tags=["camera-fleet"],
    )
