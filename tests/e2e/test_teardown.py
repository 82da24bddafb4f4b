"""Teardown end to end: `fleet teardown` and `fleet camera remove` on the local stack.

Whole-fleet teardowns use fleets of their own (`tdall`, `tdfail`) registered here next to the
stack's fleet, which the other modules use and which must come out of them untouched; one
camera at a time is removed from the stack's own fleet. Covered: the plan of a dry run (and
that it changes nothing), the refusal without a terminal, a full fleet with a camera whose
registration failed half-way and a live analysis session, look-alikes in every service, one
camera with and without --keep-results, an injected failure in the middle and the re-run that
finishes, and second runs that find nothing.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterName,
)

from cloud import detections, rekognition
from cloud.bridge_identity import ensure_bridge_identity
from cloud.clients import AwsClients
from cloud.fleet import fleet_names
from cloud.naming import FleetNames
from cloud.rekognition_messages import DetectionRecord
from cloud.settings import FleetSettings
from cloud.teardown.discovery import discover
from cloud.teardown.models import Kind, Service
from flows.teardown import PLAN_KEY, PROOF_KEY
from stack.supervisor.layout import StackLayout
from stack.supervisor.models import StackStatus
from tests.e2e.cli import FLEET, cli_env
from tests.support.endpoint_admin import clear_faults, inject_fault, requests_since
from tests.support.lookalikes import make_lookalikes, surviving

Stack = tuple[FleetSettings, StackStatus]
# Each test's own, so that one that fails with its cameras still there does not starve the next:
# tdall's 2 and a look-alike, the stack fleet's rm-a and rm-b, tdfail's 3.
pytestmark = pytest.mark.processors(8)
# The stack's own background traffic: the bridge writes shadows, the results consumer polls.
_BACKGROUND = {"iot-data", "sqs"}
_READ = ("Describe", "List", "Get", "Head")
_FLEET_LEVEL = tuple(
    f"{kind.value}:"
    for kind in (Kind.TOPIC, Kind.QUEUE, Kind.TABLE, Kind.BUCKET, Kind.IOT_POLICY, Kind.THING_GROUP)
)


def _fleet(settings: FleetSettings, *args: str, timeout: float = 240) -> Any:
    """`fleet ... --json` with no terminal on stdin; returns (exit code, JSON or None, stderr)."""
    done = subprocess.run(
        [*FLEET, *args],
        env=cli_env(settings),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    report = json.loads(done.stdout) if done.stdout.strip().startswith("{") else None
    return done.returncode, report, done.stderr


def _named(settings: FleetSettings, fleet: str) -> tuple[FleetSettings, AwsClients, FleetNames]:
    other = settings.model_copy(update={"name": fleet})
    clients = AwsClients(other)
    return other, clients, fleet_names(clients)


def _register(settings: FleetSettings, tmp_path: Path, *cameras: str) -> None:
    listing = tmp_path / f"{settings.name}-cameras.json"
    listing.write_text(json.dumps([{"camera_id": c} for c in cameras]))
    code, _, stderr = _fleet(settings, "camera", "register", "--many", str(listing), "--json")
    assert code == 0, stderr


def _keys(clients: AwsClients, cameras: list[str] | None = None) -> set[str]:
    """What the fleet owns now, by key (details such as a processor's status may change)."""
    return {r.key for r in discover(clients, fleet_names(clients), cameras).resources}


def _writes_since(endpoint: str, seq: int) -> list[str]:
    return [
        f"{r['service']}:{r['operation']}"
        for r in requests_since(endpoint, seq)
        if r["service"] not in _BACKGROUND and not str(r["operation"]).startswith(_READ)
    ]


def _last_seq(endpoint: str) -> int:
    return max((int(r["seq"]) for r in requests_since(endpoint, 0)), default=0)


def _results_of(clients: AwsClients, names: FleetNames, camera: str) -> list[str]:
    answer = clients.s3.list_objects_v2(
        Bucket=names.results_bucket, Prefix=f"{names.results_prefix(camera)}/"
    )
    return [o["Key"] for o in answer.get("Contents", [])]


def _results_and_a_detection(clients: AwsClients, names: FleetNames, camera: str) -> None:
    """What a session of the camera leaves: frames under its prefix, a detection record."""
    prefix = f"{names.results_prefix(camera)}/{names.processor(camera)}/session-1"
    for name in ("PERSON-1/frame.jpg", "PERSON-1/cropped.jpg"):
        clients.s3.put_object(Bucket=names.results_bucket, Key=f"{prefix}/{name}", Body=b"jpeg")
    record = DetectionRecord.model_validate(
        {
            "camera_id": camera,
            "session_id": "session-1",
            "label": "PERSON",
            "confidence": 97.0,
            "detected_at": "2026-05-02T18:04:11Z",
            "frame_uri": f"s3://{names.results_bucket}/{prefix}/PERSON-1/frame.jpg",
            "processor": names.processor(camera),
        }
    )
    assert detections.put_detection(clients, names.detections_table, record)


async def _runs(name: str) -> list[tuple[UUID, str]]:
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))
        )
    return [(r.id, r.state.type.value if r.state else "") for r in runs]


