"""`fleet-status`: the state of every registered camera, published as Prefect artifacts.

A run reads the fleet's cameras with their status shadows from the fleet index
(`cloud.fleet_index`: a `SearchIndex` page per 100 cameras), the stream processors' statuses (one
listing), and, only for the cameras whose shadow shows motion today, their latest detection and
latest named visitor (one query) and their analysed video today: its AWS calls grow with pages
and with the cameras that moved, not three per camera. An idle camera shows that it was idle
today. It publishes the artifacts `fleet-status` and `fleet-status-summary`
(`flows.fleet_status_report`) and returns the status. A task per part, not per camera (the flow
runs every minute; a task run per camera and minute would fill the Prefect database), the cameras
read by a few threads inside each. One camera's errors stay with that camera, a part that cannot
be read is reported as not read; only an unreadable index fails the run.

Served on a schedule by `flows.serve` (`deployment`): every `FLEET_STATUS_INTERVAL_SECONDS`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Generic, TypeVar

from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.deployments.runner import RunnerDeployment
from prefect.futures import PrefectFuture
from prefect.settings import get_current_settings
from prefect.task_runners import ThreadPoolTaskRunner

from cloud import detections, fleet_index
from cloud.errors import FleetError, is_retryable
from cloud.fleet_index import FleetShadows
from cloud.models import ProcessorStatus
from cloud.registry import list_camera_ids
from cloud.rekognition_messages import DailyUsage, DetectionRecord
from cloud.shadow import CameraStatus
from flows.fleet_status_report import (
    ATTENTION_LINES,
    TABLE_ROWS,
    CameraFacts,
    FleetStatus,
    Part,
    ProcessorState,
    build_status,
    summary_line,
    summary_markdown,
    table_description,
    table_rows,
)
from flows.retry import AWS_RETRY
from flows.runtime import runtime

TABLE_KEY = "fleet-status"
SUMMARY_KEY = "fleet-status-summary"
_READERS = 8  # threads per part: 4 parts at once stay within the clients' 64 connections

T = TypeVar("T")
LatestDetections = tuple[DetectionRecord | None, DetectionRecord | None]  # latest, named visitor


@dataclass(frozen=True)
class Reads(Generic[T]):
    """One part of every camera: what was read, and why it was not for the others."""

    values: dict[str, T] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def read_each(camera_ids: list[str], read: Callable[[str], T]) -> Reads[T]:
    """`read` for every camera, a few at a time. A retryable error is raised (after every camera
    was tried), so the task's retry reads again; any other error is kept for its camera."""
    if not camera_ids:
        return Reads()
    with ThreadPoolExecutor(max_workers=min(_READERS, len(camera_ids))) as pool:
        futures = {camera_id: pool.submit(read, camera_id) for camera_id in camera_ids}
    reads: Reads[T] = Reads()
    retryable: FleetError | None = None
    for camera_id, future in futures.items():
        try:
            reads.values[camera_id] = future.result()
        except FleetError as err:
            reads.errors[camera_id] = str(err)
            if is_retryable(err):
                retryable = err
    if retryable is not None:
        raise retryable
    return reads


@task(
    name="list-cameras",
    **AWS_RETRY,
)
def list_cameras() -> list[str]:
    rt = runtime()
    return list_camera_ids(rt.clients, rt.names)


@task(
    name="read-shadows",
    **AWS_RETRY,
)
def read_shadows() -> FleetShadows:
    rt = runtime()
    return fleet_index.search_statuses(rt.clients, rt.names)


def moved_today(shadows: FleetShadows, day: date) -> list[str]:
    """The cameras whose detections are worth reading: those whose shadow shows motion on `day`
    (UTC), and those whose shadow could not be read (whether they moved is unknown)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return [
        camera_id
        for camera_id in shadows.camera_ids
        if camera_id in shadows.errors
        or (
            (motion := shadows.statuses.get(camera_id, CameraStatus()).last_motion) is not None
            and motion >= start
        )
    ]


@task(
    name="read-processors",
    **AWS_RETRY,
)
def read_processors(camera_ids: list[str]) -> Reads[ProcessorState | None]:
    sessions = runtime().sessions()
    statuses = sessions.statuses()

    def state(camera_id: str) -> ProcessorState | None:
        status = statuses.get(camera_id)
        if status is not ProcessorStatus.FAILED:
            return None if status is None else ProcessorState(status=status)
        found = sessions.describe(camera_id)  # for why it failed
        return None if found is None else ProcessorState(status=found.status, message=found.message)

    return read_each(camera_ids, state)


@task(
    name="read-last-detections",
    **AWS_RETRY,
)
def read_last_detections(camera_ids: list[str]) -> Reads[LatestDetections]:
    rt = runtime()
    table = rt.names.detections_table
    return read_each(camera_ids, lambda c: detections.read_latest(rt.clients, table, c))


@task(
    name="read-usage",
    **AWS_RETRY,
)
def read_usage(camera_ids: list[str], day: date) -> Reads[DailyUsage]:
    rt = runtime()
    table = rt.names.detections_table
    return read_each(camera_ids, lambda c: detections.read_usage(rt.clients, table, c, day))


def _gathered(future: PrefectFuture[Reads[T]], part: Part) -> Reads[T] | str:
    """The part's reads, or why it could not be read at all (its retries spent)."""
    try:
        return future.result()
    except Exception as err:
        get_run_logger().warning("the cameras' %s could not be read: %s", part.value, err)
        return str(err)


