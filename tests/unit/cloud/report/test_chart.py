"""The report's chart: a PNG of the stated size with the bars, axes and legend drawn."""

from __future__ import annotations

import io
from datetime import date

import pytest
from PIL import Image

from cloud.report.chart import (
    BACKGROUND,
    CHART_SIZE,
    INK,
    LABEL_COLOURS,
    axis_top,
    bar_chart,
    colours,
)
from cloud.report.models import FleetDay

DAYS = (
    FleetDay(day=date(2026, 11, 30), detections_by_label={"PERSON": 12, "PACKAGE": 3}),
    FleetDay(day=date(2026, 12, 1), detections_by_label={}),
    FleetDay(day=date(2026, 12, 2), detections_by_label={"PET": 7, "PERSON": 1}),
)
LABELS = ("PERSON", "PET", "PACKAGE")


def _image(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def _count(image: Image.Image, colour: tuple[int, int, int]) -> int:
    counts = image.convert("RGB").getcolors(maxcolors=image.width * image.height) or []
    return sum(n for n, found in counts if found == colour)


def test_the_chart_is_a_png_of_the_stated_size() -> None:
    png = bar_chart(DAYS, LABELS, "detections", CHART_SIZE)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = _image(png)
    assert (image.format, image.size) == ("PNG", CHART_SIZE)


def test_each_label_is_drawn_in_proportion_to_its_count() -> None:
    image = _image(bar_chart(DAYS, LABELS, "detections", CHART_SIZE))
    person, pet, package = (_count(image, LABEL_COLOURS[label]) for label in LABELS)
    legend_swatch = 17 * 17
    # 13 persons, 7 pets, 3 packages: bar areas in that ratio, each with its legend swatch.
    assert person - legend_swatch == pytest.approx(13 / 7 * (pet - legend_swatch), rel=0.1)
    assert pet - legend_swatch == pytest.approx(7 / 3 * (package - legend_swatch), rel=0.1)
    assert _count(image, INK) > 1000  # axes, ticks, text


def test_an_empty_week_still_has_axes_and_a_legend_and_no_bars() -> None:
    empty = tuple(FleetDay(day=d.day) for d in DAYS)
    image = _image(bar_chart(empty, LABELS, "nothing seen", (480, 320)))
    assert image.size == (480, 320)
    assert _count(image, LABEL_COLOURS["PERSON"]) == 17 * 17  # the legend only
    assert _count(image, INK) > 300
    assert _count(image, BACKGROUND) < 480 * 320


@pytest.mark.parametrize(
    ("largest", "top"), [(0, 5), (1, 5), (5, 5), (6, 10), (13, 25), (99, 100), (101, 250)]
)
def test_the_axis_reaches_the_largest_bar_in_round_steps(largest: int, top: int) -> None:
    assert axis_top(largest) == top


def test_labels_other_than_connected_homes_get_distinct_colours() -> None:
    palette = colours(["PERSON", "Dog", "Car", "Bird", "Boat", "Tree"])
    assert palette["PERSON"] == LABEL_COLOURS["PERSON"]
    assert len(set(palette.values())) == 5  # the palette of 4 repeats for the fifth other label
