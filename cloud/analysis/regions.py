"""Whether something found in a frame is inside the camera's regions of interest. Pure.

The rule is the stream processor's (and the local stream processor's): a detection counts when
the centre of its box is inside one of the camera's regions (a box, or a polygon of up to ten
points, both as ratios of the frame); a camera without regions watches the whole frame. A point
on a region's edge is inside.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from cloud.models import Model, Point, RegionOfInterest


class Box(Model):
    """A box as ratios of the frame's width and height, as Rekognition answers it: an object cut
    by the frame's edge may give a box reaching a little outside 0..1."""

    left: float
    top: float
    width: float = Field(ge=0)
    height: float = Field(ge=0)

    @property
    def centre(self) -> tuple[float, float]:
        return self.left + self.width / 2, self.top + self.height / 2

    def clipped(self) -> Box:
        """The part of the box inside the frame (empty when it lies wholly outside)."""
        left, top = min(1.0, max(0.0, self.left)), min(1.0, max(0.0, self.top))
        right = min(1.0, max(left, self.left + self.width))
        bottom = min(1.0, max(top, self.top + self.height))
        return Box(left=left, top=top, width=right - left, height=bottom - top)


def _inside_polygon(x: float, y: float, points: Sequence[Point]) -> bool:
    """Ray casting; a point on an edge counts as inside."""
    inside = False
    for first, second in zip(points, [*points[1:], points[0]], strict=True):
        if _on_segment(x, y, first, second):
            return True
        if (first.y > y) != (second.y > y):
            crossing = first.x + (y - first.y) * (second.x - first.x) / (second.y - first.y)
            if x < crossing:
                inside = not inside
    return inside


def _on_segment(x: float, y: float, a: Point, b: Point, tolerance: float = 1e-12) -> bool:
    cross = (b.x - a.x) * (y - a.y) - (b.y - a.y) * (x - a.x)
    if abs(cross) > tolerance:
        return False
    return min(a.x, b.x) <= x <= max(a.x, b.x) and min(a.y, b.y) <= y <= max(a.y, b.y)


def in_region(x: float, y: float, region: RegionOfInterest) -> bool:
    if region.box is not None:
        box = region.box
        return box.left <= x <= box.left + box.width and box.top <= y <= box.top + box.height
    return region.polygon is not None and _inside_polygon(x, y, region.polygon)


def in_regions(box: Box, regions: Sequence[RegionOfInterest]) -> bool:
    """Whether the box's centre is inside one of `regions` (no regions: the whole frame)."""
    if not regions:
        return True
    x, y = box.centre
    return any(in_region(x, y, region) for region in regions)
