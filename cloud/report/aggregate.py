"""Counts, busiest hours and costs per camera and UTC day, from what was read. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime

from pydantic import Field

from cloud.models import Analyzer, Label, Model
from cloud.rekognition_messages import DailyUsage
from cloud.report.cost import day_cost, estimated_images
from cloud.report.models import (
    CameraDay,
    CameraReadings,
    CameraReport,
    DetectionFact,
    FleetDay,
    FleetReport,
    HourCount,
    Prices,
    ReportWindow,
)

TOP_HOURS = 3
# ConnectedHome's classes first, in their usual order; any other label after them, by name.
_LABEL_ORDER = {label.value: n for n, label in enumerate((Label.PERSON, Label.PET, Label.PACKAGE))}


class FramesSampling(Model):
    """The frames analyzer's sampling (`FLEET_FRAMES_SEARCH_MS`, `FLEET_FRAMES_CONFIRMATIONS`),
    which the estimate of its images rests on."""

    search_ms: int = Field(gt=0)
    confirmations: int = Field(ge=1)


def busiest_hours(moments: Iterable[datetime], top: int = TOP_HOURS) -> tuple[HourCount, ...]:
    """The UTC hours of day with the most detections, busiest first (ties: the earlier hour)."""
    counts = Counter(m.astimezone(UTC).hour for m in moments)
    ranked = sorted(counts.items(), key=lambda hour_count: (-hour_count[1], hour_count[0]))
    return tuple(HourCount(hour=h, detections=n) for h, n in ranked[:top])


def label_order(labels: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(labels), key=lambda label: (_LABEL_ORDER.get(label, 99), label)))


def camera_days(
    readings: CameraReadings,
    window: ReportWindow,
    analyzer: Analyzer,
    prices: Prices,
    sampling: FramesSampling,
) -> tuple[CameraDay, ...]:
    """Every day of the window for the camera, days without anything included."""
    detections = [d for d in readings.detections if window.holds(d.detected_at)]
    by_day: dict[date, Counter[str]] = {day: Counter() for day in window.days}
    for detection in detections:
        by_day[_day(detection)][detection.label] += 1
    usage: Mapping[date, DailyUsage] = {u.day: u for u in readings.usage}
    days = []
    for day, labels in by_day.items():
        used = usage.get(day)
        processed_ms, sessions = (used.processed_ms, used.sessions) if used else (0, 0)
        images = None
        if analyzer is Analyzer.FRAMES:
            images = estimated_images(
                processed_ms,
                sessions,
                sum(labels.values()),
                search_ms=sampling.search_ms,
                confirmations=sampling.confirmations,
            )
        days.append(
            CameraDay(
                camera_id=readings.camera_id,
                day=day,
                detections_by_label={k: labels[k] for k in label_order(labels)},
                sessions=sessions,
                processed_ms=processed_ms,
                images=images,
                cost_usd=day_cost(analyzer, prices, processed_ms, images),
            )
        )
    return tuple(days)


def build_report(
    fleet: str,
    window: ReportWindow,
    analyzer: Analyzer,
    prices: Prices,
    sampling: FramesSampling,
    readings: Iterable[CameraReadings],
    unread: Mapping[str, str],
    generated_at: datetime,
) -> FleetReport:
    """The report of every camera read, and of those that could not be (`unread`: why)."""
    cameras: list[CameraReport] = []
    moments: list[datetime] = []
    for camera in sorted(readings, key=lambda r: r.camera_id):
        inside = [d.detected_at for d in camera.detections if window.holds(d.detected_at)]
        moments.extend(inside)
        cameras.append(
            CameraReport(
                camera_id=camera.camera_id,
                days=camera_days(camera, window, analyzer, prices, sampling),
                busiest_hours=busiest_hours(inside),
            )
        )
    for camera_id, why in sorted(unread.items()):
        empty = CameraReadings(camera_id=camera_id)
        cameras.append(
            CameraReport(
                camera_id=camera_id,
                days=camera_days(empty, window, analyzer, prices, sampling),
                busiest_hours=(),
                unread=why,
            )
        )
    cameras.sort(key=lambda c: c.camera_id)
    labels = label_order(label for c in cameras for d in c.days for label in d.detections_by_label)
    return FleetReport(
        fleet=fleet,
        analyzer=analyzer,
        window=window,
        generated_at=generated_at,
        prices=prices,
        labels=labels,
        cameras=tuple(cameras),
        fleet_days=_fleet_days(window, cameras, labels),
        busiest_hours=busiest_hours(moments),
    )


def _fleet_days(
    window: ReportWindow, cameras: list[CameraReport], labels: tuple[str, ...]
) -> tuple[FleetDay, ...]:
    totals: dict[date, Counter[str]] = {day: Counter() for day in window.days}
    for camera in cameras:
        for day in camera.days:
            totals[day.day].update(day.detections_by_label)
    return tuple(
        FleetDay(day=day, detections_by_label={k: counts[k] for k in labels if counts[k]})
        for day, counts in totals.items()
    )


def _day(detection: DetectionFact) -> date:
    return detection.detected_at.astimezone(UTC).date()