async def _table(flow_run_id: UUID, key: str) -> list[dict[str, str]]:
    async with get_client() as client:
        (artifact,) = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
            )
        )
    assert isinstance(artifact.data, str)
    rows: list[dict[str, str]] = json.loads(artifact.data)
    return rows


def _only_run(name: str) -> UUID:
    (run,) = asyncio.run(_runs(name))
    return run[0]


def _tdall(base: FleetSettings, endpoint: str, tmp_path: Path) -> dict[str, str]:
    """Fleet `tdall`: two cameras (one with results and a subscription, one analysing), a third
    whose registration failed half-way, the bridge's identity; and look-alikes of everything."""
    settings, clients, names = _named(base, "tdall")
    _register(settings, tmp_path, "tdall-a", "tdall-b")
    _results_and_a_detection(clients, names, "tdall-a")
    clients.sns.subscribe(
        TopicArn=names.user_notifications_topic_arn(),
        Protocol="email",
        Endpoint="porch-owner@example.com",
        Attributes={"FilterPolicy": json.dumps({"camera": ["tdall-a"]})},
    )
    # A registration that fails at its processor, and whose rollback fails to delete the role
    # and the stream: what is left has no thing, so the registry does not know the camera.
    for service, operation in (
        ("rekognition", "CreateStreamProcessor"),
        ("iam", "DeleteRole"),
        ("kinesisvideo", "DeleteStream"),
    ):
        inject_fault(endpoint, service, operation)
    try:
        code, _, stderr = _fleet(settings, "camera", "register", "tdall-half", "--json")
    finally:
        clear_faults(endpoint)
    assert code == 7 and "rollback left" in stderr, stderr
    ca_pem = StackLayout(base.stack_dir).ca_cert.read_text()
    ensure_bridge_identity(clients, names, tmp_path / "tdall-bridge", ca_pem)
    # A session waiting for its video (the camera streams nothing): STARTING for the longest a
    # session may last, so that the dry run and the teardown after it both find it.
    rekognition.start_session(clients, names.processor("tdall-b"), int(time.time() * 1000), 120)
    return make_lookalikes(clients, names)


