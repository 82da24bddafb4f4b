"""What an operator sees in the Prefect UI, in Chromium, on the whole local stack.

A camera registered with the CLI, its real agent running: the UI's runs list shows the
registration's flow run completed, its page shows the flow and the run's log, and the event feed
filtered to the camera shows the camera's events, and the `fleet-status` artifact shows its row
online, then offline once its agent stops. `open_artifact` reads a table artifact as the UI
renders it. Each step leaves a screenshot in `test-artifacts/<test>/`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from prefect import flow
from prefect.artifacts import create_table_artifact

from cloud.settings import FleetSettings
from device.messages import Presence
from flows import runtime
from flows.fleet_status import TABLE_KEY, fleet_status_flow
from flows.fleet_status_report import COLUMNS
from stack.supervisor.models import StackStatus
from tests.e2e.cli import fleet
from tests.support.agent_process import RunningAgent
from tests.support.browser import (
    PrefectUi,
    events_path,
    follow,
    open_artifact,
    wait_for_text,
)
from tests.support.waiting import run_coroutine, wait_for_camera_events, wait_for_shadow

Stack = tuple[FleetSettings, StackStatus]
pytestmark = pytest.mark.processors(1)

CAMERA = "ui-lobby"
# The camera event the feed must show: the analysis that the agent's first motion starts.
CAMERA_EVENT = "camera.analysis.started"
ARTIFACT_KEY = "browser-check"


def test_the_ui_shows_the_cameras_registration_run_and_its_events(
    local_stack: Stack, prefect_ui: PrefectUi, tmp_path: Path
) -> None:
    settings, _ = local_stack
    registered = fleet(settings, "camera", "register", CAMERA)
    assert registered.returncode == 0, registered.stderr
    since = datetime.now(UTC)
    config = settings.bundles_dir / CAMERA / "agent.toml"
    agent = RunningAgent(settings, config, tmp_path / "agent.log", {})
    try:
        # Through the API, before looking in the UI: a missing event is not a UI failure.
        assert wait_for_camera_events(CAMERA, [CAMERA_EVENT], since, 1, timeout=60), (
            f"no {CAMERA_EVENT} event for {CAMERA} in 60 s"
        )
        page = prefect_ui.page

        # The UI's address lands on the V2 UI's dashboard.
        page.goto("/")
        expect(page).to_have_url(re.compile(r"/v2/dashboard"))
        prefect_ui.shot("dashboard")

        # Runs: the registration's flow run, of flow register-camera, completed.
        page.get_by_role("link", name="Runs", exact=True).click()
        page.get_by_role("textbox", name="Search by flow run name").fill(f"register {CAMERA}")
        run_link = page.get_by_role("link", name=f"register {CAMERA}", exact=True)
        flow_link = page.get_by_role("link", name="register-camera", exact=True)
        run = page.get_by_role("listitem").filter(has=run_link).filter(has=flow_link)
        expect(run).to_have_count(1)
        wait_for_text(run, "Completed", exact=True)
        prefect_ui.shot("runs")

        follow(run_link, re.compile(r"/v2/runs/flow-run/[0-9a-f-]+"))
        main = page.get_by_role("main")
        # The run's own log line first: until the run page replaces the runs list (the stack's
        # other registrations are listed there too), `main` may still show the list.
        wait_for_text(main, f"camera {CAMERA}: created IoT thing")
        expect(main.get_by_role("link", name="register-camera", exact=True).first).to_be_visible()
        wait_for_text(main, "Completed", exact=True)
        prefect_ui.shot("registration run")

        # The event feed, filtered to the camera's resource.
        page.goto(events_path(f"camera.{CAMERA}", since, datetime.now(UTC) + timedelta(minutes=5)))
        expect(main.get_by_role("button", name="Filter by resource")).to_have_text(
            "1 resource selected"
        )
        event = main.get_by_role("listitem").filter(has_text=CAMERA_EVENT).first
        expect(event).to_contain_text(CAMERA)
        prefect_ui.shot("camera events")

        follow(event.get_by_role("link").first, re.compile(r"/v2/events/event/"))  # its title
        details = main.get_by_role("tabpanel", name="Details")
        wait_for_text(details, CAMERA_EVENT, exact=True)
        wait_for_text(details, CAMERA, exact=True)
        prefect_ui.shot("camera event")

        # Fleet status: the camera's row says online; once its agent has stopped, the next
        # status run's says offline.
        _run_fleet_status(settings)
        assert _status_row(prefect_ui)["online"] == "yes"
        prefect_ui.shot("fleet status, online")
        agent.stop()
        wait_for_shadow(settings, CAMERA, lambda s: s.presence is Presence.OFFLINE)
        _run_fleet_status(settings)
        row = _status_row(prefect_ui)
        prefect_ui.shot("fleet status, offline")
        assert row["online"] == "no" and row["pipeline state"] != "running"
    finally:
        agent.stop()


def _run_fleet_status(settings: FleetSettings) -> None:
    """A status run now, as the schedule would make one (every minute on a demo stack)."""
    runtime.configure(settings)

    async def run() -> bool:
        state = await fleet_status_flow(return_state=True)
        return state.is_completed()

    assert run_coroutine(run()), "the fleet-status run did not complete"


def _status_row(prefect_ui: PrefectUi) -> dict[str, str]:
    table = open_artifact(prefect_ui.page, TABLE_KEY, search=CAMERA)
    assert table.columns == list(COLUMNS)
    rows = table.records()
    assert [r["camera"] for r in rows] == [CAMERA]
    return rows[0]


@flow(name="browser-check")
def _publish_table(rows: list[dict[str, str | bool]]) -> None:
    create_table_artifact(rows, key=ARTIFACT_KEY, description="# Browser check")


def test_open_artifact_reads_the_latest_table_a_row_at_a_time(
    local_stack: Stack, prefect_ui: PrefectUi
) -> None:
    cameras = [f"cam-{n:02d}" for n in range(12)]  # more rows than the table's page of 10
    _publish_table([{"camera": camera, "online": True} for camera in cameras])
    _publish_table([{"camera": camera, "online": camera != "cam-11"} for camera in cameras])

    table = open_artifact(prefect_ui.page, ARTIFACT_KEY, search="cam-11")
    prefect_ui.shot("latest version, one camera")
    assert table.columns == ["camera", "online"]
    assert table.records() == [{"camera": "cam-11", "online": "false"}]

    first_page = open_artifact(prefect_ui.page, ARTIFACT_KEY)
    prefect_ui.shot("latest version, first page")
    assert [row[0] for row in first_page.rows] == cameras[:10]
    assert first_page.records()[0] == {"camera": "cam-00", "online": "true"}