def _value(camera_id: str, part: Part, reads: Reads[T] | str, unread: dict[Part, str]) -> T | None:
    """The camera's value of a part; why it is missing goes to `unread`."""
    if isinstance(reads, str):
        unread[part] = reads
        return None
    if camera_id in reads.errors:
        unread[part] = reads.errors[camera_id]
    return reads.values.get(camera_id)


def camera_facts(
    camera_ids: list[str],
    shadows: Reads[CameraStatus] | str,
    processors: Reads[ProcessorState | None] | str,
    last_detections: Reads[LatestDetections] | str,
    usage: Reads[DailyUsage] | str,
    idle: frozenset[str] = frozenset(),
) -> list[CameraFacts]:
    """Each camera's parts side by side; a part given as text could not be read at all. The
    `idle` cameras' detections and usage were not read: they had no motion today."""
    facts = []
    for camera_id in camera_ids:
        unread: dict[Part, str] = {}
        status = _value(camera_id, Part.SHADOW, shadows, unread)
        latest, visitor = _value(camera_id, Part.DETECTIONS, last_detections, unread) or (
            None,
            None,
        )
        facts.append(
            CameraFacts(
                camera_id=camera_id,
                status=status or CameraStatus(),
                processor=_value(camera_id, Part.PROCESSOR, processors, unread),
                last_detection=latest,
                last_visitor=visitor,
                usage_today=_value(camera_id, Part.USAGE, usage, unread),
                idle_today=camera_id in idle,
                unread=unread,
            )
        )
    return facts


@flow(
    name="fleet-status",
    flow_run_name="fleet status",
    task_runner=ThreadPoolTaskRunner(max_workers=4),  # type: ignore[arg-type]
    log_prints=False,
)
async def fleet_status_flow() -> FleetStatus:
    """Read every registered camera's status and publish the `fleet-status` artifacts."""
    log = get_run_logger()
    rt = runtime()
    now = datetime.now(UTC)
    shadows = read_shadows()
    camera_ids = shadows.camera_ids
    moved = moved_today(shadows, now.date())
    processors = read_processors.submit(camera_ids)
    last_detections = read_last_detections.submit(moved)
    usage = read_usage.submit(moved, now.date())
    facts = camera_facts(
        camera_ids,
        Reads(values=shadows.statuses, errors=shadows.errors),
        _gathered(processors, Part.PROCESSOR),
        _gathered(last_detections, Part.DETECTIONS),
        _gathered(usage, Part.USAGE),
        idle=frozenset(camera_ids) - frozenset(moved),
    )
    log.info(
        "fleet %s: %d cameras in %d index pages, %d with motion today",
        rt.names.fleet,
        len(camera_ids),
        shadows.calls,
        len(moved),
    )
    status = build_status(
        rt.names.fleet, facts, now, budget_minutes=rt.settings.analysis_daily_budget_minutes
    ).model_copy(update={"analyzer": rt.analyzer})
    summary = summary_line(status)
    await acreate_table_artifact(
        key=TABLE_KEY, table=table_rows(status, TABLE_ROWS), description=table_description(status)
    )
    await acreate_markdown_artifact(
        key=SUMMARY_KEY,
        markdown=summary_markdown(status, ui_url=get_current_settings().ui_url),
        description=summary,
    )
    log.info("fleet %s: %s", status.fleet, summary)
    for line in status.attention[:ATTENTION_LINES]:
        log.info("needs attention: %s", line)
    return status


def deployment() -> RunnerDeployment:
    """The served `fleet-status` deployment, every `FLEET_STATUS_INTERVAL_SECONDS`."""
    settings = runtime().settings
    # An async flow's to_deployment is typed as maybe a coroutine; called from sync code it is not.
    return fleet_status_flow.to_deployment(  # type: ignore[return-value]
        name="fleet-status",
        description="Every camera's status as the table artifact `fleet-status` and a summary.",
        interval=timedelta(seconds=settings.status_interval_seconds),
        tags=["camera-fleet"],
    )
