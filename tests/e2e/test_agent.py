"""The real agent, a real GStreamer pipeline and real mosquitto, on the local stack.

Each test registers its camera with the CLI and runs `fleet agent run --config <bundle>` as a
separate process; a test-only IoT identity watches the broker (tests/support/mqtt_observer.py).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import pytest

from cloud.settings import FleetSettings
from stack.supervisor.layout import PartName, StackLayout
from stack.supervisor.local_stack import up
from stack.supervisor.models import StackStatus
from tests.e2e.cli import FLEET, fleet, fleet_json
from tests.support.agent_process import RunningAgent
from tests.support.fragments import decoded_frames
from tests.support.mqtt_observer import MqttObserver
from tests.support.ports import free_ports
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_for_camera_events

Stack = tuple[FleetSettings, StackStatus]
pytestmark = pytest.mark.processors(7)


@pytest.fixture(scope="module")
def observer(
    local_stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MqttObserver]:
    settings, status = local_stack
    layout = StackLayout(settings.stack_dir)
    watcher = MqttObserver(
        settings,
        layout.ca_cert,
        tmp_path_factory.mktemp("observer"),
        status.mqtt.host,
        status.mqtt.port,
    ).start()
    yield watcher
    watcher.stop()


def _register(settings: FleetSettings, camera: str) -> Path:
    done = fleet(settings, "camera", "register", camera)
    assert done.returncode == 0, done.stderr
    config = settings.bundles_dir / camera / "agent.toml"
    assert config.is_file()
    return config


def _start(
    settings: FleetSettings, camera: str, tmp_path: Path, **env: str
) -> tuple[RunningAgent, Path]:
    config = _register(settings, camera)
    return RunningAgent(settings, config, tmp_path / f"{camera}.log", env), config


def _status(camera: str) -> str:
    return f"fleet/{camera}/status"


def _health(camera: str) -> str:
    return f"fleet/{camera}/health"


def test_agent_online_health_motion_fragments_then_clean_stop(
    local_stack: Stack, observer: MqttObserver, tmp_path: Path
) -> None:
    settings, _ = local_stack
    camera = "agent-yard"
    started_ms = time.time_ns() // 1_000_000
    agent, _ = _start(settings, camera, tmp_path)
    since = time.monotonic()
    observer.wait_for(_status(camera), lambda m: m["presence"] == "online", 20, since)
    health = observer.wait_for(
        _health(camera), lambda m: m["pipeline"] == "running" and m["fps"] > 0, 30, since
    )
    report = health.json()
    assert report["camera_id"] == camera and report["restarts"] == 0
    assert report["agent_rss_mb"] > 0 and "gstreamer" in report["versions"]
    motion = observer.wait_for(f"fleet/{camera}/motion", lambda m: True, 30, since).json()
    assert motion["sequence"] == 0
    assert started_ms <= motion["producer_timestamp_ms"] <= time.time_ns() // 1_000_000

    # Fragments named by producer timestamp, covering the motion's timestamp.
    fragment_dir = settings.stack_dir / "fragments" / camera
    deadline = time.monotonic() + 20
    while len(list(fragment_dir.glob("*.mkv"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    starts = sorted(int(p.name.removesuffix(".mkv")) for p in fragment_dir.glob("*.mkv"))
    assert len(starts) >= 2, agent.log()
    assert starts[0] - 3000 <= motion["producer_timestamp_ms"] <= starts[-1] + 3000
    pipeline = agent.pipeline()

    stopping = time.monotonic()
    assert agent.stop(signal.SIGTERM) == 0, agent.log()
    offline = observer.wait_for(_status(camera), lambda m: m["presence"] == "offline", 10, stopping)
    assert offline.json()["reason"] == "agent stopped"
    assert not pipeline.is_running()
    # EOS before exit: every fragment is complete and plays.
    assert not list(fragment_dir.glob("*.partial"))
    last = max(fragment_dir.glob("*.mkv"), key=lambda p: int(p.name.removesuffix(".mkv")))
    assert decoded_frames(last) > 0, last


def _shown(settings: FleetSettings, camera: str, ready: Callable[[dict[str, Any]], bool]) -> Any:
    """`fleet camera show --json` once the bridge has written what `ready` expects."""
    deadline = time.monotonic() + 60
    while True:
        shown = fleet_json(settings, "camera", "show", camera)
        if ready(shown) or time.monotonic() > deadline:
            return shown
        time.sleep(1)


def test_camera_show_and_events_follow_the_agent_online_health_and_killed(
    local_stack: Stack, observer: MqttObserver, tmp_path: Path
) -> None:
    settings, _ = local_stack
    camera = "agent-show"
    began = datetime.now(UTC)
    agent, _ = _start(settings, camera, tmp_path)
    since = time.monotonic()
    observer.wait_for(_health(camera), lambda m: m["pipeline"] == "running", 30, since)
    shown = _shown(
        settings, camera, lambda s: s["online"] is True and (s["health"] or {}).get("fps", 0) > 0
    )
    assert shown["online"] is True, shown
    assert shown["health"]["pipeline"] == "running" and shown["health"]["camera_id"] == camera
    assert shown["last_seen"] is not None

    assert agent.stop(signal.SIGKILL) == -signal.SIGKILL
    gone = _shown(settings, camera, lambda s: s["online"] is False)
    assert gone["online"] is False and gone["status_reason"] == "connection lost", gone

    # The same story in the Prefect event feed of resource camera.<id>: online once, the health
    # (once: it did not change within the stack's interval), offline with the Will's reason.
    names = ["camera.online", "camera.offline", "camera.health"]
    wait_for_camera_events(camera, ["camera.offline"], began, 1)  # the last of the story
    events = wait_for_camera_events(camera, names, began, 3)
    assert [e.event for e in events if e.event != "camera.health"] == [
        "camera.online",
        "camera.offline",
    ]
    assert events[-1].payload == {"reason": "connection lost"}
    health = [e for e in events if e.event == "camera.health"]
    assert health and health[-1].payload["pipeline"] == "running"
    assert len(health) <= 2  # starting -> running; every 2 s of health is not an event each
    assert all(e.resource.id == f"camera.{camera}" for e in events)


def test_a_killed_or_frozen_pipeline_is_restarted(
    local_stack: Stack, observer: MqttObserver, tmp_path: Path
) -> None:
    settings, _ = local_stack
    camera = "agent-driveway"
    agent, _ = _start(settings, camera, tmp_path)
    try:
        since = time.monotonic()
        observer.wait_for(_health(camera), lambda m: m["pipeline"] == "running", 30, since)

        agent.pipeline().kill()
        killed = time.monotonic()
        observer.wait_for(_health(camera), lambda m: m["pipeline"] == "restarting", 10, killed)
        observer.wait_for(
            _health(camera),
            lambda m: m["pipeline"] == "running" and m["restarts"] == 1,
            15,
            killed,
        )

        frozen_child = agent.pipeline()
        frozen_child.suspend()  # SIGSTOP: alive, but no video
        frozen = time.monotonic()
        stalled = observer.wait_for(
            _health(camera), lambda m: m["pipeline"] == "stalled", 15, frozen
        )
        assert "no video" in str(stalled.json()["pipeline_error"])
        observer.wait_for(
            _health(camera),
            lambda m: m["pipeline"] == "running" and m["restarts"] == 2,
            15,
            frozen,
        )
        assert not frozen_child.is_running()
    finally:
        assert agent.stop() == 0, agent.log_tail()


def test_broker_restart_reconnects_resubscribes_and_delivers_queued_motion(
    local_stack: Stack, observer: MqttObserver, tmp_path: Path
) -> None:
    """The broker restarts while the camera's network is also down; motion in between arrives.

    The agent reaches the broker through a proxy the test cuts, so it comes back only once the
    test's observer has subscribed again: a message published to a restarted broker before
    anyone subscribes is lost, by MQTT's rules, and that would not be the agent's fault.
    """
    settings, status = local_stack
    camera = "agent-garage"
    proxy = TcpProxy(status.mqtt.host, status.mqtt.port)
    # Health only on change or command here, so a health report after the command is its answer.
    agent, _ = _start(
        settings,
        camera,
        tmp_path,
        FLEET_AGENT_HEALTH_INTERVAL_SECONDS="600",
        FLEET_AGENT_MQTT__PORT=str(proxy.port),
    )
    try:
        since = time.monotonic()
        observer.wait_for(f"fleet/{camera}/motion", lambda m: True, 30, since)

        broker = _broker(settings)
        proxy.cut()
        broker.kill()
        broker.wait(10)
        agent.wait_log("disconnected", 15)
        # Motion while the broker is down: a restarted pipeline sees the ball move again.
        outage_ms = time.time_ns() // 1_000_000
        during = agent.motions() + 1  # the ball may have started a motion again before the outage
        agent.pipeline().kill()
        agent.wait_log(f"motion {during} at", 20)

        subscribed = observer.subscriptions
        up(settings)  # restarts the crashed broker
        observer.wait_subscribed(subscribed + 1, 20)
        back = time.monotonic()
        proxy.restore()
        observer.wait_for(_status(camera), lambda m: m["presence"] == "online", 20, back)
        queued = observer.wait_for(
            f"fleet/{camera}/motion", lambda m: m["sequence"] == during, 20, back
        ).json()
        assert queued["producer_timestamp_ms"] >= outage_ms

        # The broker lost the session: the agent subscribed to its commands again.
        observer.wait_for(_health(camera), lambda m: m["pipeline"] == "running", 20, back)
        time.sleep(1)
        asked = time.monotonic()
        observer.publish(f"fleet/{camera}/commands/report-health")
        observer.wait_for(_health(camera), lambda m: True, 10, asked)
        observer.publish(f"fleet/{camera}/commands/restart-pipeline")
        observer.wait_for(
            _health(camera), lambda m: m["pipeline"] == "running" and m["restarts"] == 2, 20, asked
        )
    finally:
        up(settings)  # the broker runs for the modules after this one, whatever failed here
        assert agent.stop() == 0, agent.log_tail()
        proxy.close()


def test_a_killed_agent_goes_offline_through_its_will(
    local_stack: Stack, observer: MqttObserver, tmp_path: Path
) -> None:
    settings, _ = local_stack
    camera = "agent-shed"
    agent, _ = _start(settings, camera, tmp_path)
    since = time.monotonic()
    observer.wait_for(_health(camera), lambda m: m["pipeline"] == "running", 30, since)
    pipeline = agent.pipeline()
    killed = time.monotonic()
    assert agent.stop(signal.SIGKILL) == -signal.SIGKILL
    will = observer.wait_for(_status(camera), lambda m: m["presence"] == "offline", 10, killed)
    assert will.json()["reason"] == "connection lost"
    pipeline.wait(5)  # the child dies with its agent
    assert not pipeline.is_running()


def test_a_missing_element_is_reported_not_restarted_in_a_loop(
    local_stack: Stack, observer: MqttObserver, tmp_path: Path
) -> None:
    settings, _ = local_stack
    camera = "agent-attic"
    began = datetime.now(UTC)
    agent, _ = _start(settings, camera, tmp_path, FLEET_AGENT_SINK__KIND="kvssink")
    try:
        since = time.monotonic()
        failed = observer.wait_for(_health(camera), lambda m: m["pipeline"] == "failed", 30, since)
        error = str(failed.json()["pipeline_error"])
        assert "kvssink" in error and "producer SDK" in error
        time.sleep(5)
        latest = [m.json() for m in observer.on(_health(camera)) if m.at >= since][-1]
        assert latest["pipeline"] == "failed" and latest["restarts"] == 0
        assert agent.log().count("ERROR device.supervisor: GStreamer element") == 1
        (failure,) = wait_for_camera_events(camera, ["camera.pipeline.failed"], began, 1)
        assert "kvssink" in failure.payload["error"]
    finally:
        assert agent.stop() == 0, agent.log_tail()


def test_bad_config_and_an_exposed_key_stop_the_agent_at_start(
    local_stack: Stack, tmp_path: Path
) -> None:
    settings, _ = local_stack
    config = _register(settings, "agent-porch")
    bad_env = RunningAgent(  # through the operator's CLI, which runs the same agent
        settings,
        config,
        tmp_path / "env.log",
        {"FLEET_AGENT_MQTT__PORT": "99999"},
        command=(*FLEET, "agent", "run", "--config"),
    )
    assert bad_env.exited(timeout=60) == 2
    assert "mqtt.port" in bad_env.log()

    key = config.parent / "private.pem.key"
    key.chmod(0o644)
    try:
        exposed = RunningAgent(settings, config, tmp_path / "key.log", {})
        assert exposed.exited(timeout=30) == 2
        assert "readable by other users" in exposed.log() and "chmod 600" in exposed.log()
    finally:
        key.chmod(0o600)


def test_an_unreachable_broker_is_logged_and_retried(local_stack: Stack, tmp_path: Path) -> None:
    settings, _ = local_stack
    config = _register(settings, "agent-porch")
    (port,) = free_ports(1)  # nothing listens there
    agent = RunningAgent(
        settings, config, tmp_path / "unreachable.log", {"FLEET_AGENT_MQTT__PORT": str(port)}
    )
    try:
        agent.wait_log("cannot connect", 20)
        assert "unreachable" in agent.log()
        assert agent.proc.poll() is None  # still trying
    finally:
        assert agent.stop() == 0, agent.log_tail()


def _broker(settings: FleetSettings) -> psutil.Process:
    pid_file = StackLayout(settings.stack_dir).pid_file(PartName.MOSQUITTO)
    return psutil.Process(int(pid_file.read_text()))


def test_child_processes_do_not_leak(local_stack: Stack) -> None:
    leftovers = [
        p
        for p in psutil.process_iter(["cmdline"])
        if "gst-launch-1.0" in " ".join(p.info["cmdline"] or []) and p.ppid() == 1
    ]
    assert leftovers == [], leftovers
