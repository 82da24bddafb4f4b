"""The baseline of `bench/ingest.py`: a naive bridge, wired by hand. Not product code.

It takes messages in as the bridge does (the bridge's own identity and bundle, the same shared
subscription, QoS 1, awsiotsdk MQTT5, the contract's validation), and for every message, in the
SDK's callback, writes the camera's shadow (`cloud.shadow.update_reported`: presence or health,
and last seen) and emits its Prefect event (`camera.online`/`.offline` with the status's reason,
`camera.health` with the health's payload), one after the other, before taking the next
message. No state, no coalescing, no retries: a failed write is counted and the message is done.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from awscrt import mqtt5
from awsiot import mqtt5_client_builder

from cloud import shadow
from cloud.bundle import CA_FILE
from cloud.clients import AwsClients
from cloud.shadow import PresenceReport, ShadowUpdate
from device.messages import (
    HealthEvent,
    InvalidMessageError,
    Presence,
    StatusEvent,
    TopicKind,
    decode,
    now_ms,
)
from flows.analyze import emit_camera_event
from flows.events import (
    CAMERA_HEALTH,
    CAMERA_OFFLINE,
    CAMERA_ONLINE,
    CameraEventKind,
    EventPayload,
    PresencePayload,
)
from services.bridge.presence_events import health_payload
from services.bridge.service import BridgeEndpoint

log = logging.getLogger(__name__)

KINDS = (TopicKind.STATUS, TopicKind.HEALTH)
Recorded = Callable[[StatusEvent | HealthEvent, int, ShadowUpdate | None], None]


@dataclass
class NaiveCounters:
    received: int = 0
    valid: int = 0
    invalid: int = 0
    shadow_writes: int = 0
    shadow_failures: int = 0
    event_failures: int = 0

    def snapshot(self) -> dict[str, int]:
        return dict(vars(self))


class NaiveBridge:
    def __init__(self, clients: AwsClients, endpoint: BridgeEndpoint, done: Recorded) -> None:
        """`done(event, received_ms, update)` is called once a message's write and event are
        done (the benchmark's record); `update` is None if the write failed."""
        self._clients = clients
        self._endpoint = endpoint
        self._done = done
        self.counters = NaiveCounters()
        self.ready = threading.Event()
        self._stopped = threading.Event()
        bundle = endpoint.bundle
        self._client = mqtt5_client_builder.mtls_from_path(
            endpoint=endpoint.host,
            port=endpoint.port,
            cert_filepath=str(bundle.cert_path),
            pri_key_filepath=str(bundle.key_path),
            ca_filepath=str(bundle.dir / CA_FILE),
            client_id=endpoint.client_id,
            enable_metrics_collection=False,
            on_publish_received=self._on_publish,
            on_lifecycle_connection_success=self._on_connected,
            on_lifecycle_stopped=lambda _data: self._stopped.set(),
        )

    def _on_connected(self, _data: mqtt5.LifecycleConnectSuccessData) -> None:
        # Not in the SDK's callback: it must not wait for its own thread.
        threading.Thread(target=self._subscribe, daemon=True).start()

    def _subscribe(self) -> None:
        packet = mqtt5.SubscribePacket(
            [
                mqtt5.Subscription(self._endpoint.filter_for(k), mqtt5.QoS.AT_LEAST_ONCE)
                for k in KINDS
            ]
        )
        suback = self._client.subscribe(packet).result(10)
        refused = [code for code in suback.reason_codes if code.value >= 0x80]
        if refused:
            log.error("naive bridge: subscription refused: %s", refused)
            return
        self.ready.set()

    def _on_publish(self, data: mqtt5.PublishReceivedData) -> None:
        packet = data.publish_packet
        received = now_ms()
        self.counters.received += 1
        try:
            event = decode(packet.topic, bytes(packet.payload or b""))
        except InvalidMessageError:
            self.counters.invalid += 1
            return
        self.counters.valid += 1
        if isinstance(event, StatusEvent):
            online = event.presence is Presence.ONLINE
            update = ShadowUpdate(
                presence=PresenceReport(
                    presence=event.presence, reason=event.reason, status_at_ms=received
                ),
                last_seen_ms=received if online else None,
            )
            kind: CameraEventKind[Any] = CAMERA_ONLINE if online else CAMERA_OFFLINE
            payload: EventPayload = PresencePayload(reason=event.reason)
        elif isinstance(event, HealthEvent):
            update = ShadowUpdate(health=event, last_seen_ms=received)
            kind, payload = CAMERA_HEALTH, health_payload(event)
        else:
            return
        written: ShadowUpdate | None = None
        try:
            shadow.update_reported(self._clients, event.camera_id, update)
            self.counters.shadow_writes += 1
            written = update
        except Exception:
            self.counters.shadow_failures += 1
            log.exception("camera %s: shadow not written", event.camera_id)
        try:
            emit_camera_event(kind, event.camera_id, payload)
        except Exception:
            self.counters.event_failures += 1
            log.exception("camera %s: event %s not emitted", event.camera_id, kind.name)
        self._done(event, received, written)

    def run(self, stop: threading.Event, heartbeat: Callable[[bool, dict[str, int]], None]) -> None:
        self._client.start()
        try:
            while not stop.wait(0.5):
                heartbeat(self.ready.is_set(), self.counters.snapshot())
        finally:
            self._client.stop(mqtt5.DisconnectPacket())
            self._stopped.wait(10)
            heartbeat(False, self.counters.snapshot())
