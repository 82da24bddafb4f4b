"""The report's chart: the fleet's detections per UTC day, a bar per day stacked by label, with
axes and a legend, as PNG bytes. Pure (Pillow draws in memory)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Final

from PIL import Image, ImageDraw, ImageFont

from cloud.report.models import FleetDay, FleetReport

CHART_SIZE: Final = (960, 540)
BACKGROUND: Final = (255, 255, 255)
INK: Final = (40, 40, 40)
GRID: Final = (225, 225, 225)
LABEL_COLOURS: Final = {
    "PERSON": (31, 119, 180),
    "PET": (255, 127, 14),
    "PACKAGE": (44, 160, 44),
}
_OTHER_COLOURS: Final = ((148, 103, 189), (214, 39, 40), (140, 86, 75), (127, 127, 127))
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 70, 150, 50, 60
_Y_TICKS = 5

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def colours(labels: Sequence[str]) -> dict[str, tuple[int, int, int]]:
    """Each label's colour: ConnectedHome's classes their own, others from a palette."""
    others = iter(_OTHER_COLOURS * (len(labels) // len(_OTHER_COLOURS) + 1))
    return {label: LABEL_COLOURS.get(label) or next(others) for label in labels}


def axis_top(largest: int, ticks: int = _Y_TICKS) -> int:
    """The y axis' top: `ticks` equal whole steps of 1, 2 or 5 times a power of ten that reach
    `largest` (an empty chart still gets an axis up to `ticks`)."""
    step_wanted = max(1.0, largest / ticks)
    power = 10 ** math.floor(math.log10(step_wanted))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= step_wanted)
    return int(step * ticks)


def report_chart(report: FleetReport, size: tuple[int, int] = CHART_SIZE) -> bytes:
    title = (
        f"Fleet {report.fleet}: detections per day (UTC), "
        f"{report.window.days[0].isoformat()} to {report.window.days[-1].isoformat()}"
    )
    return bar_chart(report.fleet_days, report.labels, title, size)


def bar_chart(
    days: Sequence[FleetDay], labels: Sequence[str], title: str, size: tuple[int, int]
) -> bytes:
    width, height = size
    image = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(image)
    font, small = _font(15), _font(12)
    left, right = _MARGIN_LEFT, width - _MARGIN_RIGHT
    top, bottom = _MARGIN_TOP, height - _MARGIN_BOTTOM
    largest = max((sum(d.detections_by_label.values()) for d in days), default=0)
    y_top = axis_top(largest)

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * value / y_top

    draw.text((left, 8), title, fill=INK, font=font)
    for tick in range(_Y_TICKS + 1):
        value = y_top * tick // _Y_TICKS
        y = y_of(value)
        draw.line([(left, y), (right, y)], fill=GRID)
        draw.text((left - 8, y), str(value), fill=INK, font=small, anchor="rm")
    draw.text((8, top - 18), "detections", fill=INK, font=small)

    palette = colours(labels)
    slot = (right - left) / max(1, len(days))
    bar = max(1.0, slot * 0.7)
    every = max(1, math.ceil(len(days) * 48 / (right - left)))  # day labels ~48 px apart
    for n, day in enumerate(days):
        x0 = left + n * slot + (slot - bar) / 2
        base = 0
        for label in labels:
            count = day.detections_by_label.get(label, 0)
            if count:
                draw.rectangle([x0, y_of(base + count), x0 + bar, y_of(base)], fill=palette[label])
                base += count
        if n % every == 0:
            draw.text(
                (x0 + bar / 2, bottom + 8),
                day.day.strftime("%m-%d"),
                fill=INK,
                font=small,
                anchor="mt",
            )
    draw.line([(left, top), (left, bottom)], fill=INK, width=2)
    draw.line([(left, bottom), (right, bottom)], fill=INK, width=2)
    draw.text(((left + right) / 2, height - 22), "day (UTC)", fill=INK, font=small, anchor="mm")

    for n, label in enumerate(labels):
        y = top + n * 24
        draw.rectangle([right + 20, y, right + 36, y + 16], fill=palette[label])
        draw.text((right + 44, y + 8), label, fill=INK, font=small, anchor="lm")

    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _font(size: int) -> Font:
    """The font Pillow's wheels bundle, at `size` (drawn with FreeType: anchors need it)."""
    return ImageFont.load_default(size=size)