@pytest.mark.timeout(900)
def test_the_whole_fleet_goes_and_nothing_else(local_stack: Stack, tmp_path: Path) -> None:
    base, status = local_stack
    settings, clients, names = _named(base, "tdall")
    endpoint = status.aws_endpoint
    stack_fleet = AwsClients(base)
    stack_fleet_before = _keys(stack_fleet)
    lookalikes = _tdall(base, endpoint, tmp_path)

    # Without a terminal to confirm in, nothing happens.
    before = _last_seq(endpoint)
    code, _, stderr = _fleet(settings, "teardown")
    assert code == 2 and "--yes" in stderr and "Traceback" not in stderr, stderr
    assert _writes_since(endpoint, before) == []

    # The dry run: the plan, grouped by camera in deletion order, and no change.
    code, planned, stderr = _fleet(settings, "teardown", "--dry-run", "--json")
    assert code == 0, stderr
    assert _writes_since(endpoint, before) == []
    plan = planned["plan"]
    assert planned["dry_run"] and plan["scope"] is None
    steps = {c["camera_id"]: [s["resource"]["kind"] for s in c["steps"]] for c in plan["cameras"]}
    assert steps == {
        "tdall-a": [
            "stream processor",
            "IoT certificate",
            "IoT thing",
            "KVS stream",
            "IAM role",
            "S3 result objects",
            "SNS subscription",
        ],
        "tdall-b": [
            "analysis session",
            "stream processor",
            "IoT certificate",
            "IoT thing",
            "KVS stream",
            "IAM role",
        ],
        "tdall-half": ["KVS stream", "IAM role"],
    }
    fleet_kinds = [s["resource"]["kind"] for s in plan["fleet_steps"]]
    assert fleet_kinds == [
        "SNS subscription",
        "SNS topic",
        "SNS topic",
        "SQS queue",
        "SQS queue",
        "DynamoDB table",
        "S3 bucket",
        "IoT certificate",
        "IoT thing",
        "IoT policy",
        "IoT policy",
        "IoT role alias",
        "IAM role",
        "IoT thing group",
    ]
    left_alone = {a["name"] for a in plan["left_alone"]}
    for what in ("thing", "other-fleet-stream", "stream", "processor", "role"):
        assert lookalikes[what] in left_alone, what
    rows = asyncio.run(_table(_only_run("teardown tdall (dry run)"), PLAN_KEY))
    planned_rows = [r for r in rows if r["#"]]
    assert len(planned_rows) == sum(map(len, steps.values())) + len(fleet_kinds)
    assert [r["camera"] for r in planned_rows][:7] == ["tdall-a"] * 7

    # The teardown, and the proof.
    code, report, stderr = _fleet(settings, "teardown", "--yes", "--json")
    assert code == 0, stderr
    assert report["left"] == [] and all(
        o["status"] in ("deleted", "already gone") for o in report["outcomes"]
    )
    assert len(report["outcomes"]) == len(planned_rows)
    (run,) = asyncio.run(_runs("teardown tdall"))
    assert run[1] == "COMPLETED"
    proof = asyncio.run(_table(run[0], PROOF_KEY))
    assert [r["service"] for r in proof] == [s.value for s in Service]
    assert {r["fleet resources left"] for r in proof} == {"0"}

    assert discover(clients, names).resources == ()
    assert rekognition.describe_processor(clients, names.processor("tdall-b")) is None
    assert all(surviving(clients, lookalikes).values()), surviving(clients, lookalikes)
    assert _keys(stack_fleet) == stack_fleet_before

    # A second run finds nothing and succeeds.
    code, again, stderr = _fleet(settings, "teardown", "--yes", "--json")
    assert code == 0, stderr
    assert again["plan"]["cameras"] == [] and again["plan"]["fleet_steps"] == []
    assert again["outcomes"] == [] and again["left"] == []


@pytest.mark.timeout(600)
def test_one_camera_goes_and_the_rest_of_the_fleet_stays(
    local_stack: Stack, tmp_path: Path
) -> None:
    settings, _ = local_stack
    clients = AwsClients(settings)
    names = fleet_names(clients)
    _register(settings, tmp_path, "rm-a", "rm-b")
    for camera in ("rm-a", "rm-b"):
        _results_and_a_detection(clients, names, camera)
    # The stack fleet's own: bucket, topics, queues, policies, the bridge...
    fleet_level = {k for k in _keys(clients) if k.startswith(_FLEET_LEVEL)}

    code, report, stderr = _fleet(settings, "camera", "remove", "rm-a", "--yes", "--json")
    assert code == 0, stderr
    assert report["plan"]["scope"] == ["rm-a"] and report["left"] == []
    assert [c["camera_id"] for c in report["plan"]["cameras"]] == ["rm-a"]
    assert report["plan"]["fleet_steps"] == []
    assert discover(clients, names, ["rm-a"]).resources == ()
    assert _results_of(clients, names, "rm-a") == []
    assert len(_results_of(clients, names, "rm-b")) == 2
    code, shown, stderr = _fleet(settings, "camera", "show", "rm-b", "--json")
    assert code == 0 and shown["processor_arn"], stderr
    assert {k for k in _keys(clients) if k.startswith(_FLEET_LEVEL)} == fleet_level

    # --keep-results: the camera goes, its frames and detection records stay.
    code, report, stderr = _fleet(
        settings, "camera", "remove", "rm-b", "--keep-results", "--yes", "--json"
    )
    assert code == 0, stderr
    assert {k["kind"] for k in report["plan"]["kept"]} == {"S3 result objects", "detection records"}
    assert len(_results_of(clients, names, "rm-b")) == 2
    assert detections.count_camera_items(clients, names.detections_table, "rm-b") == 1
    code, _, stderr = _fleet(settings, "camera", "show", "rm-b", "--json")
    assert code == 3, stderr

    # Without --keep-results, what was kept goes; then there is nothing left to find.
    code, report, stderr = _fleet(settings, "camera", "remove", "rm-b", "--yes", "--json")
    assert code == 0, stderr
    assert [o["resource"]["kind"] for o in report["outcomes"]] == [
        "S3 result objects",
        "detection records",
    ]
    code, report, stderr = _fleet(settings, "camera", "remove", "rm-b", "--yes", "--json")
    assert code == 0 and report["outcomes"] == [], stderr


