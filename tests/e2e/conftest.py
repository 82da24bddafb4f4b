"""The e2e fixtures: one local stack per test session (per xdist worker), lent to each module.

`local_stack` yields `(settings, status)` of the session's stack (tests/e2e/stacks.py), with its
stream processor quota set to what is in use plus the module's `processors(n)` marker (0 without
one), so a module finds the room it needs whatever ran before it. For the session, the stack's
`prefect_env(settings)` (PREFECT_API_URL, PREFECT_HOME, ...) is in os.environ, so in-process
Prefect clients talk to it.

`prefect_ui` gives a test a Chromium page on the stack's Prefect UI (tests/support/browser.py);
its screenshots go to `test-artifacts/<test>/`, with one more, `NN-failure.png`, and the
Playwright trace, `trace.zip`, when it fails.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.e2e.stacks import Stack, make_room, prefect_environment, running_stack
from tests.support.browser import PrefectUi, Screenshots, launch_chromium, ui_page

ARTIFACTS_DIR = "test-artifacts"
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test, for fixtures that act on a failure."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "processors(n): the stream processors an e2e module creates (local_stack makes room)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is `e2e` (`-m "not e2e"` runs without a stack)."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def session_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with (
        running_stack(tmp_path_factory.mktemp("fleet-home")) as stack,
        prefect_environment(stack[0]),
    ):
        yield stack


@pytest.fixture(scope="module")
def local_stack(session_stack: Stack, request: pytest.FixtureRequest) -> Stack:
    """The session's stack, with room for the stream processors the module creates."""
    marker = request.node.get_closest_marker("processors")
    make_room(session_stack, int(marker.args[0]) if marker else 0)
    return session_stack


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def prefect_ui(
    local_stack: Stack,
    chromium: Browser,
    request: pytest.FixtureRequest,
) -> Iterator[PrefectUi]:
    settings, status = local_stack
    name = re.sub(r"[^\w.-]+", "-", request.node.name).strip("-")
    screenshots = Screenshots.fresh(request.config.rootpath / ARTIFACTS_DIR / name)
    assert settings.endpoint_url is not None  # the local stack's
    with ui_page(chromium, status.prefect_ui_url, also=(settings.endpoint_url,)) as page:
        ui = PrefectUi(page, screenshots)
        yield ui
        if any(report.failed for report in request.node.stash.get(_REPORTS, {}).values()):
            ui.record_failure()
