"""The command line's own names for what the local stack defines."""

from __future__ import annotations

from cli.options import Scenario
from stack.cameras.scenes import SceneKind


def test_the_scenarios_are_the_stacks_scenes() -> None:
    assert [s.value for s in Scenario] == [k.value for k in SceneKind]
