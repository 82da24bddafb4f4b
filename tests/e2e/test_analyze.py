"""The analyze-motion flow on the local stack: a real flow run starts the camera's processor at a
producer timestamp, follows the session to its end and reports it as Prefect events."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cloud import rekognition
from cloud.models import ProcessorStatus
from cloud.settings import FleetSettings
from flows import runtime
from flows.analyze import AnalysisRequest, analyze_motion
from services.bridge.motion_gate import GateSettings
from stack.supervisor.models import StackStatus
from tests.e2e.cli import fleet
from tests.support.agent_process import RunningAgent
from tests.support.waiting import wait_for_camera_events

Stack = tuple[FleetSettings, StackStatus]
pytestmark = pytest.mark.processors(2)
CAMERA = "analyze-cam"


def test_a_flow_run_starts_the_processor_and_follows_the_session(local_stack: Stack) -> None:
    settings, _ = local_stack
    began = datetime.now(UTC)
    done = fleet(settings, "camera", "register", CAMERA)
    assert done.returncode == 0, done.stderr
    rt = runtime.configure(settings)
    start_ms = int(time.time() * 1000) - 2000

    outcome = asyncio.run(
        analyze_motion(AnalysisRequest(camera_id=CAMERA, start_ms=start_ms, duration_s=2))
    )

    assert outcome.status is ProcessorStatus.STOPPED and len(outcome.sessions) == 1
    record = rekognition.describe_processor(rt.clients, rt.names.processor(CAMERA))
    assert record is not None and record.status is ProcessorStatus.STOPPED
    (started,) = wait_for_camera_events(CAMERA, ["camera.analysis.started"], began, 1)
    assert started.payload["session_id"] == outcome.sessions[0]
    assert started.payload["start_ms"] == start_ms and started.payload["duration_s"] == 2
    assert any(r.id == f"fleet.{settings.name}" for r in started.related)


def test_motion_from_the_agent_starts_an_analysis_at_its_producer_timestamp(
    local_stack: Stack, tmp_path: Path
) -> None:
    """The whole motion path: agent -> MQTT -> bridge fast path -> StartStreamProcessor -> flow."""
    settings, _ = local_stack
    camera = "analyze-motion"
    began = datetime.now(UTC)
    done = fleet(settings, "camera", "register", camera, "--max-duration", "3")
    assert done.returncode == 0, done.stderr
    config = settings.bundles_dir / camera / "agent.toml"
    agent = RunningAgent(settings, config, tmp_path / "agent.log", {})
    try:
        agent.wait_log("motion 0 at", 30)
        motion_ms = int(re.findall(r"motion 0 at (\d+)", agent.log())[0])
        (started,) = wait_for_camera_events(camera, ["camera.analysis.started"], began, 1)
        assert started.payload["start_ms"] == motion_ms - GateSettings().preroll_ms
        assert started.payload["duration_s"] == 3  # the camera's own session length
        assert started.payload["follow_up"] is False
    finally:
        assert agent.stop() == 0, agent.log_tail()
