"""The fleet's Prefect automations on the whole local stack.

The stack's serve process creates them at start from the e2e declaration (all disabled, see
conftest). This module syncs a declaration with short windows (the same names, updated in place),
then makes two registered cameras publish over MQTT what their agents would: `auto-gone` goes
offline (flapping first: offline, online, offline) and stays away, `auto-back` goes offline and
comes back within the window, then reports a failed pipeline; `auto-gone`'s analyses fail twice
(`camera.analysis.failed`, as the analyze flow emits it). Prefect's automations run the served
`camera-offline` and `camera-failing` deployments, whose notifications reach a queue subscribed
to the fleet's notification topic, where a user's phone would be. At the end the stack's own
declaration is synced back.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
from prefect.client.schemas.objects import FlowRun
from prefect.events.schemas.automations import Automation

from cloud.clients import AwsClients
from cloud.settings import FleetSettings
from device.messages import PipelineState, Presence, TopicKind
from flows import runtime
from flows.analyze import emit_camera_event
from flows.automations.rules import Names
from flows.automations.sync import SyncAction, sync_automations
from flows.events import ANALYSIS_FAILED, AnalysisFailedPayload
from stack.supervisor.models import StackStatus
from tests.e2e.cli import fleet, fleet_json
from tests.support.browser import PrefectUi, follow
from tests.support.camera_client import CameraClient, health, status

Stack = tuple[FleetSettings, StackStatus]
pytestmark = pytest.mark.processors(2)

GONE, BACK = "auto-gone", "auto-back"
# Prefect's least (proactive triggers), and it checks one about once per window: 10 to 25 s.
OFFLINE_S = 10
FAILURES = 2
ACTIVE = f"""
version = 1
[camera_offline]
offline_seconds = {OFFLINE_S}
[pipeline_failed]
cooldown_seconds = 600
[analyses_failing]
failures = {FAILURES}
within_seconds = 600
"""
# From the first publish to the last notification: the offline window and Prefect's check (10 to
# 25 s), the served runner's poll (10 s) and the runs' processes starting, three at once on two
# busy cores (measured 54 to 104 s in all).
NOTIFIED_S = 180.0


def _names(settings: FleetSettings) -> list[str]:
    names = Names(settings.name)
    return [names.offline, names.pipeline_failed, names.analyses_failing]


async def _read_by_name(names: list[str]) -> dict[str, list[Automation]]:
    async with get_client() as client:
        return {name: await client.read_automations_by_name(name) for name in names}


def _automations(settings: FleetSettings, wait_s: float = 0) -> dict[str, list[Automation]]:
    """The fleet's automations by name (waiting up to `wait_s` for all of them to exist)."""
    deadline = time.monotonic() + wait_s
    while True:
        found = asyncio.run(_read_by_name(_names(settings)))
        if all(found.values()) or time.monotonic() > deadline:
            return found
        time.sleep(1)


def _sync(path: Path, settings: FleetSettings) -> dict[str, SyncAction]:
    return {r.name: r.action for r in asyncio.run(sync_automations(path, settings.name))}


@dataclass
class Inbox:
    """A queue subscribed to the fleet's notification topic, and what it has received."""

    sqs: Any
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)

    def wait_for(self, wanted: Callable[[dict[str, Any]], bool], deadline: float) -> dict[str, Any]:
        """The first notification `wanted` takes, received by `deadline` (time.monotonic)."""
        while not (found := [n for n in self.received if wanted(n)]):
            assert time.monotonic() < deadline, f"no such notification; got {self.received}"
            answer = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            for message in answer.get("Messages", []):
                self.received.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return found[0]


def _subject(subject: str) -> Callable[[dict[str, Any]], bool]:
    return lambda notification: notification["Subject"] == subject


