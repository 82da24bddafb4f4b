"""The catalogue of Prefect events: its names and payloads are the wire format, and production
code takes every event name from it (checked on the source, with `ast`)."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from cloud.faces.models import FaceStatus
from cloud.rekognition_messages import NotificationState, iso_ms
from device.messages import PipelineState
from flows import events
from flows.events import (
    CATALOGUE,
    AnalysisFailedPayload,
    AnalysisRequestedPayload,
    AnalysisStartedPayload,
    CameraEventKind,
    DetectionPayload,
    EventPayload,
    FaceSeen,
    HealthPayload,
    MotionVerdictPayload,
    PipelineFailedPayload,
    PresencePayload,
)

ROOT = Path(__file__).resolve().parents[3]
PRODUCTION = ("cloud", "flows", "services", "cli", "device", "stack")
CATALOGUE_FILE = ROOT / "flows" / "events.py"
NAMES = frozenset(kind.name for kind in CATALOGUE)
WELL_FORMED = re.compile(r"camera(\.[a-z]+)+")

# Per payload model: every field set, and only the required ones.
SAMPLES: dict[type[EventPayload], list[EventPayload]] = {
    PresencePayload: [PresencePayload(reason="connection lost"), PresencePayload()],
    PipelineFailedPayload: [PipelineFailedPayload(error="no element kvssink")],
    HealthPayload: [
        HealthPayload(
            pipeline=PipelineState.FAILED,
            pipeline_error="no element kvssink",
            uptime_seconds=12.5,
            restarts=2,
            fps=14.9,
            bitrate_kbps=900.0,
            dropped_frames=3,
            motion_count=7,
            agent_cpu_percent=4.2,
            agent_rss_mb=38.0,
            temperature_c=41.5,
        ),
        HealthPayload(
            pipeline=PipelineState.RUNNING,
            uptime_seconds=1,
            restarts=0,
            fps=15,
            bitrate_kbps=900,
            dropped_frames=0,
            motion_count=0,
            agent_cpu_percent=1,
            agent_rss_mb=40,
        ),
    ],
    AnalysisStartedPayload: [
        AnalysisStartedPayload(
            session_id="s-1", start_ms=1_718_000_000_000, duration_s=30, follow_up=False, attempt=1
        )
    ],
    AnalysisRequestedPayload: [
        AnalysisRequestedPayload(
            session_id="s-1",
            start_ms=1_718_000_000_000,
            duration_s=30,
            started_at_ms=1_718_000_002_040,
            sequence=4,
            producer_timestamp_ms=1_718_000_002_000,
        ),
        AnalysisRequestedPayload(
            session_id="s-2",
            start_ms=1_718_000_030_000,
            duration_s=30,
            started_at_ms=1_718_000_031_000,
        ),
    ],
    AnalysisFailedPayload: [
        AnalysisFailedPayload(session_id="s-1", message=None, attempt=2),
        AnalysisFailedPayload(message="AccessDenied"),
    ],
    MotionVerdictPayload: [
        MotionVerdictPayload(
            reason="cooldown", sequence=4, producer_timestamp_ms=1_718_000_000_000
        ),
        MotionVerdictPayload(reason="session already running"),
    ],
    DetectionPayload: [
        DetectionPayload(
            label="PERSON",
            labels=["PERSON"],
            confidence=97.5,
            session_id="s-1",
            detected_at=iso_ms(datetime(2024, 6, 22, 20, 43, 43, 123_000, UTC)),
            frame_uri="s3://frames/front-door/1.jpg",
            crop_uri=None,
            notification=NotificationState.SENT,
        ),
        DetectionPayload(
            label="PERSON",
            labels=["PERSON"],
            confidence=97.5,
            session_id="s-2",
            detected_at=iso_ms(datetime(2024, 6, 22, 20, 44, 1, 0, UTC)),
            frame_uri="s3://frames/front-door/2.jpg",
            crop_uri="s3://frames/front-door/2-crop.jpg",
            notification=NotificationState.QUIET,
            faces=[FaceSeen(name="alice", similarity=99.1), FaceSeen(name=None, similarity=None)],
            face_status=FaceStatus.NAMED,
        ),
    ],
}


def test_names_are_unique_and_well_formed() -> None:
    names = [kind.name for kind in CATALOGUE]
    assert len(names) == len(set(names))
    assert all(WELL_FORMED.fullmatch(name) for name in names), names


def test_every_kind_in_the_module_is_in_the_catalogue() -> None:
    declared = [v for v in vars(events).values() if isinstance(v, CameraEventKind)]
    assert set(map(id, declared)) == set(map(id, CATALOGUE))


def test_the_names_on_the_wire() -> None:
    """The UI's saved filters, the automations on a server and the e2e tests read these."""
    assert {kind.name for kind in CATALOGUE} == {
        "camera.online",
        "camera.offline",
        "camera.health",
        "camera.pipeline.failed",
        "camera.analysis.requested",
        "camera.analysis.started",
        "camera.analysis.failed",
        "camera.analysis.coalesced",
        "camera.analysis.skipped",
        "camera.detection",
    }


