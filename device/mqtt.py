"""The camera's MQTT5 connection to AWS IoT Core (or the local broker), through awsiotsdk.

Mutual TLS with the registration bundle's certificate; client id = thing name, as the IoT
policy requires. The Last Will is a retained `offline` status, so a crashed or cut-off host
shows offline as soon as the broker notices; every successful connection publishes a retained
`online`. The SDK reconnects by itself with bounded, jittered delays; when the broker has no
session for us (a restart, an expiry), the subscriptions are made again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from awscrt import mqtt5
from awscrt.io import ClientBootstrap, DefaultHostResolver, EventLoopGroup, SocketOptions
from awsiot import mqtt5_client_builder

from device.config import AgentConfig
from device.messages import (
    Presence,
    StatusEvent,
    TopicKind,
    command_subscription,
    encode,
    now_ms,
    topic,
)

log = logging.getLogger(__name__)

# A PINGREQ unanswered this long drops the connection; must be under the keep-alive.
_PING_TIMEOUT_MS = 5_000
_ACK_TIMEOUT_S = 10
# The same connection error is logged once per this many seconds while it repeats.
_REPEAT_LOG_S = 60.0


def status_payload(camera_id: str, presence: Presence, reason: str | None = None) -> bytes:
    event = StatusEvent(camera_id=camera_id, sent_at_ms=now_ms(), presence=presence, reason=reason)
    return encode(event)


class CameraLink:
    """One camera's MQTT session. Callbacks run on the SDK's thread: keep them short."""

    def __init__(
        self,
        config: AgentConfig,
        on_command: Callable[[str], None],
        on_connected: Callable[[], None],
    ):
        self._config = config
        self._on_command = on_command
        self._on_connected = on_connected
        self.connected = threading.Event()
        self.connections = 0
        self._stopped = threading.Event()
        self._stopping = False
        self._last_error: tuple[str, float] | None = None
        self._status_topic = topic(config.camera_id, TopicKind.STATUS)
        self._client = self._build()

    def _build(self) -> mqtt5.Client:
        mqtt, camera = self._config.mqtt, self._config.camera_id
        will = mqtt5.PublishPacket(
            topic=self._status_topic,
            payload=status_payload(camera, Presence.OFFLINE, "connection lost"),
            qos=mqtt5.QoS.AT_LEAST_ONCE,
            retain=True,
        )
        return mqtt5_client_builder.mtls_from_path(
            endpoint=mqtt.endpoint,
            port=mqtt.port,
            cert_filepath=str(mqtt.cert),
            pri_key_filepath=str(mqtt.key),
            ca_filepath=str(mqtt.ca),
            client_id=mqtt.client_id,
            session_behavior=mqtt5.ClientSessionBehaviorType.CLEAN,
            keep_alive_interval_sec=mqtt.keep_alive_seconds,
            ping_timeout_ms=_PING_TIMEOUT_MS,
            connack_timeout_ms=int(mqtt.connect_timeout_seconds * 1000),
            ack_timeout_sec=_ACK_TIMEOUT_S,
            socket_options=_socket_options(mqtt.connect_timeout_seconds),
            will=will,
            will_delay_interval_sec=0,
            min_reconnect_delay_ms=int(mqtt.reconnect_min_seconds * 1000),
            max_reconnect_delay_ms=int(mqtt.reconnect_max_seconds * 1000),
            retry_jitter_mode=mqtt5.ExponentialBackoffJitterMode.FULL,
            min_connected_time_to_reset_reconnect_delay_ms=30_000,
            offline_queue_behavior=mqtt5.ClientOperationQueueBehaviorType.FAIL_ALL_ON_DISCONNECT,
            on_publish_received=self._received,
            on_lifecycle_attempting_connect=self._attempting,
            on_lifecycle_connection_success=self._connected,
            on_lifecycle_connection_failure=self._failed,
            on_lifecycle_disconnection=self._disconnected,
            on_lifecycle_stopped=lambda _data: self._stopped.set(),
            client_bootstrap=_bootstrap(),
            enable_metrics_collection=False,
        )

    def start(self) -> None:
        mqtt = self._config.mqtt
        log.info("connecting to %s:%d as %s", mqtt.endpoint, mqtt.port, mqtt.client_id)
        self._client.start()

    def publish(self, topic_name: str, payload: bytes, retain: bool = False) -> Future[Any]:
        """QoS 1 publish. Fails at once when disconnected: the caller decides what to keep."""
        packet = mqtt5.PublishPacket(
            topic=topic_name, payload=payload, qos=mqtt5.QoS.AT_LEAST_ONCE, retain=retain
        )
        future: Future[Any] = self._client.publish(packet)
        return future

    def stop(self, timeout: float = 5.0) -> None:
        """Publish `offline` ourselves (a clean stop sends no Will), then disconnect."""
        if self.connected.is_set():
            offline = status_payload(self._config.camera_id, Presence.OFFLINE, "agent stopped")
            try:
                acked(self.publish(self._status_topic, offline, retain=True), timeout)
            except Exception as err:  # the Will covers us if this does not get through
                log.warning("could not publish offline status: %s", err)
        self._stopping = True
        self._client.stop(
            mqtt5.DisconnectPacket(reason_code=mqtt5.DisconnectReasonCode.NORMAL_DISCONNECTION)
        )
        self._stopped.wait(timeout)

    # SDK callbacks (SDK thread)

    def _attempting(self, _data: mqtt5.LifecycleAttemptingConnectData) -> None:
        log.debug("connecting")

    def _connected(self, data: mqtt5.LifecycleConnectSuccessData) -> None:
        self.connections += 1
        self._last_error = None
        session = bool(data.connack_packet and data.connack_packet.session_present)
        log.info("connected (session %s)", "resumed" if session else "new")
        if not session:
            self._subscribe()
        online = status_payload(self._config.camera_id, Presence.ONLINE)
        self.publish(self._status_topic, online, retain=True)
        self.connected.set()
        self._on_connected()

    def _subscribe(self) -> None:
        filter_ = command_subscription(self._config.camera_id)
        packet = mqtt5.SubscribePacket(
            subscriptions=[mqtt5.Subscription(topic_filter=filter_, qos=mqtt5.QoS.AT_LEAST_ONCE)]
        )
        self._client.subscribe(packet).add_done_callback(lambda fut: _log_suback(filter_, fut))

    def _failed(self, data: mqtt5.LifecycleConnectFailureData) -> None:
        if self._stopping:
            return
        reason = describe_failure(data.exception, data.connack_packet)
        self._log_repeated(f"cannot connect to {self._config.mqtt.endpoint}: {reason}; retrying")

    def _disconnected(self, data: mqtt5.LifecycleDisconnectData) -> None:
        self.connected.clear()
        if self._stopping:
            return
        reason = describe_failure(data.exception, None)
        if data.disconnect_packet is not None:
            reason = f"{data.disconnect_packet.reason_code.name} from the broker"
        self._log_repeated(f"disconnected: {reason}; reconnecting")

    def _received(self, data: mqtt5.PublishReceivedData) -> None:
        packet = data.publish_packet
        if packet.topic is not None:
            self._on_command(packet.topic)

    def _log_repeated(self, message: str) -> None:
        now = time.monotonic()
        last = self._last_error
        if last and last[0] == message and now - last[1] < _REPEAT_LOG_S:
            log.debug("%s", message)
            return
        self._last_error = (message, now)
        log.warning("%s", message)


def acked(future: Future[Any], timeout: float) -> None:
    """Wait for a QoS 1 publish's PUBACK; raise if the broker refused it."""
    result = future.result(timeout)
    puback = getattr(result, "puback", None)
    code = getattr(puback, "reason_code", None)
    if code is not None and code not in (
        mqtt5.PubackReasonCode.SUCCESS,
        mqtt5.PubackReasonCode.NO_MATCHING_SUBSCRIBERS,
    ):
        raise PermissionError(f"publish refused by the broker: {code.name}")


