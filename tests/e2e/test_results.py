"""The results pipeline on the whole local stack: LABEL_DETECTED messages published to the fleet's
real SNS topic reach the stack's `results` part (its own process), which stores detections that
`fleet camera events` lists newest first, and emits `camera.detection` events that reach the
stack's Prefect server.

The camera is not registered: the consumer needs no registration (the processor's name says which
camera it is).
"""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cloud.clients import AwsClients
from cloud.settings import FleetSettings
from services.harness.heartbeat import Heartbeat
from stack.supervisor.layout import PartName
from stack.supervisor.models import StackStatus
from tests.e2e.cli import fleet, fleet_json, start_fleet
from tests.support.results_messages import label_detected
from tests.support.waiting import wait_for_camera_events

Stack = tuple[FleetSettings, StackStatus]
CAMERA = "results-cam"
WAIT_S = 30.0


def _publish(settings: FleetSettings, message: dict[str, Any]) -> None:
    clients = AwsClients(settings)
    topic = f"arn:aws:sns:{settings.region}:{clients.account_id}:{settings.name}-rekognition"
    clients.sns.publish(
        TopicArn=topic, Subject="Rekognition Stream Processing Event", Message=json.dumps(message)
    )


def _events(settings: FleetSettings, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT_S
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = fleet_json(settings, "camera", "events", CAMERA)
        if len(found) >= count:
            return found
        time.sleep(0.5)
    return found


def test_detections_are_listed_newest_first_and_reach_prefect(local_stack: Stack) -> None:
    settings, status = local_stack
    assert status.part(PartName.RESULTS).healthy

    began = datetime.now(UTC)
    now_ms = time.time_ns() // 1_000_000
    older = label_detected(settings.name, CAMERA, "e2e-s1", "PERSON", 96.5, now_ms - 20_000)
    newer = label_detected(settings.name, CAMERA, "e2e-s2", "PACKAGE", 71.25, now_ms - 10_000)
    _publish(settings, older)
    _publish(settings, newer)

    listed = _events(settings, 2)
    assert [(r["label"], r["session_id"]) for r in listed] == [
        ("PACKAGE", "e2e-s2"),
        ("PERSON", "e2e-s1"),
    ]
    first = listed[0]
    assert first["camera_id"] == CAMERA
    assert first["confidence"] == pytest.approx(71.25)
    assert datetime.fromisoformat(first["detected_at"]) == datetime.fromtimestamp(
        (now_ms - 10_000) / 1000, tz=UTC
    ).replace(microsecond=(now_ms - 10_000) % 1000 * 1000)
    assert first["frame_uri"] == newer["labels"][0]["frameImageUri"]
    assert first["crop_uri"] == newer["labels"][0]["croppedImageUri"]
    # One notification per camera within the cooldown (60 s by default).
    assert sorted(r["notification"] for r in listed) == ["sent", "suppressed"]

    limited = fleet_json(settings, "camera", "events", CAMERA, "--limit", "1")
    assert [r["session_id"] for r in limited] == ["e2e-s2"]
    table = fleet(settings, "camera", "events", CAMERA)
    assert table.returncode == 0, table.stderr
    assert "PACKAGE" in table.stdout and "PERSON" in table.stdout
    unknown = fleet(settings, "camera", "events", "no-such-camera", "--json")
    assert unknown.returncode == 3, unknown.stderr
    assert "not registered" in unknown.stderr

    # A detection's event occurred when its frame did: 10 and 20 s before the test published.
    events = wait_for_camera_events(
        CAMERA, ["camera.detection"], began - timedelta(minutes=1), 2, timeout=WAIT_S
    )
    assert sorted(e.payload["label"] for e in events) == ["PACKAGE", "PERSON"]
    person = next(e for e in events if e.payload["label"] == "PERSON")
    assert person.payload["labels"] == ["PERSON"]
    assert person.payload["session_id"] == "e2e-s1"
    assert person.payload["frame_uri"] == older["labels"][0]["frameImageUri"]
    assert any(r.id == f"fleet.{settings.name}" and r.role == "fleet" for r in person.related)


def test_fleet_results_run_consumes_beside_the_stacks_and_stops_on_sigterm(
    local_stack: Stack, tmp_path: Path
) -> None:
    """The production command: it ensures the wiring, polls, and a SIGTERM stops it at once."""
    settings, _ = local_stack
    heartbeat = tmp_path / "results.heartbeat.json"
    process = start_fleet(
        settings, "results", "run", "--wait-seconds", "20", "--heartbeat-file", str(heartbeat)
    )
    try:
        # A cold CLI start imports Prefect and ensures the wiring: 5 s idle, more on a busy CI.
        deadline = time.monotonic() + 2 * WAIT_S
        beat: Heartbeat | None = None
        while time.monotonic() < deadline and process.poll() is None:
            if heartbeat.exists():
                beat = Heartbeat.model_validate_json(heartbeat.read_text())
                if beat.ready:
                    break
            time.sleep(0.2)
        if beat is None or not beat.ready:
            process.kill()  # its stderr ends only when it does
            _, stderr = process.communicate(timeout=10)
            pytest.fail(f"not ready: {beat}; stderr:\n{stderr}")
        assert beat.detail == f"polling {settings.name}-results"
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
        assert time.monotonic() - started < 10
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    assert not Heartbeat.model_validate_json(heartbeat.read_text()).ready