def test_the_resource_is_the_camera_related_to_its_fleet() -> None:
    assert events.camera_resource("front-door") == {
        "prefect.resource.id": "camera.front-door",
        "prefect.resource.name": "front-door",
    }
    assert events.fleet_related("camfleet") == [
        {
            "prefect.resource.id": "fleet.camfleet",
            "prefect.resource.role": "fleet",
            "prefect.resource.name": "camfleet",
        }
    ]


@pytest.mark.parametrize("kind", CATALOGUE, ids=lambda k: k.name)
def test_payloads_round_trip_through_the_wire(kind: CameraEventKind[Any]) -> None:
    samples = SAMPLES[kind.payload]
    assert samples, f"no sample payload for {kind.name}"
    for sample in samples:
        wire = sample.wire()
        back = kind.payload.model_validate(wire)
        assert back == sample and back.wire() == wire


def test_only_what_the_emitter_set_goes_on_the_wire() -> None:
    assert PresencePayload().wire() == {}
    assert AnalysisFailedPayload(message="AccessDenied").wire() == {"message": "AccessDenied"}
    assert AnalysisFailedPayload(session_id="s", message=None, attempt=1).wire() == {
        "session_id": "s",
        "message": None,
        "attempt": 1,
    }


def test_a_misspelt_payload_key_fails() -> None:
    with pytest.raises(ValidationError):
        PipelineFailedPayload.model_validate({"eror": "boom"})
    with pytest.raises(ValidationError):
        FaceSeen.model_validate({"name": "alice", "similarity": 99.0, "simlarity": 99.0})


def test_a_detection_without_faces_searched_carries_no_face_keys() -> None:
    plain = SAMPLES[DetectionPayload][0].wire()
    assert "faces" not in plain and "face_status" not in plain
    named = SAMPLES[DetectionPayload][1].wire()
    assert named["faces"] == [
        {"name": "alice", "similarity": 99.1},
        {"name": None, "similarity": None},
    ]
    assert named["face_status"] == "named"


# The source check.


def _literal(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant | ast.JoinedStr) and not (
        isinstance(node, ast.Constant) and not isinstance(node.value, str)
    )


def _called(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def literal_event_arguments(tree: ast.AST) -> list[int]:
    """Lines of `emit_event(event=...)` and `emit_camera_event(...)` calls naming the event with
    a string literal."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        called = _called(node)
        if called == "emit_event":
            event = next((k.value for k in node.keywords if k.arg == "event"), None)
            if event is None and node.args:
                event = node.args[0]
        elif called == "emit_camera_event":
            event = node.args[0] if node.args else None
        else:
            continue
        if _literal(event):
            found.append(node.lineno)
    return sorted(found)


def literal_event_names(tree: ast.AST) -> list[tuple[int, str]]:
    """String literals equal to a catalogued event name, with their lines."""
    return sorted(
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in NAMES
    )


def _production_modules() -> list[Path]:
    return sorted(
        path
        for package in PRODUCTION
        for path in (ROOT / package).rglob("*.py")
        if path != CATALOGUE_FILE
    )


def test_the_source_check_finds_literals() -> None:
    tree = ast.parse(
        "emit_event(event='camera.online', resource={})\n"
        "prefect.events.emit_event('whatever', resource={})\n"
        "emit_camera_event(f'camera.{x}', camera, payload)\n"
        "emit_event(event=CAMERA_ONLINE.name, resource={})\n"
        "EXPECT = {'camera.analysis.failed'}\n"
    )
    assert literal_event_arguments(tree) == [1, 2, 3]
    assert literal_event_names(tree) == [(1, "camera.online"), (5, "camera.analysis.failed")]


def test_production_code_names_events_only_through_the_catalogue() -> None:
    modules = _production_modules()
    assert len(modules) > 50  # the packages were found
    offenders = []
    for path in modules:
        tree = ast.parse(path.read_text(), filename=str(path))
        where = path.relative_to(ROOT)
        offenders += [
            f"{where}:{line}: emit with a literal event" for line in literal_event_arguments(tree)
        ]
        offenders += [
            f"{where}:{line}: {name!r} is flows.events'" for line, name in literal_event_names(tree)
        ]
    assert offenders == [], "\n".join(offenders)
