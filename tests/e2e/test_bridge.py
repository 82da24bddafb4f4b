"""The cloud side of camera health, end to end: a camera registered with the CLI publishes with its
bundle (awsiotsdk, mutual TLS) to the stack's mosquitto; the bridge (the stack's `bridge` part,
its own identity, a shared subscription) keeps each camera's status in its shadow, which
`fleet camera show` reads.

Also what the broker enforces, checked on mosquitto 2.0.11 itself: its acl_file grants every
SUBSCRIBE, shared or not, and checks `read` on each delivered message's topic; the
dynamic-security guard the stack adds refuses `$share/...` subscriptions the IoT policy does not
allow, so no camera can join the bridge's group and take messages away from it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from awscrt import mqtt5
from awsiot import mqtt5_client_builder

from cloud.bundle import CA_FILE, Bundle
from cloud.clients import AwsClients
from cloud.naming import FleetNames
from cloud.settings import FleetSettings
from cloud.shadow import get_reported
from device.messages import MAX_PAYLOAD_BYTES, PipelineState, Presence, TopicKind, topic
from services.harness.heartbeat import Heartbeat
from stack.supervisor.layout import PartName, StackLayout
from stack.supervisor.models import StackStatus
from stack.supervisor.processes import read_pid
from tests.e2e.cli import fleet, fleet_json, start_fleet
from tests.support import endpoint_admin
from tests.support.camera_client import LAST_WILL_REASON, CameraClient, health, status
from tests.support.endpoint_admin import last_seq, requests_since
from tests.support.waiting import wait_for_shadow

Stack = tuple[FleetSettings, StackStatus]
pytestmark = pytest.mark.processors(1)
REPO = Path(__file__).resolve().parents[2]
WAIT_S = 20.0
DELIVERED = {mqtt5.PubackReasonCode.SUCCESS, mqtt5.PubackReasonCode.NO_MATCHING_SUBSCRIBERS}


def _names(settings: FleetSettings) -> FleetNames:
    return FleetNames(settings.name, "000000000000", settings.region)


CAMERA = "bridge-cam"


@pytest.fixture(scope="module")
def registered(local_stack: Stack) -> tuple[Path, dict[str, Any]]:
    """The camera's bundle directory, and `fleet camera show --json` before it ever published."""
    settings, _ = local_stack
    created = fleet_json(settings, "camera", "register", CAMERA, "--labels", "PERSON")
    return Path(created["bundle_dir"]), fleet_json(settings, "camera", "show", CAMERA)


@pytest.fixture
def camera(registered: tuple[Path, dict[str, Any]]) -> Path:
    return registered[0]


def heartbeat(settings: FleetSettings) -> Heartbeat:
    path = StackLayout(settings.stack_dir).bridge_heartbeat
    return Heartbeat.model_validate_json(path.read_bytes())


def wait_for_counters(
    settings: FleetSettings, predicate: Callable[[dict[str, int]], bool]
) -> dict[str, int]:
    deadline = time.monotonic() + WAIT_S
    while True:
        counters = heartbeat(settings).counters
        if predicate(counters):
            return counters
        assert time.monotonic() < deadline, f"bridge counters never matched: {counters}"
        time.sleep(0.5)


def wait_broker_in_step(stack_status: StackStatus) -> None:
    endpoint_admin.wait_broker_in_step(stack_status.aws_endpoint, WAIT_S)


def shadow_writes(endpoint: str, since: int, camera_id: str | None = None) -> list[dict[str, Any]]:
    return [
        r
        for r in requests_since(endpoint, since)
        if r["operation"] == "UpdateThingShadow"
        and r["status"] == 200
        and (camera_id is None or r["path"] == f"/things/{camera_id}/shadow")
    ]


def test_the_bridge_is_a_part_of_the_stack_with_its_own_identity(local_stack: Stack) -> None:
    settings, stack_status = local_stack
    assert stack_status.part(PartName.BRIDGE).healthy, stack_status.part(PartName.BRIDGE)
    beat = heartbeat(settings)
    assert beat.ready and beat.pid == read_pid(
        StackLayout(settings.stack_dir).pid_file(PartName.BRIDGE)
    )
    bundle = Bundle(settings.bridge_dir)
    assert bundle.key_path.stat().st_mode & 0o777 == 0o600
    arn = bundle.certificate_arn()
    assert arn is not None
    principals = AwsClients(settings).iot.list_thing_principals(
        thingName=_names(settings).bridge_thing
    )["principals"]
    assert principals == [arn]


