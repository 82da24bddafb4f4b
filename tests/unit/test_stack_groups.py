"""The split of the e2e modules between `make test`'s two workers (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import _SECOND_STACK, stack_group

E2E = Path(__file__).parents[1] / "e2e"


def test_every_second_stack_module_exists() -> None:
    modules = {path.stem for path in E2E.glob("test_*.py")}
    assert modules >= _SECOND_STACK


def test_e2e_modules_split_between_two_stacks_and_the_rest_run_alone() -> None:
    groups = {stack_group(f"tests/e2e/{path.name}::test_x") for path in E2E.glob("test_*.py")}
    assert groups == {"stack-a", "stack-b"}
    assert stack_group("tests/e2e/test_teardown.py::test_y[1]") == "stack-b"
    assert stack_group("tests/e2e/test_agent.py::test_z") == "stack-a"
    unit = "tests/unit/test_stack_groups.py::test_every_second_stack_module_exists"
    assert stack_group(unit) == unit
