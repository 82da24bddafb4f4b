"""Switch a fleet from one analyzer to the other: create what the new one needs, record it, then
delete what the old one needed, leaving nothing orphaned. Idempotent: a run that stopped part way
is finished by running it again. Refused while any camera has a session running."""

from __future__ import annotations

import logging

from cloud import iot, queues, rekognition, tables
from cloud.analysis import choice, frames_table
from cloud.analysis.control import session_control
from cloud.analysis.frames_queue import ensure_frames_resources
from cloud.analysis.models import FramesCamera
from cloud.errors import ConflictError, NotFoundError, QuotaExceededError
from cloud.models import Analyzer, Model, ProcessorStatus
from cloud.quotas import processor_quota
from cloud.registration import (
    Journal,
    RegistrationContext,
    add_processor_analysis,
    remove_processor_analysis,
)
from cloud.registry import list_camera_ids, spec_from_attributes
from cloud.tags import fleet_tags

log = logging.getLogger(__name__)

_ACTIVE = (ProcessorStatus.STARTING, ProcessorStatus.RUNNING, ProcessorStatus.STOPPING)


class SwitchReport(Model):
    analyzer: Analyzer
    previous: Analyzer
    cameras: int
    created: tuple[str, ...]
    deleted: tuple[str, ...]


def switch_analyzer(ctx: RegistrationContext, target: Analyzer) -> SwitchReport:
    clients, names = ctx.clients, ctx.names
    previous = choice.recorded_analyzer(clients, names) or choice.DEFAULT
    cameras = list_camera_ids(clients, names)
    _refuse_running_sessions(ctx, previous, cameras)
    if target is Analyzer.FRAMES:
        created, deleted = _to_frames(ctx, cameras)
    else:
        created, deleted = _to_processors(ctx, cameras)
    return SwitchReport(
        analyzer=target,
        previous=previous,
        cameras=len(cameras),
        created=tuple(created),
        deleted=tuple(deleted),
    )


def _refuse_running_sessions(
    ctx: RegistrationContext, analyzer: Analyzer, cameras: list[str]
) -> None:
    control = session_control(ctx.clients, ctx.names, analyzer, ingest_grace_s=0)
    try:
        statuses = control.statuses()
    except NotFoundError:  # a re-run: the old analyzer's table is gone
        return
    busy = sorted(c for c in cameras if statuses.get(c) in _ACTIVE)
    if busy:
        raise ConflictError(
            f"cameras {', '.join(busy)} have an analysis session running: switch the analyzer "
            "when they end. Nothing was changed."
        )


def _to_frames(ctx: RegistrationContext, cameras: list[str]) -> tuple[list[str], list[str]]:
    clients, names = ctx.clients, ctx.names
    ensure_frames_resources(clients, names, fleet_tags(names.fleet))
    created = [f"SQS queues {names.analysis_queue}, {names.analysis_dlq}", names.analysis_table]
    for camera in cameras:  # the regions of interest move from the processor to the table
        processor = rekognition.describe_processor(clients, names.processor(camera))
        if processor is not None:
            regions = processor.settings.regions_of_interest
            frames_table.put_regions(clients, names.analysis_table, camera, regions)
    choice.record_analyzer(clients, names, Analyzer.FRAMES)
    deleted = [d for camera in cameras for d in remove_processor_analysis(clients, names, camera)]
    return created, deleted


def _to_processors(ctx: RegistrationContext, cameras: list[str]) -> tuple[list[str], list[str]]:
    clients, names = ctx.clients, ctx.names
    existing = set(rekognition.list_processor_names(clients))
    missing = [c for c in cameras if names.processor(c) not in existing]
    quota = processor_quota(clients)
    if len(existing) + len(missing) > quota.value:
        raise QuotaExceededError(
            f"{len(missing)} cameras need a stream processor but only "
            f"{max(quota.value - len(existing), 0)} of {quota.value} are free (quota "
            f"{quota.code!r}). Raise it in Service Quotas. Nothing was changed."
        )
    table = names.analysis_table
    journal = Journal()
    created = []
    try:
        for camera in cameras:
            thing = iot.describe_thing(clients, names.thing(camera))
            if thing is None:
                continue
            spec = spec_from_attributes(camera, thing.attributes)
            item = _frames_item(ctx, camera)
            processor = rekognition.describe_processor(clients, names.processor(camera))
            if item is not None:  # the regions of interest move from the table to the processor
                spec = spec.model_copy(update={"regions_of_interest": item.regions_of_interest})
            elif processor is not None:  # a re-run: the processor has them
                regions = processor.settings.regions_of_interest
                spec = spec.model_copy(update={"regions_of_interest": regions})
            add_processor_analysis(ctx, spec, journal)
            created.append(f"stream processor {names.processor(camera)}")
    except BaseException:
        left = journal.rollback("switch")
        if left:
            log.error("switch to stream processors: rollback left %s", ", ".join(left))
        raise
    choice.record_analyzer(clients, names, Analyzer.STREAM_PROCESSOR)
    deleted = [
        f"SQS queue {name}"
        for name in (names.analysis_queue, names.analysis_dlq)
        if queues.delete_queue(clients, name)
    ]
    if tables.delete_table(clients, table, wait=True):
        deleted.append(f"DynamoDB table {table}")
    return created, deleted


def _frames_item(ctx: RegistrationContext, camera: str) -> FramesCamera | None:
    """The camera's item in the analysis table; None once the table is gone (a re-run)."""
    try:
        return frames_table.read_camera(ctx.clients, ctx.names.analysis_table, camera)
    except NotFoundError:
        return None