@pytest.fixture(scope="module")
def inbox(local_stack: Stack) -> Inbox:
    settings, _ = local_stack
    clients, names = AwsClients(settings), runtime.configure(settings).names
    url = str(clients.sqs.create_queue(QueueName="e2e-automation-notifications")["QueueUrl"])
    arn = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    clients.sns.subscribe(
        TopicArn=names.user_notifications_topic_arn(),
        Protocol="sqs",
        Endpoint=arn["Attributes"]["QueueArn"],
    )
    return Inbox(clients.sqs, url)


@pytest.fixture(scope="module")
def bundles(local_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both cameras registered by one command (one CLI start, not two, on a busy machine)."""
    settings, _ = local_stack
    listing = tmp_path_factory.mktemp("cameras") / "cameras.txt"
    listing.write_text(f"{GONE}\n{BACK}\n", encoding="utf-8")
    outcomes = fleet_json(settings, "camera", "register", "--many", str(listing))
    assert all(o["error"] is None for o in outcomes), outcomes
    return {o["camera_id"]: Path(o["result"]["bundle_dir"]) for o in outcomes}


@pytest.fixture(scope="module")
def active(local_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The short-window declaration synced for the module; the stack's own synced back after."""
    settings, _ = local_stack
    assert settings.automations_file is not None
    _automations(settings, wait_s=60)  # the serve process has made them
    path = tmp_path_factory.mktemp("automations") / "active.toml"
    path.write_text(ACTIVE, encoding="utf-8")
    try:
        yield path
    finally:
        _sync(settings.automations_file, settings)


def test_the_stack_creates_each_declared_automation_once(local_stack: Stack) -> None:
    settings, _ = local_stack
    found = _automations(settings, wait_s=60)
    for name, automations in found.items():
        assert len(automations) == 1, name
        (automation,) = automations
        assert not automation.enabled  # as the e2e declaration says
        assert {"camera-fleet", f"fleet:{settings.name}"} <= set(automation.tags)
        assert str(settings.automations_file) in automation.description
    assert settings.automations_file is not None
    assert set(_sync(settings.automations_file, settings).values()) == {SyncAction.UNCHANGED}


def test_a_changed_declaration_updates_them_in_place(local_stack: Stack, active: Path) -> None:
    settings, _ = local_stack
    before = {name: found[0].id for name, found in _automations(settings).items()}
    assert set(_sync(active, settings).values()) == {SyncAction.UPDATED}
    assert set(_sync(active, settings).values()) == {SyncAction.UNCHANGED}
    after = _automations(settings)
    assert {name: [a.id for a in found] for name, found in after.items()} == {
        name: [automation_id] for name, automation_id in before.items()
    }
    assert all(found[0].enabled for found in after.values())
    (offline,) = after[Names(settings.name).offline]
    assert offline.trigger.within.total_seconds() == OFFLINE_S  # type: ignore[union-attr]


def test_a_malformed_declaration_fails_before_anything_changes(
    local_stack: Stack, active: Path, tmp_path: Path
) -> None:
    settings, _ = local_stack
    before = _automations(settings)
    bad = tmp_path / "bad.toml"
    bad.write_text(ACTIVE.replace("offline_seconds", "offline_minutes"), encoding="utf-8")
    done = fleet(settings, "automations", "sync", "--file", str(bad))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"error: automations declaration {bad}: camera_offline.offline_seconds: Field required; "
        "camera_offline.offline_minutes: Extra inputs are not permitted"
    )
    assert _automations(settings) == before
    synced = fleet_json(settings, "automations", "sync", "--file", str(active))
    assert {r["action"] for r in synced} == {"unchanged"}


async def _runs(deployment: str) -> list[FlowRun]:
    async with get_client() as client:
        return await client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment]))
        )


