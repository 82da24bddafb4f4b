"""The local stack end to end: parts answer, the broker enforces mutual TLS and its ACL, state
survives a restart and a wipe removes it. The module runs on a stack of its own, which its tests
kill, restart and wipe, not on the session's, which the other modules share."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from awscrt import mqtt5
from awsiot import mqtt5_client_builder

from cloud.settings import FleetSettings
from stack.endpoint.ca import LocalCA, certificate_identity
from stack.supervisor.health import connect_packet
from stack.supervisor.layout import PartName, StackLayout
from stack.supervisor.local_stack import down, status, up
from stack.supervisor.models import StackStatus
from stack.supervisor.processes import read_pid
from tests.e2e.stacks import prefect_environment, running_stack

Stack = tuple[FleetSettings, StackStatus]
MQTT_TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with (
        running_stack(tmp_path_factory.mktemp("own-stack-home")) as started,
        prefect_environment(started[0]),
    ):
        yield started


def _layout(settings: FleetSettings) -> StackLayout:
    return StackLayout(settings.stack_dir)


def _pids(settings: FleetSettings) -> dict[PartName, int | None]:
    layout = _layout(settings)
    return {part: read_pid(layout.pid_file(part)) for part in PartName}


def _identity(settings: FleetSettings, directory: Path) -> tuple[Path, Path, str]:
    """A client certificate issued by the stack's CA: (cert path, key path, broker username)."""
    cert_pem, key_pem = LocalCA.load_or_create(_layout(settings).ca_dir).issue_key_and_cert()
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "client.crt", directory / "client.key"
    cert.write_text(cert_pem)
    key.write_text(key_pem)
    key.chmod(0o600)
    return cert, key, certificate_identity(cert_pem)


class _Client:
    """An awsiotsdk MQTT5 client as the device agent builds it, with futures for the test."""

    def __init__(self, stack_status: StackStatus, cert: Path, key: Path) -> None:
        self.connected: threading.Event = threading.Event()
        self.stopped = threading.Event()
        self.received: list[tuple[str, bytes]] = []
        self._arrived = threading.Condition()
        self.client = mqtt5_client_builder.mtls_from_path(
            endpoint=stack_status.mqtt.host,
            port=stack_status.mqtt.port,
            cert_filepath=str(cert),
            pri_key_filepath=str(key),
            ca_filepath=str(stack_status.mqtt.ca_file),
            client_id=f"e2e-{uuid.uuid4().hex[:8]}",
            enable_metrics_collection=False,
            on_publish_received=self._on_publish,
            on_lifecycle_connection_success=lambda _data: self.connected.set(),
            on_lifecycle_stopped=lambda _data: self.stopped.set(),
        )

    def _on_publish(self, data: mqtt5.PublishReceivedData) -> None:
        with self._arrived:
            self.received.append((data.publish_packet.topic, bytes(data.publish_packet.payload)))
            self._arrived.notify_all()

    def wait_for(self, topic: str, timeout: float = MQTT_TIMEOUT_S) -> list[str]:
        with self._arrived:
            self._arrived.wait_for(lambda: any(t == topic for t, _ in self.received), timeout)
            return [t for t, _ in self.received]

    def subscribe(self, topic_filter: str) -> None:
        packet = mqtt5.SubscribePacket([mqtt5.Subscription(topic_filter, mqtt5.QoS.AT_LEAST_ONCE)])
        self.client.subscribe(packet).result(MQTT_TIMEOUT_S)

    def publish(self, topic: str, payload: bytes) -> mqtt5.PublishCompletionData:
        packet = mqtt5.PublishPacket(topic=topic, payload=payload, qos=mqtt5.QoS.AT_LEAST_ONCE)
        result: mqtt5.PublishCompletionData = self.client.publish(packet).result(MQTT_TIMEOUT_S)
        return result


@contextmanager
def _connected(stack_status: StackStatus, cert: Path, key: Path) -> Iterator[_Client]:
    client = _Client(stack_status, cert, key)
    client.client.start()
    try:
        assert client.connected.wait(MQTT_TIMEOUT_S), "the broker did not accept the certificate"
        yield client
    finally:
        client.client.stop()
        client.stopped.wait(MQTT_TIMEOUT_S)


def test_up_returns_with_every_part_healthy(stack: Stack) -> None:
    _, stack_status = stack
    assert stack_status.healthy, stack_status.model_dump_json(indent=2)
    assert {p.name for p in stack_status.parts if not p.skipped} >= {
        PartName.AWS,
        PartName.MOSQUITTO,
        PartName.PREFECT,
    }


def test_status_json_has_what_clients_need(stack: Stack) -> None:
    settings, _ = stack
    document = json.loads(status(settings).model_dump_json())

    assert document["aws_endpoint"] == f"http://127.0.0.1:{settings.aws_port}"
    assert document["mqtt"] == {
        "host": "127.0.0.1",
        "port": settings.mqtt_port,
        "ca_file": str(settings.stack_dir / "aws" / "ca" / "ca.pem"),
    }
    assert document["prefect_api_url"] == f"http://127.0.0.1:{settings.prefect_port}/api"
    assert document["prefect_ui_url"] == f"http://127.0.0.1:{settings.prefect_port}"
    parts = {part["name"]: part for part in document["parts"]}
    assert set(parts) == {"aws", "mosquitto", "prefect", "flows", "bridge", "results", "analyzer"}
    assert all(part["healthy"] for part in parts.values() if not part["skipped"])
    assert not any(parts[name]["skipped"] for name in ("aws", "mosquitto", "prefect"))
    stored = json.loads((settings.stack_dir / "stack.json").read_text())
    assert stored["mqtt_port"] == settings.mqtt_port


