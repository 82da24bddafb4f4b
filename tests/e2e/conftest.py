"""The local stack, started once per test session on free loopback ports in a temporary home.

`local_stack` yields `(settings, status)` and, for the session, puts `prefect_env(settings)`
(PREFECT_API_URL, PREFECT_HOME, ...) in os.environ, so in-process Prefect clients talk to it.

`prefect_ui` gives a test a Chromium page on the stack's Prefect UI (tests/support/browser.py);
its screenshots go to `test-artifacts/<test>/`, with one more, `NN-failure.png`, and the
Playwright trace, `trace.zip`, when it fails.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from cloud.settings import FleetSettings
from stack.supervisor.local_stack import down, prefect_env, up
from stack.supervisor.models import StackStatus
from tests.support.browser import PrefectUi, Screenshots, launch_chromium, ui_page
from tests.support.ports import free_ports

# test_register_cli fills whatever the modules before it left of the quota: test_agent registers
# 7 cameras, test_analyze 2, test_automations 2, test_bridge 1, test_deployments 1,
# test_fleet_status 2, test_monitoring_ui 1, test_motion_scenarios 3, and test_register_cli
# itself 3 before it fills.
E2E_PROCESSOR_QUOTA = 26
# The stack's scheduled fleet-status runs read every camera's stores; once an hour keeps them out
# of the tests that assert a command made no AWS call at all. test_fleet_status runs it itself.
E2E_STATUS_INTERVAL_S = 3600
# The stack's automations, declared disabled: the modules stop cameras all the time, and the
# notifications that would follow must not land in another module's notification queue.
# test_automations enables them, with short windows, while it runs.
E2E_AUTOMATIONS = """
version = 1
[camera_offline]
enabled = false
offline_seconds = 600
[pipeline_failed]
enabled = false
cooldown_seconds = 1800
[analyses_failing]
enabled = false
failures = 3
within_seconds = 900
"""
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here is `e2e` (`-m "not e2e"` runs without a stack)."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.e2e)


def _refresh_prefect_settings() -> None:
    """Prefect reads the environment once, when `prefect.context` is imported: re-read it."""
    if "prefect.context" in sys.modules:
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()


@pytest.fixture(scope="session")
def local_stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[FleetSettings, StackStatus]]:
    aws_port, mqtt_port, prefect_port = free_ports(3)
    home = tmp_path_factory.mktemp("fleet-home")
    automations = home / "automations.toml"
    automations.write_text(E2E_AUTOMATIONS, encoding="utf-8")
    settings = FleetSettings(
        home=home,
        aws_port=aws_port,
        mqtt_port=mqtt_port,
        prefect_port=prefect_port,
        processor_quota=E2E_PROCESSOR_QUOTA,
        status_interval_seconds=E2E_STATUS_INTERVAL_S,
        automations_file=automations,
    )
    env = prefect_env(settings)
    saved = {key: os.environ.get(key) for key in env}
    try:
        status = up(settings)
        os.environ.update(env)
        _refresh_prefect_settings()
        yield settings, status
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _refresh_prefect_settings()
        down(settings, wipe=True)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def prefect_ui(
    local_stack: tuple[FleetSettings, StackStatus],
    chromium: Browser,
    request: pytest.FixtureRequest,
) -> Iterator[PrefectUi]:
    _, status = local_stack
    name = re.sub(r"[^\w.-]+", "-", request.node.name).strip("-")
    screenshots = Screenshots.fresh(request.config.rootpath / ARTIFACTS_DIR / name)
    with ui_page(chromium, status.prefect_ui_url) as page:
        ui = PrefectUi(page, screenshots)
        yield ui
        if any(report.failed for report in request.node.stash.get(_REPORTS, {}).values()):
            ui.record_failure()