def describe_failure(exception: Exception | None, connack: mqtt5.ConnackPacket | None) -> str:
    """The CRT's error names are cryptic; say what a user can act on."""
    if connack is not None and connack.reason_code != mqtt5.ConnectReasonCode.SUCCESS:
        return f"refused by the broker ({connack.reason_code.name})"
    name = getattr(exception, "name", None) or str(exception or "unknown error")
    for needle, meaning in _FAILURES:
        if needle in name:
            return f"{meaning} ({name})"
    return name


_FAILURES = (
    ("CONNECTION_REFUSED", "broker unreachable: nothing listens on that port"),
    ("NO_ROUTE", "broker unreachable: no route to host"),
    ("TIMEOUT", "broker did not answer in time"),
    ("DNS", "broker host name does not resolve"),
    (
        "TLS_ERROR_NEGOTIATION",
        "TLS handshake failed: the broker rejected mqtt.cert, or mqtt.ca does not trust the broker",
    ),
    ("TLS_ALERT", "TLS alert from the broker: certificate rejected"),
    ("TLS_ERROR_READ_FAILURE", "the broker closed TLS: mqtt.cert rejected (not issued by its CA?)"),
    ("CLOSED", "connection closed by the broker (certificate or policy rejected?)"),
    ("SOCKET", "network error"),
)


def _bootstrap() -> ClientBootstrap:
    """One event-loop thread: the SDK's default is one per core, for a single connection."""
    loops = EventLoopGroup(1)
    return ClientBootstrap(loops, DefaultHostResolver(loops))


def _socket_options(connect_timeout_s: float) -> SocketOptions:
    options = SocketOptions()
    options.connect_timeout_ms = int(connect_timeout_s * 1000)
    return options


def _log_suback(filter_: str, future: Future[Any]) -> None:
    try:
        suback = future.result()
    except Exception as err:
        log.warning("subscribe to %s failed: %s", filter_, err)
        return
    codes = [c.name for c in suback.reason_codes if c.value >= 0x80]
    if codes:
        log.warning("subscribe to %s refused: %s", filter_, ", ".join(codes))
