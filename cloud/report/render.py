"""The report as markdown (the Prefect artifact) and as one line. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from cloud.models import Analyzer
from cloud.rekognition_messages import readable_utc
from cloud.report.models import CameraDay, CameraReport, FleetReport, HourCount, Prices

_MARKDOWN_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\`*_[]<>|#"})


def escape(text: str) -> str:
    return text.translate(_MARKDOWN_SPECIAL)


def usd(amount: float) -> str:
    return f"${amount:,.2f}" if amount >= 1 or amount == 0 else f"${amount:.4f}"


def hour_range(hour: int) -> str:
    return f"{hour:02d}:00-{(hour + 1) % 24:02d}:00"


def price_note(analyzer: Analyzer, prices: Prices) -> str:
    """How the cost was estimated, the assumption said aloud."""
    if analyzer is Analyzer.FRAMES:
        note = (
            f"estimated, at ${prices.detect_labels_per_image:g} per image sent to DetectLabels; "
            "images are estimated from the sessions, their video and their detections (the "
            "workers do not record them)"
        )
        assumed = "detect_labels_per_image" in prices.assumed
    else:
        note = f"estimated, at ${prices.stream_processor_per_minute:g} per minute of video analysed"
        assumed = "stream_processor_per_minute" in prices.assumed
    if assumed:
        note += " (an assumed price: no public price was confirmed)"
    return note + ". Kinesis Video Streams ingestion and storage are not included."


def summary_line(report: FleetReport) -> str:
    """One line for the log, the artifact's description and the command line."""
    days = report.window.days
    return (
        f"{_many(len(report.cameras), 'camera')}, {_many(report.detections, 'detection')}, "
        f"{_many(report.sessions, 'session')}, "
        f"{_work(report.analyzer, report.minutes, _images(report))}, "
        f"est. {usd(report.cost_usd)} ({days[0].isoformat()} to {days[-1].isoformat()} UTC)"
    )


def _many(count: int, thing: str) -> str:
    return f"{count} {thing}{'' if count == 1 else 's'}"


def report_markdown(report: FleetReport) -> str:
    window, days = report.window, report.window.days
    lines = [
        f"# Fleet {escape(report.fleet)}: report {days[0].isoformat()} to {days[-1].isoformat()}",
        "",
        f"From {readable_utc(window.start)} to {readable_utc(window.end)}, per UTC day. "
        f"Analyzer: {report.analyzer}. Made {readable_utc(report.generated_at)}.",
        "",
        f"**{summary_line(report)}**",
        "",
        f"Costs are {price_note(report.analyzer, report.prices)}",
        "",
        *_chart(report),
        "## Cameras",
        "",
        *_camera_table(report),
        "",
        "## Per camera and day",
        "",
        *_day_table(report),
        "",
        "## Busiest hours (UTC)",
        "",
        *_busiest(report),
    ]
    return "\n".join(lines) + "\n"


def _chart(report: FleetReport) -> list[str]:
    if report.chart is None:
        why = f": {escape(report.chart_error)}" if report.chart_error else ""
        return [f"The chart could not be stored{why}.", ""]
    chart = report.chart
    return [
        f"![Detections per day by label]({chart.url})",
        "",
        f"[Open the chart]({chart.url}) (the link works until "
        f"{readable_utc(chart.expires_at)}; the chart stays at `{chart.uri}`).",
        "",
    ]


def _images(report: FleetReport) -> int | None:
    counted = [c.images for c in report.cameras if c.images is not None]
    return sum(counted) if counted else None


def _work(analyzer: Analyzer, minutes: float, images: int | None) -> str:
    if analyzer is Analyzer.FRAMES:
        return f"~{images or 0} images analysed"
    return f"{minutes:.1f} min analysed"


def _row(cells: Iterable[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _header(columns: Sequence[str]) -> list[str]:
    return [_row(columns), _row("---" for _ in columns)]


def _work_column(analyzer: Analyzer) -> str:
    return "images analysed (est.)" if analyzer is Analyzer.FRAMES else "minutes analysed"


def _work_cell(analyzer: Analyzer, minutes: float, images: int | None) -> str:
    return str(images or 0) if analyzer is Analyzer.FRAMES else f"{minutes:.1f}"


def _camera_table(report: FleetReport) -> list[str]:
    labels = [escape(label) for label in report.labels]
    lines = _header(
        ["camera", "detections", *labels, "sessions", _work_column(report.analyzer), "est. cost"]
    )
    for camera in report.cameras:
        if camera.unread is not None:
            lines.append(_row([escape(camera.camera_id), f"not read: {escape(camera.unread)}"]))
            continue
        by_label = _label_totals(camera)
        lines.append(
            _row(
                [
                    escape(camera.camera_id),
                    camera.detections,
                    *(by_label.get(label, 0) for label in report.labels),
                    camera.sessions,
                    _work_cell(report.analyzer, camera.minutes, camera.images),
                    usd(camera.cost_usd),
                ]
            )
        )
    if not report.cameras:
        lines.append(_row(["no cameras registered"]))
    return lines


def _label_totals(camera: CameraReport) -> dict[str, int]:
    totals: dict[str, int] = {}
    for day in camera.days:
        for label, count in day.detections_by_label.items():
            totals[label] = totals.get(label, 0) + count
    return totals


def _active(day: CameraDay) -> bool:
    return bool(day.detections or day.sessions or day.processed_ms)


def _day_table(report: FleetReport) -> list[str]:
    labels = [escape(label) for label in report.labels]
    columns = ["camera", "day", *labels, "sessions", _work_column(report.analyzer), "est. cost"]
    lines = _header(columns)
    active = [d for c in report.cameras for d in c.days if _active(d)]
    for day in active:
        lines.append(
            _row(
                [
                    escape(day.camera_id),
                    day.day.isoformat(),
                    *(day.detections_by_label.get(label, 0) for label in report.labels),
                    day.sessions,
                    _work_cell(report.analyzer, day.minutes, day.images),
                    usd(day.cost_usd),
                ]
            )
        )
    if not active:
        return ["No detections and no analysis in the window."]
    return [*lines, "", "Days without detections or analysis are left out."]


def _hours(hours: Sequence[HourCount]) -> str:
    return ", ".join(f"{hour_range(h.hour)} ({h.detections})" for h in hours) or "none"


def _busiest(report: FleetReport) -> list[str]:
    lines = [f"Fleet-wide: {_hours(report.busiest_hours)}.", ""]
    cameras = [c for c in report.cameras if c.busiest_hours]
    if cameras:
        lines.extend(_header(["camera", "busiest hours (detections)"]))
        lines.extend(_row([escape(c.camera_id), _hours(c.busiest_hours)]) for c in cameras)
    return lines