def test_offline_failed_pipeline_and_failing_analyses_are_notified(
    local_stack: Stack, active: Path, bundles: dict[str, Path], inbox: Inbox
) -> None:
    settings, _ = local_stack
    _sync(active, settings)
    began, began_at = time.monotonic(), datetime.now(UTC)
    with CameraClient(bundles[GONE]) as gone, CameraClient(bundles[BACK]) as back:
        clients = {GONE: gone, BACK: back}
        # The bridge emits an event per change of presence; a second apart keeps their order.
        for camera, presence in [
            (GONE, Presence.ONLINE),
            (BACK, Presence.ONLINE),
            (GONE, Presence.OFFLINE),
            (BACK, Presence.OFFLINE),
            (GONE, Presence.ONLINE),
            (BACK, Presence.ONLINE),
            (GONE, Presence.OFFLINE),
        ]:
            clients[camera].publish(TopicKind.STATUS, status(camera, presence, "e2e"), retain=True)
            time.sleep(0.5)
        back.publish(
            TopicKind.HEALTH, health(BACK, PipelineState.FAILED, pipeline_error="e2e: no kvssink")
        )
    for attempt in range(FAILURES):
        failure = AnalysisFailedPayload(session_id=f"e2e-{attempt}", message="e2e boom")
        emit_camera_event(ANALYSIS_FAILED, GONE, failure)

    deadline = began + NOTIFIED_S
    pipeline = inbox.wait_for(_subject(f"{BACK}: pipeline failed"), deadline)
    assert re.fullmatch(
        rf"{BACK}: pipeline failed at \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC: e2e: no kvssink",
        pipeline["Message"],
    ), pipeline
    analyses = inbox.wait_for(_subject(f"{GONE}: analyses failing"), deadline)
    assert analyses["Message"].startswith(f"{GONE}: {FAILURES} analyses failed within 10 min")
    assert analyses["Message"].endswith(": e2e boom)")

    offline = inbox.wait_for(_subject(f"{GONE} offline"), deadline)
    waited = time.monotonic() - began
    assert re.fullmatch(
        rf"{GONE} offline for \d+ (s|min) \(e2e\), last seen .* UTC", offline["Message"]
    ), offline
    attributes = offline["MessageAttributes"]
    assert attributes["camera"]["Value"] == GONE
    assert attributes["alert"]["Value"] == "camera-offline"
    assert attributes["fleet"]["Value"] == settings.name

    # The camera that came back within the window was never reported: not a run, not a message.
    runs = asyncio.run(_runs("camera-offline"))
    assert [r.parameters["camera_id"] for r in runs] == [GONE]
    assert not [n for n in inbox.received if n["Subject"].startswith(f"{BACK} offline")]
    (run,) = runs
    went = datetime.fromisoformat(str(run.parameters["offline_since"]))
    assert began_at < went < datetime.now(UTC)
    # Where the time goes (pytest -rP shows it): the trigger, then the runner's poll and the run's
    # process start (the run may still be finishing: the notification is its last step).
    assert run.created and run.start_time
    print(
        f"offline at +{(went - began_at).total_seconds():.0f} s; its run created "
        f"{(run.created - went).total_seconds():.0f} s later, running at "
        f"{(run.start_time - went).total_seconds():.0f} s; notified {waited:.0f} s after the "
        "first publish"
    )


def test_the_ui_lists_the_automations(local_stack: Stack, prefect_ui: PrefectUi) -> None:
    settings, _ = local_stack
    page = prefect_ui.page
    page.goto("/")
    page.get_by_role("link", name="Automations", exact=True).click()
    main = page.get_by_role("main")
    for name in _names(settings):
        expect(main.get_by_text(name, exact=True)).to_be_visible()
    prefect_ui.shot("automations")
    follow(
        main.get_by_role("link", name=Names(settings.name).offline, exact=True),
        re.compile(r"/automations/automation/[0-9a-f-]+"),
    )
    expect(main.get_by_text("camera-offline").first).to_be_visible()
    prefect_ui.shot("camera offline automation")
    # Editable: the UI's own editor opens on the declared trigger.
    page.goto(f"{page.url}/edit")
    expect(main.get_by_text("camera.offline").first).to_be_visible()
    prefect_ui.shot("camera offline automation, editing")
