"""The `visitor` and `stranger` scenes: a person walks in from the left, stands still in front of
the camera, walks off to the right; the wall alone before and after."""

from __future__ import annotations

import numpy as np
import pytest

from stack.cameras.scenes import (
    VISIT_ARRIVES_S,
    VISIT_ENTERS_S,
    VISIT_GONE_S,
    VISIT_LEAVES_S,
    VISIT_PERIOD_S,
    Scene,
    SceneKind,
    scene_frame,
    visit_place,
)

FPS = 10
WIDTH, HEIGHT = 320, 240
VISITS = [SceneKind.VISITOR, SceneKind.STRANGER]


def frame_at(kind: Scene, seconds: float) -> np.ndarray:
    return scene_frame(kind, round(seconds * FPS), WIDTH, HEIGHT, FPS)


@pytest.mark.parametrize("t", [0.0, VISIT_ENTERS_S - 0.01, VISIT_GONE_S, VISIT_PERIOD_S - 0.01])
def test_nobody_is_in_view_before_entering_and_after_leaving(t: float) -> None:
    assert visit_place(t, WIDTH, HEIGHT, aspect=1.0) is None


def test_stepping_in_starts_just_outside_the_left_edge() -> None:
    place = visit_place(VISIT_ENTERS_S, WIDTH, HEIGHT, aspect=0.5)
    assert place is not None
    left, _, height = place
    assert left == -round(height * 0.5)


def test_the_visitor_walks_in_from_the_left_growing_and_off_to_the_right() -> None:
    walking_in = [visit_place(t, WIDTH, HEIGHT, 1.0) for t in (0.8, 1.5, 2.2, 2.9)]
    lefts = [place[0] for place in walking_in if place]
    heights = [place[2] for place in walking_in if place]
    assert len(lefts) == 4
    assert lefts[0] < 0 < lefts[-1] and lefts == sorted(lefts)
    assert heights == sorted(heights) and heights[0] < heights[-1]
    standing = visit_place(VISIT_ARRIVES_S, WIDTH, HEIGHT, 1.0)
    assert standing is not None
    left, top, height = standing
    assert left == round((WIDTH - height) / 2)  # in the middle
    assert height > 0.9 * HEIGHT and top >= 0  # large: close to the camera
    leaving = visit_place(VISIT_GONE_S - 0.05, WIDTH, HEIGHT, 1.0)
    assert leaving is not None and leaving[0] > WIDTH / 2


def test_the_visit_repeats() -> None:
    for t in (0.3, 1.7, 5.0, 9.9):
        assert visit_place(t, WIDTH, HEIGHT, 0.8) == visit_place(
            t + VISIT_PERIOD_S, WIDTH, HEIGHT, 0.8
        )


@pytest.mark.parametrize("kind", VISITS)
def test_frames_are_the_same_every_time(kind: SceneKind) -> None:
    for t in (1.2, 5.0, 9.6):
        assert np.array_equal(frame_at(kind, t), frame_at(kind, t))


@pytest.mark.parametrize("kind", VISITS)
def test_the_wall_alone_then_the_person_standing_still(kind: SceneKind) -> None:
    empty = frame_at(kind, 0.0)
    assert np.array_equal(empty, frame_at(kind, VISIT_ENTERS_S - 0.1))
    assert np.array_equal(empty, frame_at(kind, VISIT_GONE_S + 1))
    assert np.array_equal(empty, frame_at(SceneKind.STRANGER, 0.0))  # the same wall
    still = [frame_at(kind, t) for t in (VISIT_ARRIVES_S, 5.0, VISIT_LEAVES_S - 0.1)]
    assert all(np.array_equal(still[0], frame) for frame in still)
    changed = np.any(still[0] != empty, axis=-1)
    assert changed.mean() > 0.5  # large: more than half of the picture
    walking = [frame_at(kind, t) for t in (1.0, 1.5, VISIT_LEAVES_S + 1)]
    assert not any(np.array_equal(still[0], frame) for frame in walking)


def test_the_two_scenes_show_different_people() -> None:
    assert not np.array_equal(frame_at(SceneKind.VISITOR, 5.0), frame_at(SceneKind.STRANGER, 5.0))