def test_status_and_health_reach_the_shadow_and_camera_show(
    local_stack: Stack, camera: Path
) -> None:
    settings, _ = local_stack
    with CameraClient(camera) as cam:
        camera_id = cam.camera_id
        online = status(camera_id, Presence.ONLINE)
        assert cam.publish(TopicKind.STATUS, online, retain=True) in DELIVERED
        for _ in range(3):
            assert cam.publish(TopicKind.HEALTH, health(camera_id, fps=14.0)) in DELIVERED
        wait_for_shadow(settings, camera_id, lambda s: bool(s.online and s.health))

    shown = fleet_json(settings, "camera", "show", camera_id)
    assert shown["online"] is True
    last_seen = datetime.fromisoformat(shown["last_seen"])
    assert abs(datetime.now(UTC) - last_seen) < timedelta(minutes=1)
    assert shown["health"]["camera_id"] == camera_id
    assert shown["health"]["pipeline"] == "running"
    assert shown["health"]["fps"] == 14.0
    assert shown["health"]["versions"] == {"agent": "0.1.0", "gstreamer": "1.22"}
    human = fleet(settings, "camera", "show", camera_id)
    assert human.returncode == 0, human.stderr
    assert "online: online" in human.stdout
    assert "pipeline running" in human.stdout


def test_a_camera_never_heard_from_shows_null(registered: tuple[Path, dict[str, Any]]) -> None:
    _, shown = registered
    assert (shown["online"], shown["last_seen"], shown["health"]) == (None, None, None)
    assert shown["camera_id"] == CAMERA


def test_camera_list_shows_whether_each_camera_is_online(local_stack: Stack, camera: Path) -> None:
    settings, _ = local_stack
    with CameraClient(camera) as cam:
        cam.publish(TopicKind.STATUS, status(CAMERA, Presence.ONLINE), retain=True)
        wait_for_shadow(settings, CAMERA, lambda s: s.online is True)
    listed = {c["camera_id"]: c for c in fleet_json(settings, "camera", "list")}
    assert listed[CAMERA]["online"] is True


def test_malformed_oversized_and_mismatched_messages_are_dropped_and_counted(
    local_stack: Stack, camera: Path
) -> None:
    settings, _ = local_stack
    before = heartbeat(settings)
    with CameraClient(camera) as cam:
        camera_id = cam.camera_id
        assert cam.publish(TopicKind.HEALTH, b"{not json") in DELIVERED
        bulky = health(camera_id, versions={f"plugin{i}": "x" * 100 for i in range(200)})
        assert len(bulky) > MAX_PAYLOAD_BYTES  # valid but for its size
        assert cam.publish(TopicKind.HEALTH, bulky) in DELIVERED
        assert cam.publish(TopicKind.HEALTH, health("another-camera")) in DELIVERED
        # The bridge keeps working: a later valid message (a pipeline change: written at once).
        stalled = health(camera_id, PipelineState.STALLED, pipeline_error="no buffers for 15 s")
        assert cam.publish(TopicKind.HEALTH, stalled) in DELIVERED
        shadow = wait_for_shadow(
            settings,
            camera_id,
            lambda s: s.health is not None and s.health.pipeline is PipelineState.STALLED,
        )
    assert shadow.health is not None and shadow.health.pipeline_error == "no buffers for 15 s"

    b = before.counters
    after = wait_for_counters(
        settings,
        lambda c: (
            c["invalid_schema"] >= b["invalid_schema"] + 1
            and c["invalid_oversized"] >= b["invalid_oversized"] + 1
            and c["invalid_mismatch"] >= b["invalid_mismatch"] + 1
        ),
    )
    assert after["handler_errors"] == b["handler_errors"]
    assert heartbeat(settings).pid == before.pid  # the same process, still ready
    log = StackLayout(settings.stack_dir).log_file(PartName.BRIDGE).read_text()
    for reason in ("schema", "oversized", "mismatch"):
        assert f"dropped a message ({reason})" in log


