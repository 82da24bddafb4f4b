"""Commands to the local broker's dynamic-security plugin, as the stack's admin identity.

One short MQTT5 session per batch (awsiotsdk, as every other client of the broker): subscribe to
the plugin's response topic, publish the commands tagged with correlation data, wait for the
replies. The broker being down is `BrokerUnavailableError`; the caller retries later.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from awscrt import mqtt5
from awsiot import mqtt5_client_builder

from stack.broker.shared_subscriptions import CONTROL_TOPIC, RESPONSE_TOPIC

logger = logging.getLogger(__name__)


class BrokerUnavailableError(Exception):
    """The broker did not accept the admin identity in time (not running yet, or restarting)."""


class BrokerCommandError(Exception):
    """The plugin refused a command."""


@dataclass(frozen=True)
class BrokerAdmin:
    """Where the broker listens and the admin identity the plugin trusts."""

    host: str
    port: int
    ca_file: Path
    cert_file: Path
    key_file: Path


class DynsecSession:
    def __init__(self, admin: BrokerAdmin, timeout: float = 5.0) -> None:
        self._admin = admin
        self._timeout = timeout
        self._replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self._connected = threading.Event()
        self._stopped = threading.Event()
        self._client: mqtt5.Client | None = None

    def __enter__(self) -> DynsecSession:
        admin = self._admin
        if not (admin.cert_file.exists() and admin.key_file.exists()):
            raise BrokerUnavailableError(f"no admin identity yet at {admin.cert_file}")
        self._client = mqtt5_client_builder.mtls_from_path(
            endpoint=admin.host,
            port=admin.port,
            cert_filepath=str(admin.cert_file),
            pri_key_filepath=str(admin.key_file),
            ca_filepath=str(admin.ca_file),
            client_id=f"fleet-broker-admin-{uuid.uuid4().hex[:12]}",
            enable_metrics_collection=False,
            on_publish_received=self._on_publish,
            on_lifecycle_connection_success=lambda _data: self._connected.set(),
            on_lifecycle_stopped=lambda _data: self._stopped.set(),
        )
        self._client.start()
        if not self._connected.wait(self._timeout):
            self._stop()
            raise BrokerUnavailableError(
                f"the broker at {admin.host}:{admin.port} did not accept the admin identity "
                f"within {self._timeout:g} s"
            )
        subscribe = mqtt5.SubscribePacket(
            [mqtt5.Subscription(RESPONSE_TOPIC, mqtt5.QoS.AT_LEAST_ONCE)]
        )
        suback = self._client.subscribe(subscribe).result(self._timeout)
        if any(code.value >= 0x80 for code in suback.reason_codes):
            self._stop()
            raise BrokerCommandError(f"subscribing to {RESPONSE_TOPIC}: {suback.reason_codes}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._client is not None:
            self._client.stop(mqtt5.DisconnectPacket())
            self._stopped.wait(self._timeout)
            self._client = None

    def _on_publish(self, data: mqtt5.PublishReceivedData) -> None:
        try:
            self._replies.put(json.loads(bytes(data.publish_packet.payload or b"")))
        except ValueError:
            logger.warning("unreadable reply on %s", RESPONSE_TOPIC)

    def request(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send a batch; return the plugin's replies in order."""
        if not commands:
            return []
        if self._client is None:
            raise BrokerUnavailableError("the session is closed")
        token = uuid.uuid4().hex
        tags = [f"{token}-{index}" for index in range(len(commands))]
        tagged = [{**c, "correlationData": t} for c, t in zip(commands, tags, strict=True)]
        packet = mqtt5.PublishPacket(
            topic=CONTROL_TOPIC,
            payload=json.dumps({"commands": tagged}).encode(),
            qos=mqtt5.QoS.AT_LEAST_ONCE,
        )
        self._client.publish(packet).result(self._timeout)
        replies: dict[str, dict[str, Any]] = {}
        while len(replies) < len(tags):
            try:
                message = self._replies.get(timeout=self._timeout)
            except queue.Empty as err:
                raise BrokerUnavailableError("the broker did not answer in time") from err
            for reply in message.get("responses", []):
                tag = reply.get("correlationData")
                if tag in tags:
                    replies[tag] = reply
        return [replies[tag] for tag in tags]
