"""The bridge's shadow writers (a few writes at once, one per camera, urgent ones first as writers
come free) and its MQTT client's options. A fake IoT data plane holds each write until the test
lets it go; no broker (the MQTT client is built, never started)."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from awscrt import mqtt5
from awsiot import mqtt5_client_builder

from cloud.bundle import Bundle
from device.messages import PipelineState, Presence, StatusEvent
from services.bridge.service import Bridge, BridgeConfig, BridgeEndpoint
from stack.endpoint.ca import LocalCA
from tests.support.messages import AT_MS, health_event

TIMEOUT_S = 10.0


class SlowShadows:
    """`update_thing_shadow` that blocks until released, recording the order of the calls."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self._changed = threading.Condition()
        self._released = 0

    def update_thing_shadow(self, thingName: str, shadowName: str, payload: bytes) -> Any:  # noqa: N803 - boto3's names
        with self._changed:
            self.started.append(thingName)
            ticket = len(self.started)
            self._changed.notify_all()
            assert self._changed.wait_for(lambda: self._released >= ticket, TIMEOUT_S)
        return {"payload": io.BytesIO(json.dumps({"version": 1}).encode())}

    def release(self, count: int = 1) -> None:
        with self._changed:
            self._released += count
            self._changed.notify_all()

    def wait_started(self, count: int) -> list[str]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.started) >= count, TIMEOUT_S)
            return list(self.started)


class FakeClients:
    def __init__(self, shadows: SlowShadows) -> None:
        self.iot_data = shadows


@pytest.fixture
def endpoint(tmp_path: Path) -> BridgeEndpoint:
    ca = LocalCA.load_or_create(tmp_path / "ca")
    cert, key = ca.issue_key_and_cert()
    bundle = Bundle(tmp_path / "bundle")
    bundle.ensure_dir()
    (bundle.dir / "private.pem.key").write_text(key)
    bundle.write_certificate(cert, "arn:aws:iot:us-east-1:123456789012:cert/abc")
    bundle.write_ca(ca.cert_pem)
    return BridgeEndpoint("127.0.0.1", 1, bundle, "camfleet-bridge-test", "camfleet-bridge")


@pytest.fixture
def shadows() -> Iterator[SlowShadows]:
    fake = SlowShadows()
    yield fake
    fake.release(1000)  # nothing left waiting


def wait_for(condition: Any) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def written_once(bridge: Bridge, shadows: SlowShadows, cameras: list[str]) -> None:
    for camera in cameras:
        bridge.state.observe(health_event(camera_id=camera, sent_at_ms=AT_MS), AT_MS)
    while bridge.counters.shadow_writes < len(cameras):
        bridge.flush(time.monotonic())
        shadows.release(1)
        time.sleep(0.01)


def test_an_urgent_write_goes_first_as_soon_as_a_writer_is_free(
    endpoint: BridgeEndpoint, shadows: SlowShadows
) -> None:
    config = BridgeConfig(replica="test", shadow_writers=2, flush_interval_seconds=0.01)
    bridge = Bridge(FakeClients(shadows), endpoint, config)  # type: ignore[arg-type]
    try:
        written_once(bridge, shadows, ["a", "b", "c", "d"])
        before = len(shadows.started)
        for camera in ("a", "b", "c"):  # routine news: last seen, a new health
            later = health_event(camera_id=camera, sent_at_ms=AT_MS + 1)
            assert bridge.state.observe(later, AT_MS + 1) is False
        time.sleep(0.05)  # past the flush interval: all three are due
        bridge.flush(time.monotonic())
        assert sorted(shadows.wait_started(before + 2)[before:]) == ["a", "b"]
        bridge.flush(time.monotonic())
        assert len(shadows.started) == before + 2  # both writers busy: nothing queued

        offline = StatusEvent(camera_id="d", sent_at_ms=AT_MS + 2, presence=Presence.OFFLINE)
        assert bridge.state.observe(offline, AT_MS + 2) is True
        shadows.release(1)
        wait_for(lambda: bridge.counters.shadow_writes == 5)
        bridge.flush(time.monotonic())
        # "d" goes before "c", which was due first: an urgent change never waits behind it.
        assert shadows.wait_started(before + 3)[-1] == "d"
        shadows.release(1)
        wait_for(lambda: bridge.counters.shadow_writes == 6)
        bridge.flush(time.monotonic())
        assert shadows.wait_started(before + 4)[-1] == "c"
    finally:
        shadows.release(1000)
        bridge._writers.shutdown(wait=True)


def test_one_write_per_camera_at_a_time(endpoint: BridgeEndpoint, shadows: SlowShadows) -> None:
    config = BridgeConfig(replica="test", shadow_writers=4)
    bridge = Bridge(FakeClients(shadows), endpoint, config)  # type: ignore[arg-type]
    try:
        bridge.state.observe(health_event(camera_id="a", sent_at_ms=AT_MS), AT_MS)
        bridge.flush(time.monotonic())
        shadows.wait_started(1)
        stalled = health_event(camera_id="a", sent_at_ms=AT_MS + 1, pipeline=PipelineState.STALLED)
        assert bridge.state.observe(stalled, AT_MS + 1) is True
        bridge.flush(time.monotonic())
        time.sleep(0.1)
        assert shadows.started == ["a"]  # three writers free, yet no second write for "a"
        shadows.release(1)
        wait_for(lambda: bridge.counters.shadow_writes == 1)
        bridge.flush(time.monotonic())
        assert shadows.wait_started(2) == ["a", "a"]
    finally:
        shadows.release(1000)
        bridge._writers.shutdown(wait=True)


def test_the_bridge_does_not_throttle_its_acknowledgements(endpoint: BridgeEndpoint) -> None:
    """The SDK's IoT Core flow control, on by default, held PUBACKs back under a burst and made the
    broker drop messages for the bridge (bench/ingest.py); the bridge publishes nothing."""
    with patch.object(mqtt5_client_builder, "mtls_from_path", autospec=True) as build:
        Bridge(FakeClients(SlowShadows()), endpoint, BridgeConfig(replica="test"))  # type: ignore[arg-type]
    options = build.call_args.kwargs
    assert (
        options["extended_validation_and_flow_control_options"]
        is mqtt5.ExtendedValidationAndFlowControlOptions.NONE
    )
    assert options["enable_metrics_collection"] is False
