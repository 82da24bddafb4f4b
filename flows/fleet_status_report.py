"""What the `fleet-status` flow publishes, built from what it read. Pure: the clock is passed in.

Per camera (one row of the `fleet-status` table artifact):
- **never seen**: its shadow holds no presence (the bridge never heard from it);
- **offline** / **online**: its presence, as the bridge last wrote it; an online camera not heard
  from for `silent_after` (the agent reports health every 30 s, the bridge writes "last seen" at
  least every 15 s) is online but silent: the bridge may be down, or the camera wedged;
- **failing**: an online camera whose pipeline is `failed` or `stalled`, or any camera whose
  stream processor is `FAILED` (its last analysis session failed). An offline camera's last health
  is shown as it was reported, but does not make it failing: being offline is the news;
- **last visitor**: the names in the camera's latest detection that named someone, and when
  (on cameras registered with `--recognize-faces`).

What needs attention, one line per problem, each naming the camera: offline (for how long, and
the reason it gave), never seen, silent, pipeline failed or stalled (with its error), stream
processor failed (with its message) or missing, the daily analysis budget used up, and anything
that could not be read.

The summary links each camera to its detection gallery, the artifact `camera-<id>-detections`
the results consumer writes (`cloud.gallery`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field

from cloud.gallery import gallery_key
from cloud.models import Analyzer, Model, ProcessorStatus
from cloud.rekognition_messages import DailyUsage, DetectionRecord, readable_utc
from cloud.shadow import CameraStatus
from device.messages import PipelineState

SILENT_AFTER = timedelta(minutes=2)
_FAILING_PIPELINES = frozenset({PipelineState.FAILED, PipelineState.STALLED})
_DETAIL_CHARS = 200

# The table artifact's columns.
COLUMNS = (
    "camera",
    "online",
    "last seen",
    "pipeline state",
    "fps",
    "restarts",
    "last motion",
    "last detection",
    "last visitor",
    "processor status",
    "analysed minutes today",
)


class Part(StrEnum):
    """What the flow reads about each camera, apart from the registry."""

    SHADOW = "shadow"
    PROCESSOR = "stream processor"
    DETECTIONS = "detections"
    USAGE = "usage"


class ProcessorState(Model):
    status: ProcessorStatus
    message: str | None = None


class CameraFacts(Model):
    """What was read about one registered camera. `unread` says which parts could not be read
    (and why); their fields are then left at their defaults and mean nothing."""

    camera_id: str
    status: CameraStatus = CameraStatus()
    processor: ProcessorState | None = Field(None, description="None: it has no processor.")
    last_detection: DetectionRecord | None = None
    last_visitor: DetectionRecord | None = Field(
        None, description="The latest detection that named someone."
    )
    usage_today: DailyUsage | None = None
    unread: dict[Part, str] = Field(default_factory=dict)


class Presence(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    NEVER_SEEN = "never seen"
    UNKNOWN = "unknown"  # its shadow could not be read


class CameraRow(Model):
    camera: str
    presence: Presence
    last_seen: datetime | None = None
    pipeline: PipelineState | None = None
    pipeline_error: str | None = None
    fps: float | None = None
    restarts: int | None = None
    last_motion: datetime | None = None
    last_detection: datetime | None = None
    last_detection_label: str | None = None
    last_visitor: tuple[str, ...] = Field((), description="Who the latest named visit named.")
    last_visitor_at: datetime | None = None
    processor_status: ProcessorStatus | None = None
    analysed_minutes_today: float | None = None
    failing: bool = False
    attention: tuple[str, ...] = ()


class FleetStatus(Model):
    fleet: str
    analyzer: Analyzer = Analyzer.STREAM_PROCESSOR
    at: datetime
    day: date = Field(description="The UTC day the analysed minutes are counted for.")
    cameras: tuple[CameraRow, ...]
    online: int
    offline: int
    never_seen: int
    failing: int
    attention: tuple[str, ...]


def build_status(
    fleet: str,
    facts: list[CameraFacts],
    now: datetime,
    budget_minutes: float,
    silent_after: timedelta = SILENT_AFTER,
) -> FleetStatus:
    rows = tuple(_row(f, now, budget_minutes, silent_after) for f in sorted(facts, key=_camera_of))
    return FleetStatus(
        fleet=fleet,
        at=now,
        day=now.date(),
        cameras=rows,
        online=sum(r.presence is Presence.ONLINE for r in rows),
        offline=sum(r.presence is Presence.OFFLINE for r in rows),
        never_seen=sum(r.presence is Presence.NEVER_SEEN for r in rows),
        failing=sum(r.failing for r in rows),
        attention=tuple(line for r in rows for line in r.attention),
    )


def _camera_of(facts: CameraFacts) -> str:
    return facts.camera_id


def _row(
    facts: CameraFacts, now: datetime, budget_minutes: float, silent_after: timedelta
) -> CameraRow:
    status, health = facts.status, facts.status.health
    processor = None if Part.PROCESSOR in facts.unread else facts.processor
    detection = None if Part.DETECTIONS in facts.unread else facts.last_detection
    visitor = None if Part.DETECTIONS in facts.unread else facts.last_visitor
    usage = facts.usage_today
    minutes = None if Part.USAGE in facts.unread else usage.minutes if usage else 0.0
    presence = _presence(facts)
    pipeline_failing = (
        presence is Presence.ONLINE and health is not None and health.pipeline in _FAILING_PIPELINES
    )
    processor_failing = processor is not None and processor.status is ProcessorStatus.FAILED
    return CameraRow(
        camera=facts.camera_id,
        presence=presence,
        last_seen=status.last_seen,
        pipeline=health.pipeline if health else None,
        pipeline_error=health.pipeline_error if health else None,
        fps=health.fps if health else None,
        restarts=health.restarts if health else None,
        last_motion=status.last_motion,
        last_detection=detection.detected_at if detection else None,
        last_detection_label=detection.label if detection else None,
        last_visitor=tuple(dict.fromkeys(visitor.faces.names)) if visitor and visitor.faces else (),
        last_visitor_at=visitor.detected_at if visitor else None,
        processor_status=processor.status if processor else None,
        analysed_minutes_today=minutes,
        failing=pipeline_failing or processor_failing,
        attention=tuple(_attention(facts, presence, now, budget_minutes, silent_after)),
    )


def _presence(facts: CameraFacts) -> Presence:
    if Part.SHADOW in facts.unread:
        return Presence.UNKNOWN
    online = facts.status.online
    if online is None:
        return Presence.NEVER_SEEN
    return Presence.ONLINE if online else Presence.OFFLINE


def _attention(
    facts: CameraFacts,
    presence: Presence,
    now: datetime,
    budget_minutes: float,
    silent_after: timedelta,
) -> list[str]:
    camera, status, health = facts.camera_id, facts.status, facts.status.health
    lines: list[str] = []
    if presence is Presence.NEVER_SEEN:
        lines.append(f"{camera}: never seen")
    elif presence is Presence.OFFLINE:
        since = status.status_since or status.last_seen
        duration = f" for {_duration(now - since)}" if since else ""
        reason = f" ({_short(status.status_reason)})" if status.status_reason else ""
        lines.append(f"{camera}: offline{duration}{reason}")
    elif presence is Presence.ONLINE:
        if status.last_seen is not None and now - status.last_seen >= silent_after:
            lines.append(f"{camera}: online but silent for {_duration(now - status.last_seen)}")
        if health is not None and health.pipeline in _FAILING_PIPELINES:
            error = f": {_short(health.pipeline_error)}" if health.pipeline_error else ""
            lines.append(f"{camera}: pipeline {health.pipeline.value}{error}")
    if Part.PROCESSOR not in facts.unread:
        processor = facts.processor
        if processor is None:
            lines.append(f"{camera}: no stream processor (register the camera again)")
        elif processor.status is ProcessorStatus.FAILED:
            message = f": {_short(processor.message)}" if processor.message else ""
            lines.append(f"{camera}: stream processor FAILED{message}")
    usage = facts.usage_today
    if Part.USAGE not in facts.unread and usage is not None and usage.minutes >= budget_minutes:
        lines.append(
            f"{camera}: daily analysis budget used ({usage.minutes:.1f} of {budget_minutes:g} min)"
        )
    lines.extend(f"{camera}: {part.value} not read: {_short(why)}" for part, why in _unread(facts))
    return lines


def _unread(facts: CameraFacts) -> list[tuple[Part, str]]:
    return [(part, facts.unread[part]) for part in Part if part in facts.unread]


def _short(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"


def _duration(elapsed: timedelta) -> str:
    """12 s, 12 min, 3 h 5 min, 2 d 3 h: as precise as a person reading the status needs."""
    seconds = max(0, int(elapsed.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


# What is published.


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else readable_utc(moment)


_ONLINE_CELL: Mapping[Presence, str] = {
    Presence.ONLINE: "yes",
    Presence.OFFLINE: "no",
    Presence.NEVER_SEEN: "never seen",
    Presence.UNKNOWN: "unknown",
}


def table_rows(status: FleetStatus) -> list[dict[str, Any]]:
    """The table artifact: one row per camera, `COLUMNS`, JSON values."""
    rows = []
    for row in status.cameras:
        detection = (
            f"{_time(row.last_detection)} ({row.last_detection_label})"
            if row.last_detection
            else None
        )
        visitor = (
            f"{', '.join(row.last_visitor)} ({_time(row.last_visitor_at)})"
            if row.last_visitor
            else None
        )
        minutes = row.analysed_minutes_today
        cells = (
            row.camera,
            _ONLINE_CELL[row.presence],
            _time(row.last_seen),
            row.pipeline.value if row.pipeline else None,
            None if row.fps is None else round(row.fps, 1),
            row.restarts,
            _time(row.last_motion),
            detection,
            visitor,
            row.processor_status.value if row.processor_status else None,
            None if minutes is None else round(minutes, 1),
        )
        rows.append(dict(zip(COLUMNS, cells, strict=True)))
    return rows


def _cameras(count: int) -> str:
    return f"{count} camera{'' if count == 1 else 's'}"


GALLERY_PATH = "/v2/artifacts/key/"  # the Prefect UI's page of an artifact key


def gallery_url(camera_id: str, ui_url: str | None = None) -> str:
    """Where the Prefect UI shows the camera's detection gallery: under `ui_url` (the UI's
    address, PREFECT_UI_URL) when known, else a path the UI resolves against its own address."""
    path = GALLERY_PATH + gallery_key(camera_id)
    return ui_url.rstrip("/") + path if ui_url else path


def summary_markdown(status: FleetStatus, ui_url: str | None = None) -> str:
    """The markdown artifact: the counts, each camera's detection gallery, then what needs
    attention."""
    lines = [
        f"# Fleet {status.fleet}: {_cameras(len(status.cameras))}",
        "",
        f"As of {_time(status.at)}. Analyzer: {status.analyzer}.",
        "",
        "| online | offline | never seen | failing |",
        "| --- | --- | --- | --- |",
        f"| {status.online} | {status.offline} | {status.never_seen} | {status.failing} |",
        "",
        *_galleries(status, ui_url),
        "## Needs attention",
        "",
    ]
    if status.attention:
        lines.extend(f"- {_escape(line)}" for line in status.attention)
    else:
        lines.append("Nothing needs attention.")
    return "\n".join(lines) + "\n"


def _galleries(status: FleetStatus, ui_url: str | None) -> list[str]:
    """A link per camera to its detection gallery (none for an empty fleet)."""
    if not status.cameras:
        return []
    links = [
        f"[{_escape(row.camera)}]({gallery_url(row.camera, ui_url)})" for row in status.cameras
    ]
    return ["## Detections", "", "Latest detections per camera: " + " · ".join(links), ""]


def summary_line(status: FleetStatus) -> str:
    """One line for the log and the artifacts' descriptions."""
    return (
        f"{_cameras(len(status.cameras))}: {status.online} online, {status.offline} offline, "
        f"{status.never_seen} never seen, {status.failing} failing; "
        f"{len(status.attention)} need attention"
    )


_MARKDOWN_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\`*_[]<>|#"})


def _escape(text: str) -> str:
    """Cameras' errors are free text: shown as written, not as markdown."""
    return text.translate(_MARKDOWN_SPECIAL)
