"""How `make test` (`pytest -n 2`) shares the tests between its two workers.

Each worker that runs e2e tests starts a local stack of its own (tests/e2e/conftest.py). The e2e
modules go to two groups, each run by one worker, in order, on that worker's stack: split by
their measured time (about 8 minutes each). The second group's order matters: test_register_cli
fills the processor quota, test_stack's wipe empties it, test_teardown needs it free. Every other
test goes wherever a worker is free.

pytest-xdist's own `--dist loadgroup` cannot do this on pytest 9: it renames a grouped test's
node id through an attribute pytest no longer reads, so the groups are silently ignored.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

_E2E = "tests/e2e/"
_SECOND_STACK = frozenset(
    {
        "test_monitoring_ui",
        "test_motion_scenarios",
        "test_register_cli",
        "test_results",
        "test_stack",
        "test_teardown",
    }
)


def stack_group(nodeid: str) -> str:
    """The unit of scheduling: an e2e test's stack group, else the test itself."""
    path = nodeid.split("::", 1)[0]
    if not path.startswith(_E2E):
        return nodeid
    return "stack-b" if PurePosixPath(path).stem in _SECOND_STACK else "stack-a"


class StackGroups(LoadScopeScheduling):  # type: ignore[misc]  # xdist is untyped
    def _split_scope(self, nodeid: str) -> str:
        return stack_group(nodeid)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> StackGroups:
    return StackGroups(config, log)
