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
  (on cameras registered with `--recognize-faces`);
- **idle today**: its shadow shows no motion since the start of the UTC day, so its detections
  and usage were not read (`fleet camera events ID` lists its history).

What needs attention, one line per problem, each naming the camera: offline (for how long, and
the reason it gave), never seen, silent, pipeline failed or stalled (with its error), stream
processor failed (with its message) or missing, the daily analysis budget used up, and anything
that could not be read.

Sized for 10,000 cameras: the summary gives the counts first, then what needs attention in the
order to act on it (offline longest first, failed pipelines and processors with their reason,
silent longest first, never seen, the rest), at most `ATTENTION_LINES` of them; the table artifact
has the cameras needing attention first, then the others, at most `TABLE_ROWS` rows (`fleet camera
overview --json` has every camera). The summary links the cameras with detections today to their
detection gallery, the artifact `camera-<id>-detections` the results consumer writes
(`cloud.gallery`), at most `GALLERY_LINKS` of them.
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
TABLE_ROWS = 200  # the table artifact's rows at most
ATTENTION_LINES = 100  # the summary's attention lines at most
GALLERY_LINKS = 50  # the summary's gallery links at most
ALL_CAMERAS = "fleet camera overview --json"
IDLE = "idle today"
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
    idle_today: bool = Field(
        False, description="No motion today: its detections and usage were not read."
    )
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
    since: datetime | None = Field(None, description="When its presence last changed.")
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
    idle_today: bool = False
    pipeline_failed: bool = Field(False, description="Online with a failed or stalled pipeline.")
    processor_failed: bool = False
    failing: bool = False
    attention: tuple[str, ...] = ()


class FleetStatus(Model):
    fleet: str
    analyzer: Analyzer = Analyzer.STREAM_PROCESSOR
    at: datetime
    day: date = Field(description="The UTC day the analysed minutes are counted for.")
    cameras: tuple[CameraRow, ...] = Field(description="Every camera, by camera id.")
    online: int
    offline: int
    never_seen: int
    failing: int
    pipelines_failed: int = 0
    processors_failed: int = 0
    moved_today: int = Field(0, description="Cameras whose shadow shows motion today.")
    detected_today: int = Field(0, description="Cameras with a detection today.")
    attention: tuple[str, ...] = Field(description="What needs attention, in the order to act.")


def build_status(
    fleet: str,
    facts: list[CameraFacts],
    now: datetime,
    budget_minutes: float,
    silent_after: timedelta = SILENT_AFTER,
) -> FleetStatus:
    rows = tuple(_row(f, now, budget_minutes, silent_after) for f in sorted(facts, key=_camera_of))
    day = now.date()
    return FleetStatus(
        fleet=fleet,
        at=now,
        day=day,
        cameras=rows,
        online=sum(r.presence is Presence.ONLINE for r in rows),
        offline=sum(r.presence is Presence.OFFLINE for r in rows),
        never_seen=sum(r.presence is Presence.NEVER_SEEN for r in rows),
        failing=sum(r.failing for r in rows),
        pipelines_failed=sum(r.pipeline_failed for r in rows),
        processors_failed=sum(r.processor_failed for r in rows),
        moved_today=sum(r.last_motion is not None and r.last_motion.date() >= day for r in rows),
        detected_today=sum(
            r.last_detection is not None and r.last_detection.date() >= day for r in rows
        ),
        attention=tuple(
            line for r in attention_first(rows, now, silent_after) for line in r.attention
        ),
    )


def attention_first(
    rows: tuple[CameraRow, ...], now: datetime, silent_after: timedelta = SILENT_AFTER
) -> list[CameraRow]:
    """The rows in the order to act on them: offline (longest first), failed pipelines and
    processors, silent (longest first), never seen, anything else needing attention, then the
    cameras that need nothing; by camera id within each."""
    return sorted(rows, key=lambda row: _urgency(row, now, silent_after))