@pytest.mark.timeout(900)
def test_a_failure_in_the_middle_is_reported_and_a_rerun_finishes(
    local_stack: Stack, tmp_path: Path
) -> None:
    base, status = local_stack
    settings, clients, names = _named(base, "tdfail")
    endpoint = status.aws_endpoint
    cameras = ("tdfail-a", "tdfail-b", "tdfail-c")
    _register(settings, tmp_path, *cameras)

    # One camera's stream cannot be deleted, one certificate cannot be set INACTIVE (so its thing
    # and the fleet's IoT policy wait), and IAM throttles (retried until it lets through).
    inject_fault(endpoint, "kinesisvideo", "DeleteStream", "AccessDeniedException")
    inject_fault(endpoint, "iot", "UpdateCertificate", "AccessDeniedException")
    inject_fault(endpoint, "iam", "DeleteRole", "Throttling", count=3)
    try:
        code, report, stderr = _fleet(settings, "teardown", "--yes", "--json")
    finally:
        clear_faults(endpoint)
    assert code == 1, stderr
    assert "Traceback" not in stderr
    left = {(x["resource"]["kind"], x["resource"]["camera"]): x["reason"] for x in report["left"]}
    assert len(left) == 4, left
    (stream_camera,) = [c for kind, c in left if kind == "KVS stream"]
    (cert_camera,) = [c for kind, c in left if kind == "IoT certificate"]
    assert "AccessDeniedException" in left["KVS stream", stream_camera]
    assert "AccessDeniedException" in left["IoT certificate", cert_camera]
    assert left["IoT thing", cert_camera].startswith("not tried")
    assert left["IoT policy", None].startswith("not tried")
    assert f"{len(left)} left" in stderr
    gone = [o for o in report["outcomes"] if o["status"] == "deleted"]
    assert {o["resource"]["name"] for o in gone if o["resource"]["kind"] == "IAM role"} >= {
        names.rekognition_role(c) for c in cameras
    }
    for camera in cameras:
        assert rekognition.describe_processor(clients, names.processor(camera)) is None
    (run,) = asyncio.run(_runs("teardown tdfail"))
    assert run[1] == "FAILED"
    proof = {r["service"]: r for r in asyncio.run(_table(run[0], PROOF_KEY))}
    assert proof[Service.IOT.value]["fleet resources left"] == "3"
    assert proof[Service.KVS.value]["fleet resources left"] == "1"
    assert proof[Service.SNS.value]["fleet resources left"] == "0"

    code, report, stderr = _fleet(settings, "teardown", "--yes", "--json")
    assert code == 0, stderr
    assert report["left"] == []
    finished = {(o["resource"]["kind"], o["resource"]["camera"]) for o in report["outcomes"]}
    assert finished == set(left)
    assert discover(clients, names).resources == ()

    code, report, stderr = _fleet(settings, "teardown", "--yes", "--json")
    assert code == 0 and report["outcomes"] == [], stderr
