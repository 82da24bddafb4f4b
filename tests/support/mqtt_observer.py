"""A test's own window on the broker: an IoT identity allowed to read every fleet topic.

It is made the product's way (IoT policy + certificate from the endpoint's CA), so the broker's
ACL admits it only once the policy is attached, as AWS IoT would. It records every message it
receives, with the time it arrived.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from awscrt import mqtt5
from awsiot import mqtt5_client_builder

from cloud.clients import AwsClients
from cloud.settings import FleetSettings

POLICY = "test-observer"


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    at: float

    def json(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.payload)
        return loaded


def _ensure_identity(settings: FleetSettings, directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "observer.pem.crt", directory / "observer.pem.key"
    if cert.exists():
        return cert, key
    iot = AwsClients(settings).iot
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": "arn:aws:iot:*:*:topicfilter/fleet/*",
            },
            {
                "Effect": "Allow",
                "Action": "iot:Receive",
                "Resource": "arn:aws:iot:*:*:topic/fleet/*",
            },
            {  # and send commands, as the cloud side would
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": "arn:aws:iot:*:*:topic/fleet/*/commands/*",
            },
        ],
    }
    issue_identity(iot, POLICY, document, cert, key)
    return cert, key


def issue_identity(iot: Any, policy: str, document: dict[str, Any], cert: Path, key: Path) -> None:
    """An IoT identity the product's way: the policy `document` (kept if `policy` exists) attached
    to a new certificate from the endpoint's CA, written to `cert` and `key` (private)."""
    with contextlib.suppress(iot.exceptions.ResourceAlreadyExistsException):
        iot.create_policy(policyName=policy, policyDocument=json.dumps(document))
    made = iot.create_keys_and_certificate(setAsActive=True)
    iot.attach_policy(policyName=policy, target=made["certificateArn"])
    cert.parent.mkdir(parents=True, exist_ok=True)
    key.parent.mkdir(parents=True, exist_ok=True)
    cert.write_text(made["certificatePem"])
    key.write_text(made["keyPair"]["PrivateKey"])
    key.chmod(0o600)


class MqttObserver:
    def __init__(self, settings: FleetSettings, ca: Path, directory: Path, host: str, port: int):
        cert, key = _ensure_identity(settings, directory)
        self.messages: list[Received] = []
        self._filter: str | None = None
        self.subscriptions = 0  # granted SUBACKs, counting those after a reconnect
        self._changed = threading.Condition()
        self._connected = threading.Event()
        self._client = mqtt5_client_builder.mtls_from_path(
            endpoint=host,
            port=port,
            cert_filepath=str(cert),
            pri_key_filepath=str(key),
            ca_filepath=str(ca),
            client_id=f"test-observer-{time.monotonic_ns()}",
            on_publish_received=self._received,
            on_lifecycle_connection_success=self._on_connected,
            on_lifecycle_disconnection=lambda _d: self._connected.clear(),
            min_reconnect_delay_ms=200,
            max_reconnect_delay_ms=1000,
            enable_metrics_collection=False,
        )

    def _on_connected(self, _data: mqtt5.LifecycleConnectSuccessData) -> None:
        self._connected.set()
        if self._filter is not None:  # a clean session after a broker restart: subscribe again
            threading.Thread(target=self._subscribe, args=(self._filter, 20), daemon=True).start()

    def start(self, topic_filter: str = "fleet/#", timeout: float = 20) -> MqttObserver:
        self._client.start()
        assert self._connected.wait(timeout), "observer could not connect to the broker"
        self._subscribe(topic_filter, timeout)
        self._filter = topic_filter
        return self

    def _subscribe(self, topic_filter: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:  # the broker's ACL is regenerated in the background after attach_policy
            packet = mqtt5.SubscribePacket(
                subscriptions=[
                    mqtt5.Subscription(topic_filter=topic_filter, qos=mqtt5.QoS.AT_LEAST_ONCE)
                ]
            )
            suback = self._client.subscribe(packet).result(10)
            if all(code.value < 0x80 for code in suback.reason_codes):
                with self._changed:
                    self.subscriptions += 1
                    self._changed.notify_all()
                return
            assert time.monotonic() < deadline, f"subscribe refused: {suback.reason_codes}"
            time.sleep(0.3)

    def stop(self) -> None:
        self._client.stop()

    def wait_subscribed(self, count: int, timeout: float) -> None:
        """Until `count` subscriptions were granted (e.g. one more after a broker restart)."""
        with self._changed:
            assert self._changed.wait_for(lambda: self.subscriptions >= count, timeout), (
                f"observer not subscribed again within {timeout} s"
            )

    def publish(self, topic: str, payload: bytes = b"{}") -> None:
        packet = mqtt5.PublishPacket(topic=topic, payload=payload, qos=mqtt5.QoS.AT_LEAST_ONCE)
        result = self._client.publish(packet).result(10)
        assert result.puback.reason_code.value < 0x80, result.puback.reason_code

    def _received(self, data: mqtt5.PublishReceivedData) -> None:
        packet = data.publish_packet
        with self._changed:
            self.messages.append(
                Received(
                    packet.topic,
                    bytes(packet.payload or b""),
                    bool(packet.retain),
                    time.monotonic(),
                )
            )
            self._changed.notify_all()

    def on(self, topic: str) -> list[Received]:
        with self._changed:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(
        self,
        topic: str,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float,
        after: float = 0.0,
    ) -> Received:
        """The first message on `topic`, arrived after `after` (monotonic), whose JSON matches."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for message in self.messages:
                    if message.topic == topic and message.at >= after and predicate(message.json()):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [m.payload[:200] for m in self.messages if m.topic == topic][-5:]
                    raise AssertionError(
                        f"no matching message on {topic} in {timeout} s; last: {seen}"
                    )
                self._changed.wait(remaining)