def _connect_without_certificate(stack_status: StackStatus) -> bytes:
    context = ssl.create_default_context(cafile=str(stack_status.mqtt.ca_file))
    with (
        socket.create_connection((stack_status.mqtt.host, stack_status.mqtt.port), 5) as raw,
        context.wrap_socket(raw, server_hostname=stack_status.mqtt.host) as conn,
    ):
        conn.sendall(connect_packet("no-certificate"))
        # With TLS 1.3 the client's side of the handshake completes; the refusal comes next.
        reply = conn.recv(4)
    if not reply:
        raise ConnectionError("closed without a CONNACK")
    return reply


def test_broker_refuses_a_client_without_a_certificate(stack: Stack) -> None:
    _, stack_status = stack
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _connect_without_certificate(stack_status)


def test_broker_accepts_a_certificate_the_ca_issued(stack: Stack, tmp_path: Path) -> None:
    settings, stack_status = stack
    cert, key, _ = _identity(settings, tmp_path)
    with _connected(stack_status, cert, key) as client:
        assert client.connected.is_set()


def test_acl_lets_a_client_publish_only_on_its_topics(stack: Stack, tmp_path: Path) -> None:
    settings, stack_status = stack
    layout = _layout(settings)
    cert, key, username = _identity(settings, tmp_path)
    camera = f"cam-{uuid.uuid4().hex[:6]}"
    layout.acl_file.write_text(
        f"user {username}\ntopic write fleet/{camera}/#\ntopic read fleet/#\n"
    )
    _reload_broker(layout)

    with _connected(stack_status, cert, key) as client:
        client.subscribe("fleet/#")
        client.publish(f"fleet/other-{camera}/motion", b"not mine")
        client.publish(f"fleet/{camera}/motion", b"mine")
        # The broker handles one client's packets in order: had the first been allowed, it
        # would have arrived before the second.
        topics = client.wait_for(f"fleet/{camera}/motion")

    # Any retained status of another camera arrives too: only these two topics count.
    assert [t for t in topics if t.endswith(f"{camera}/motion")] == [f"fleet/{camera}/motion"]


def _reload_broker(layout: StackLayout) -> None:
    """SIGHUP, as the AWS endpoint does, then wait for the broker to log that it reloaded."""
    log = layout.log_file(PartName.MOSQUITTO)
    before = log.read_text().count("Reloading config")
    pid = read_pid(layout.pid_file(PartName.MOSQUITTO))
    assert pid is not None
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + 5
    while log.read_text().count("Reloading config") == before:
        assert time.monotonic() < deadline, "mosquitto did not reload its config"
        time.sleep(0.05)
    time.sleep(0.2)


def test_up_again_leaves_running_parts_alone(stack: Stack) -> None:
    settings, _ = stack
    before = _pids(settings)

    again = up(settings)

    assert again.healthy
    assert _pids(settings) == before


def test_up_restarts_a_crashed_part(stack: Stack) -> None:
    settings, _ = stack
    before = _pids(settings)
    broker = psutil.Process(before[PartName.MOSQUITTO])
    broker.kill()
    broker.wait(10)

    again = up(settings)

    after = _pids(settings)
    assert again.part(PartName.MOSQUITTO).healthy
    assert after[PartName.MOSQUITTO] != before[PartName.MOSQUITTO]
    assert after[PartName.PREFECT] == before[PartName.PREFECT]


def _create_flow_run(settings: FleetSettings) -> uuid.UUID:
    """A flow run record in the stack's database (created, not executed: no workers to flush)."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    @flow(name="stack-e2e-marker")
    def marker() -> None:
        return None

    with (
        temporary_settings({PREFECT_API_URL: status(settings).prefect_api_url}),
        get_client(sync_client=True) as client,
    ):
        run_id: uuid.UUID = client.create_flow_run(marker, name=f"marker-{uuid.uuid4().hex[:6]}").id
    return run_id


def _flow_run_exists(settings: FleetSettings, run_id: uuid.UUID) -> bool:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with (
        temporary_settings({PREFECT_API_URL: status(settings).prefect_api_url}),
        get_client(sync_client=True) as client,
    ):
        try:
            client.read_flow_run(run_id)
        except ObjectNotFound:
            return False
    return True


def test_down_then_up_keeps_the_ca_and_the_prefect_database(stack: Stack) -> None:
    settings, _ = stack
    ca_before = _layout(settings).ca_cert.read_text()
    run_id = _create_flow_run(settings)

    down(settings)
    assert not any(part.running for part in status(settings).parts)
    restarted = up(settings)

    assert restarted.healthy
    assert _layout(settings).ca_cert.read_text() == ca_before
    assert _flow_run_exists(settings, run_id)


def test_down_with_wipe_removes_the_state(stack: Stack) -> None:
    settings, _ = stack
    ca_before = _layout(settings).ca_cert.read_text()
    run_id = _create_flow_run(settings)

    down(settings, wipe=True)
    assert not settings.stack_dir.exists()
    # Leave a running stack for the tests that follow (and the fixture's down), from scratch.
    fresh = up(settings)

    assert fresh.healthy
    assert _layout(settings).ca_cert.read_text() != ca_before
    assert not _flow_run_exists(settings, run_id)