def _urgency(row: CameraRow, now: datetime, silent_after: timedelta) -> tuple[int, float, str]:
    def age(moment: datetime | None) -> float:
        return -(now - moment).total_seconds() if moment else 0.0

    if row.presence is Presence.OFFLINE:
        return 0, age(row.since or row.last_seen), row.camera
    if row.failing:
        return 1, 0.0, row.camera
    silent = row.last_seen is not None and now - row.last_seen >= silent_after
    if row.presence is Presence.ONLINE and silent:
        return 2, age(row.last_seen), row.camera
    if row.presence is Presence.NEVER_SEEN:
        return 3, 0.0, row.camera
    return (4 if row.attention else 5), 0.0, row.camera


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
    idle = facts.idle_today and Part.SHADOW not in facts.unread
    presence = _presence(facts)
    pipeline_failing = (
        presence is Presence.ONLINE and health is not None and health.pipeline in _FAILING_PIPELINES
    )
    processor_failing = processor is not None and processor.status is ProcessorStatus.FAILED
    return CameraRow(
        camera=facts.camera_id,
        presence=presence,
        last_seen=status.last_seen,
        since=status.status_since,
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
        idle_today=idle,
        pipeline_failed=pipeline_failing,
        processor_failed=processor_failing,
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


def table_rows(status: FleetStatus, limit: int | None = None) -> list[dict[str, Any]]:
    """The table: a row per camera (`COLUMNS`, JSON values), those needing attention first, at
    most `limit` rows (None: every camera)."""
    ordered = attention_first(status.cameras, status.at)
    return [_cells(row) for row in ordered[:limit]]


def _cells(row: CameraRow) -> dict[str, Any]:
    if row.idle_today:
        detection: str | None = IDLE
    elif row.last_detection:
        detection = f"{_time(row.last_detection)} ({row.last_detection_label})"
    else:
        detection = None
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
    return dict(zip(COLUMNS, cells, strict=True))


def table_description(status: FleetStatus, limit: int = TABLE_ROWS) -> str:
    """The table artifact's description: the summary, and which rows it holds."""
    shown = min(limit, len(status.cameras))
    more = len(status.cameras) - shown
    rows = f"; the first {shown} rows, those needing attention first" if more else ""
    rest = f" ({more} more: `{ALL_CAMERAS}`)" if more else ""
    return f"Fleet {status.fleet}: {summary_line(status)}{rows}{rest}"


def _cameras(count: int) -> str:
    return f"{count} camera{'' if count == 1 else 's'}"


GALLERY_PATH = "/v2/artifacts/key/"  # the Prefect UI's page of an artifact key


def gallery_url(camera_id: str, ui_url: str | None = None) -> str:
    """Where the Prefect UI shows the camera's detection gallery: under `ui_url` (the UI's
    address, PREFECT_UI_URL) when known, else a path the UI resolves against its own address."""
    path = GALLERY_PATH + gallery_key(camera_id)
    return ui_url.rstrip("/") + path if ui_url else path


def summary_markdown(status: FleetStatus, ui_url: str | None = None) -> str:
    """The markdown artifact: the counts, what needs attention (in the order to act, at most
    `ATTENTION_LINES`), then the detection galleries of the cameras with detections today."""
    lines = [
        f"# Fleet {status.fleet}: {_cameras(len(status.cameras))}",
        "",
        f"As of {_time(status.at)}. Analyzer: {status.analyzer}.",
        "",
        "| online | offline | never seen | failing | pipelines failed | processors failed "
        "| motion today | detections today |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| {status.online} | {status.offline} | {status.never_seen} | {status.failing} "
        f"| {status.pipelines_failed} | {status.processors_failed} | {status.moved_today} "
        f"| {status.detected_today} |",
        "",
        "## Needs attention",
        "",
        *_attention_lines(status),
        "",
        *_galleries(status, ui_url),
        f"Cameras without motion today show `{IDLE}` instead of their latest detection; "
        "`fleet camera events ID` lists a camera's detections.",
    ]
    return "\n".join(lines) + "\n"


def _attention_lines(status: FleetStatus) -> list[str]:
    if not status.attention:
        return ["Nothing needs attention."]
    lines = [f"- {_escape(line)}" for line in status.attention[:ATTENTION_LINES]]
    more = len(status.attention) - ATTENTION_LINES
    if more > 0:
        lines.append(f"- … and {more} more: `{ALL_CAMERAS}`")
    return lines


def _galleries(status: FleetStatus, ui_url: str | None) -> list[str]:
    """A link to the detection gallery of each camera with detections today (at most
    `GALLERY_LINKS`, the latest first); none when no camera has any."""
    today = sorted(
        (r for r in status.cameras if r.last_detection and r.last_detection.date() >= status.day),
        key=lambda r: (r.last_detection, r.camera),
        reverse=True,
    )
    if not today:
        return []
    links = [
        f"[{_escape(row.camera)}]({gallery_url(row.camera, ui_url)})"
        for row in today[:GALLERY_LINKS]
    ]
    more = len(today) - GALLERY_LINKS
    rest = f" (and {more} more)" if more > 0 else ""
    return [
        "## Detections today",
        "",
        "Latest detections per camera: " + " · ".join(links) + rest,
        "",
    ]


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
