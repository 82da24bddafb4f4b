"""The fleet simulator against a local stack of its own (a `frames` fleet): twenty registered
cameras on their own mTLS connections; their status reaches their shadows, and the bridge
accounts for every motion they publish (a started analysis or a verdict naming the sequence)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from bench.fleet import settled_motion
from bench.fleet_sim import Simulator, bundles_of
from bench.local_aws import local_settings
from cli.prefect_context import run_flow
from cloud.models import Analyzer, CameraSpec
from cloud.settings import FleetSettings
from device.messages import Presence, now_ms
from flows import runtime
from flows.register import register_cameras_flow
from stack.supervisor.local_stack import down, up
from tests.e2e.stacks import prefect_environment
from tests.support.waiting import wait_for_shadow

CAMERAS = 20
STEP_TIMEOUT_S = 120
T = TypeVar("T")


@pytest.fixture(scope="module")
def frames_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetSettings]:
    settings = local_settings(
        tmp_path_factory.mktemp("fleet-sim"), status_interval_seconds=3600, analyzer=Analyzer.FRAMES
    )
    try:
        up(settings)
        with prefect_environment(settings):  # restored, and Prefect's settings with it, after
            runtime.configure(settings)
            yield settings
    finally:
        down(settings, wipe=True)


def test_simulated_cameras_reach_shadows_and_their_motion_is_accounted(
    frames_stack: FleetSettings,
) -> None:
    settings = frames_stack
    ids = [f"sim-{i:02d}" for i in range(CAMERAS)]
    outcomes = run_flow(
        settings, register_cameras_flow(cameras=[CameraSpec(camera_id=c) for c in ids])
    )
    assert [o.error for o in outcomes] == [None] * CAMERAS
    began_ms = now_ms()
    sim = Simulator(bundles_of(settings.bundles_dir, ids))

    # The connections live on a loop that keeps running (their keep-alive, their PUBACKs) while
    # the test waits on shadows.
    loop = asyncio.new_event_loop()
    running = threading.Thread(target=loop.run_forever, name="simulator", daemon=True)
    running.start()

    def on_loop(step: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(step, loop).result(STEP_TIMEOUT_S)

    try:
        stats = on_loop(sim.connect_all())
        assert (stats.up, stats.failed) == (CAMERAS, 0), stats.errors
        for camera in ids:
            wait_for_shadow(settings, camera, lambda s: s.presence is Presence.ONLINE)
        members = on_loop(sim.storm(0.25, 8, "storm"))
        on_loop(sim.stop())
    finally:
        loop.call_soon_threadsafe(loop.stop)
        running.join(STEP_TIMEOUT_S)
        loop.close()

    for camera in ids:  # the clean stop's retained `offline`, after the `online` of the connect
        shadow = wait_for_shadow(settings, camera, lambda s: s.presence is Presence.OFFLINE)
        assert shadow.reason == "agent stopped"
    records = [r.__dict__ for r in sim.records]
    motion = [r for r in records if r["kind"] == "motion"]
    assert {r["camera"] for r in motion} == set(members) and len(members) == 5
    assert all(r["acked_ms"] for r in records)
    books = settled_motion(records, began_ms, wait_s=30)
    assert books["acked"] == len(motion)
    assert books["unaccounted"] == 0, books
    assert books["started"] == len(members)  # each member's first motion starts its analysis
