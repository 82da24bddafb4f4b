"""Regions of interest: a box's centre inside a box or a polygon region, the local stream
processor's rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.analysis.regions import Box, in_regions
from cloud.models import BoundingBox, Point, RegionOfInterest
from stack.endpoint.rekognition import detection as local
from stack.endpoint.rekognition.notifications import Box as LocalBox

LEFT_HALF = RegionOfInterest(box=BoundingBox(left=0.0, top=0.0, width=0.5, height=1.0))
TRIANGLE = RegionOfInterest(polygon=(Point(x=0.5, y=0.0), Point(x=1.0, y=1.0), Point(x=0.0, y=1.0)))


def box_at(x: float, y: float, size: float = 0.1) -> Box:
    return Box(left=x - size / 2, top=y - size / 2, width=size, height=size)


def test_no_regions_is_the_whole_frame() -> None:
    assert in_regions(box_at(0.9, 0.9), ())


@pytest.mark.parametrize(
    ("x", "y", "inside"),
    [(0.25, 0.5, True), (0.75, 0.5, False), (0.5, 0.5, True)],  # on the edge: inside
)
def test_a_box_region(x: float, y: float, inside: bool) -> None:
    assert in_regions(box_at(x, y), (LEFT_HALF,)) is inside


@pytest.mark.parametrize(
    ("x", "y", "inside"),
    [(0.5, 0.6, True), (0.1, 0.2, False), (0.9, 0.2, False), (0.5, 0.95, True)],
)
def test_a_polygon_region(x: float, y: float, inside: bool) -> None:
    assert in_regions(box_at(x, y, 0.02), (TRIANGLE,)) is inside


def test_any_region_will_do() -> None:
    assert in_regions(box_at(0.9, 0.9, 0.02), (LEFT_HALF, TRIANGLE))


def test_the_centre_decides_not_the_overlap() -> None:
    mostly_outside = Box(left=0.3, top=0.0, width=0.6, height=1.0)  # centre at x = 0.6
    assert not in_regions(mostly_outside, (LEFT_HALF,))


def test_a_box_is_clipped_to_the_frame() -> None:
    clipped = Box(left=-0.2, top=0.9, width=0.5, height=0.3).clipped()
    assert (clipped.left, clipped.top, clipped.width) == (0.0, 0.9, 0.3)
    assert clipped.height == pytest.approx(0.1)


def _local_region(region: RegionOfInterest) -> dict[str, object]:
    if region.box is not None:
        b = region.box
        return {"BoundingBox": {"Left": b.left, "Top": b.top, "Width": b.width, "Height": b.height}}
    assert region.polygon is not None
    return {"Polygon": [{"X": p.x, "Y": p.y} for p in region.polygon]}


coordinate = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@given(x=coordinate, y=coordinate)
def test_the_same_rule_as_the_local_stream_processor(x: float, y: float) -> None:
    box = box_at(x, y, 0.0)
    regions = (LEFT_HALF, TRIANGLE)
    on_an_edge = x == 0.5 or abs(y - 2 * abs(x - 0.5)) < 1e-9 or y in (0.0, 1.0)
    if not on_an_edge:  # edges may differ by the polygon's half-open crossing rule
        expected = local.in_regions(
            LocalBox(box.left, box.top, box.width, box.height),
            [_local_region(r) for r in regions],
        )
        assert in_regions(box, regions) is expected