def test_offline_status_and_a_last_will_show_offline(local_stack: Stack, camera: Path) -> None:
    settings, _ = local_stack
    with CameraClient(camera) as cam:
        camera_id = cam.camera_id
        offline = status(camera_id, Presence.OFFLINE, "agent stopped")
        assert cam.publish(TopicKind.STATUS, offline, retain=True) in DELIVERED
        wait_for_shadow(settings, camera_id, lambda s: s.online is False)
    shown = fleet_json(settings, "camera", "show", camera_id)
    assert (shown["online"], shown["status_reason"]) == (False, "agent stopped")

    # A camera host cut off: its connection dies without a DISCONNECT, the broker publishes
    # the camera's Last Will.
    host = subprocess.Popen(
        [sys.executable, "-m", "tests.support.camera_client", str(camera)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert host.stdout is not None and host.stdout.readline().strip() == "ready"
        wait_for_shadow(settings, camera_id, lambda s: s.online is True)
        host.kill()
        host.wait(10)
        gone = wait_for_shadow(settings, camera_id, lambda s: s.online is False)
    finally:
        host.kill()
        host.wait(10)
    assert gone.reason == LAST_WILL_REASON
    shown = fleet_json(settings, "camera", "show", camera_id)
    assert (shown["online"], shown["status_reason"]) == (False, LAST_WILL_REASON)


def test_the_bridge_identity_cannot_publish_on_a_camera_topic(
    local_stack: Stack, camera: Path
) -> None:
    settings, _ = local_stack
    bundle = Bundle(settings.bridge_dir)
    connected = []
    client = mqtt5_client_builder.mtls_from_path(
        endpoint="127.0.0.1",
        port=settings.mqtt_port,
        cert_filepath=str(bundle.cert_path),
        pri_key_filepath=str(bundle.key_path),
        ca_filepath=str(bundle.dir / CA_FILE),
        client_id=f"{_names(settings).bridge_client_prefix}e2e-publisher",
        enable_metrics_collection=False,
        on_lifecycle_connection_success=lambda _data: connected.append(True),
    )
    client.start()
    try:
        deadline = time.monotonic() + WAIT_S
        while not connected:
            assert time.monotonic() < deadline, "the broker refused the bridge identity"
            time.sleep(0.1)
        camera_id = CameraClient(camera).camera_id
        for kind in (TopicKind.STATUS, TopicKind.HEALTH, TopicKind.MOTION):
            packet = mqtt5.PublishPacket(
                topic=topic(camera_id, kind),
                payload=status(camera_id, Presence.OFFLINE, "forged"),
                qos=mqtt5.QoS.AT_LEAST_ONCE,
            )
            puback = client.publish(packet).result(WAIT_S).puback
            assert puback.reason_code == mqtt5.PubackReasonCode.NOT_AUTHORIZED, kind
    finally:
        client.stop()
    shadow = get_reported(AwsClients(settings), camera_id)
    assert shadow is None or shadow.reason != "forged"


def test_a_camera_cannot_join_the_bridges_shared_subscription(
    local_stack: Stack, camera: Path
) -> None:
    settings, stack_status = local_stack
    wait_broker_in_step(stack_status)
    group = _names(settings).bridge_share_group
    before = heartbeat(settings).counters
    with CameraClient(camera) as cam:
        for topic_filter in (
            f"$share/{group}/fleet/+/status",
            f"$share/{group}/fleet/+/health",
            "$share/another-group/fleet/+/health",
        ):
            assert cam.subscribe(topic_filter) == mqtt5.SubackReasonCode.NOT_AUTHORIZED
        # So no message is dealt to the camera and lost: the bridge gets every one.
        for _ in range(6):
            assert cam.publish(TopicKind.HEALTH, health(cam.camera_id)) in DELIVERED
    wait_for_counters(settings, lambda c: c["valid"] >= before["valid"] + 6)


def test_the_broker_grants_plain_subscriptions_but_delivers_only_what_may_be_received(
    local_stack: Stack, camera: Path
) -> None:
    """mosquitto 2.0.11's acl_file never checks a SUBSCRIBE (IoT Core would refuse this one, the
    camera's policy allows none), but checks `read` on every delivered message: the camera gets
    nothing, and the bridge (not sharing its group with it) gets every message."""
    settings, _ = local_stack
    before = heartbeat(settings).counters
    with CameraClient(camera) as cam:
        assert cam.subscribe("fleet/+/health") == mqtt5.SubackReasonCode.GRANTED_QOS_1
        for _ in range(3):
            assert cam.publish(TopicKind.HEALTH, health(cam.camera_id)) in DELIVERED
        wait_for_counters(settings, lambda c: c["valid"] >= before["valid"] + 3)
        time.sleep(0.5)
        assert cam.received == []


def test_a_burst_of_health_makes_few_shadow_writes(local_stack: Stack, camera: Path) -> None:
    """Presence and a pipeline change are written at once; the rest of a burst at most once per
    flush interval (15 s on the stack): the writes are far fewer than the messages."""
    settings, stack_status = local_stack
    since = last_seq(stack_status.aws_endpoint)
    messages = 0
    with CameraClient(camera) as cam:
        camera_id = cam.camera_id
        cam.publish(TopicKind.STATUS, status(camera_id, Presence.ONLINE), retain=True)
        messages += 1
        for count in range(20):
            cam.publish(TopicKind.HEALTH, health(camera_id, motion_count=count))
            messages += 1
    wait_for_shadow(settings, camera_id, lambda s: bool(s.online and s.health))
    time.sleep(2)
    assert 1 <= len(shadow_writes(stack_status.aws_endpoint, since, camera_id)) <= 2

    last = wait_for_shadow(
        settings,
        camera_id,
        lambda s: s.health is not None and s.health.motion_count == 19,
        timeout=30,
    )
    assert last.online is True
    assert len(shadow_writes(stack_status.aws_endpoint, since, camera_id)) <= 3
    assert len(shadow_writes(stack_status.aws_endpoint, since)) < messages


def test_fleet_bridge_run_adds_a_replica_that_shares_the_work(
    local_stack: Stack, camera: Path, tmp_path: Path
) -> None:
    """`fleet bridge run` (the production way) next to the stack's bridge: the broker deals the
    shared subscription's messages between the two replicas, none twice, none lost."""
    settings, _ = local_stack
    beat_file = tmp_path / "replica.heartbeat.json"
    replica = start_fleet(
        settings, "bridge", "run", "--replica", "e2e-two", "--heartbeat-file", str(beat_file)
    )
    try:
        deadline = time.monotonic() + 60
        while not (
            beat_file.exists() and Heartbeat.model_validate_json(beat_file.read_bytes()).ready
        ):
            assert replica.poll() is None, replica.communicate()
            assert time.monotonic() < deadline, "the second replica never got ready"
            time.sleep(0.3)
        # mosquitto deals a new member of a shared subscription the retained messages (the
        # camera's status): let that settle into the heartbeat before counting.
        time.sleep(2.5)
        main_before = heartbeat(settings).counters["valid"]
        two_before = Heartbeat.model_validate_json(beat_file.read_bytes()).counters["valid"]
        with CameraClient(camera) as cam:
            for count in range(10):
                assert (
                    cam.publish(TopicKind.HEALTH, health(cam.camera_id, motion_count=count))
                    in DELIVERED
                )

        def dealt() -> tuple[int, int]:
            two = Heartbeat.model_validate_json(beat_file.read_bytes()).counters["valid"]
            return heartbeat(settings).counters["valid"] - main_before, two - two_before

        deadline = time.monotonic() + WAIT_S
        while sum(dealt()) < 10:
            assert time.monotonic() < deadline, f"messages lost: {dealt()}"
            time.sleep(0.5)
        main, two = dealt()
        assert main + two == 10 and main > 0 and two > 0
    finally:
        replica.send_signal(signal.SIGTERM)
        _, stderr = replica.communicate(timeout=30)
    assert replica.returncode == 0, stderr
    stopped = Heartbeat.model_validate_json(beat_file.read_bytes())
    assert (stopped.ready, stopped.detail) == (False, "stopped")
    assert "camfleet-bridge-e2e-two subscribed" in stderr
