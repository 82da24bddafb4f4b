"""Publish as a registered camera, with its bundle, through awsiotsdk: a stand-in for the agent
when a test wants to choose every message (and its Last Will) itself.

`python -m tests.support.camera_client BUNDLE_DIR` connects with a retained `offline` Last Will,
publishes a retained `online`, prints `ready` and waits to be killed: a camera host cut off.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from types import TracebackType

from awscrt import mqtt5
from awsiot import mqtt5_client_builder

from device.config import AgentConfig, load_agent_config
from device.messages import (
    PipelineState,
    Presence,
    StatusEvent,
    TopicKind,
    encode,
    topic,
)
from tests.support.messages import health_event

TIMEOUT_S = 20.0
LAST_WILL_REASON = "connection lost"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def health(
    camera_id: str, pipeline: PipelineState = PipelineState.RUNNING, **fields: object
) -> bytes:
    values: dict[str, object] = {
        "camera_id": camera_id,
        "sent_at_ms": now_ms(),
        "pipeline": pipeline,
        "uptime_seconds": 12.5,
        "bitrate_kbps": 980.0,
        "agent_cpu_percent": 3.5,
        "agent_rss_mb": 48.0,
        "versions": {"agent": "0.1.0", "gstreamer": "1.22"},
    }
    return encode(health_event(**{**values, **fields}))


def status(camera_id: str, presence: Presence, reason: str | None = None) -> bytes:
    return encode(
        StatusEvent(camera_id=camera_id, sent_at_ms=now_ms(), presence=presence, reason=reason)
    )


class CameraClient:
    """One camera's MQTT5 session from its bundle (client id = thing name, as the policy asks)."""

    def __init__(self, bundle_dir: Path, client_id: str | None = None, will: bool = True) -> None:
        self.config: AgentConfig = load_agent_config(bundle_dir / "agent.toml")
        self.camera_id = self.config.camera_id
        self._connected = threading.Event()
        self._stopped = threading.Event()
        self.received: list[str] = []  # topics of the messages the broker delivered
        mqtt = self.config.mqtt
        options: dict[str, object] = {}
        if will:
            options["will"] = mqtt5.PublishPacket(
                topic=topic(self.camera_id, TopicKind.STATUS),
                payload=status(self.camera_id, Presence.OFFLINE, LAST_WILL_REASON),
                qos=mqtt5.QoS.AT_LEAST_ONCE,
                retain=True,
            )
        self.client = mqtt5_client_builder.mtls_from_path(
            endpoint=mqtt.endpoint,
            port=mqtt.port,
            cert_filepath=str(mqtt.cert),
            pri_key_filepath=str(mqtt.key),
            ca_filepath=str(mqtt.ca),
            client_id=client_id or mqtt.client_id,
            enable_metrics_collection=False,
            on_lifecycle_connection_success=lambda _data: self._connected.set(),
            on_lifecycle_stopped=lambda _data: self._stopped.set(),
            on_publish_received=lambda data: self.received.append(data.publish_packet.topic),
            **options,
        )

    def __enter__(self) -> CameraClient:
        self.client.start()
        if not self._connected.wait(TIMEOUT_S):
            self.client.stop()
            raise AssertionError(f"the broker did not accept camera {self.camera_id}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # With a DISCONNECT (normal disconnection) the broker discards the Last Will; a stop
        # without one is a cut-off connection, and the Will is published.
        self.client.stop(mqtt5.DisconnectPacket())
        self._stopped.wait(TIMEOUT_S)

    def publish(
        self, kind: TopicKind, payload: bytes, retain: bool = False
    ) -> mqtt5.PubackReasonCode:
        return self.publish_to(topic(self.camera_id, kind), payload, retain)

    def publish_to(
        self, topic_name: str, payload: bytes, retain: bool = False
    ) -> mqtt5.PubackReasonCode:
        packet = mqtt5.PublishPacket(
            topic=topic_name, payload=payload, qos=mqtt5.QoS.AT_LEAST_ONCE, retain=retain
        )
        result: mqtt5.PublishCompletionData = self.client.publish(packet).result(TIMEOUT_S)
        return result.puback.reason_code

    def subscribe(self, topic_filter: str) -> mqtt5.SubackReasonCode:
        packet = mqtt5.SubscribePacket([mqtt5.Subscription(topic_filter, mqtt5.QoS.AT_LEAST_ONCE)])
        suback = self.client.subscribe(packet).result(TIMEOUT_S)
        code: mqtt5.SubackReasonCode = suback.reason_codes[0]
        return code


def main(argv: list[str]) -> int:
    camera = CameraClient(Path(argv[0]))
    camera.__enter__()
    camera.publish(TopicKind.STATUS, status(camera.camera_id, Presence.ONLINE), retain=True)
    print("ready", flush=True)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
