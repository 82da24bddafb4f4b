"""The MQTT bridge: the cloud side's single ingestion point for what cameras publish.

One replica: an MQTT client on a shared subscription, whose messages are queued at once
(`intake_queue`: health coalesced per camera under overload, nothing else) and handled in order on
a thread of their own through `intake` by the handlers of their kind (camera state, presence
events, motion analysis), and a main loop that writes each camera's shadow as `camera_state`
decides. It does not order messages across replicas.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from awscrt import mqtt5
from awsiot import mqtt5_client_builder
from pydantic import Field

from cloud import shadow
from cloud.bundle import CA_FILE, Bundle
from cloud.clients import AwsClients
from cloud.errors import FleetError, InvalidInputError, NotFoundError
from cloud.fleet import fleet_names, mqtt_endpoint
from cloud.settings import FleetSettings
from device.messages import TopicKind, now_ms, subscription
from flows import runtime
from services.bridge.camera_state import FleetState, PendingWrite
from services.bridge.intake import CameraEvent, Dispatcher, Handler
from services.bridge.intake_queue import IntakeQueue, Received
from services.bridge.motion_analysis import MotionAnalysis
from services.bridge.motion_gate import GateSettings, MotionGate
from services.bridge.presence_emitter import PresenceEventEmitter
from services.bridge.presence_events import PresenceEvents
from services.harness.config import ServiceConfig
from services.harness.loop import run_loop
from services.harness.process import run_service
from services.harness.stats import Reporter, Status

log = logging.getLogger(__name__)

_SUBACK_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 10.0


class BridgeConfig(ServiceConfig):
    replica: str = Field(
        default_factory=lambda: uuid.uuid4().hex[:12],
        pattern=r"^[a-z0-9-]{1,40}$",
        description="This replica's part of the client id: unique per running replica.",
    )
    flush_interval_seconds: float = Field(
        15.0, gt=0, le=3600, description="At most one non-urgent shadow write per camera per this."
    )
    shadow_writers: int = Field(
        4,
        ge=1,
        le=64,
        description="Shadow writes under way at once (one camera's one at a time): a write waits "
        "for AWS most of its time, so one writer alone cannot keep up with a large fleet.",
    )
    switch_interval_seconds: float = Field(
        0.0002,
        gt=0,
        le=0.1,
        description="The interpreter's switch interval. The MQTT client's thread needs the "
        "interpreter for each message it takes off the connection; while the handling thread is "
        "busy it gets it only when the running thread is asked to let go, every switch interval "
        "(Python's 5 ms: reading falls behind handling, and the broker drops what it cannot "
        "queue for the replica).",
    )
    keep_alive_seconds: int = Field(30, ge=5, le=1200)
    reconnect_min_seconds: float = Field(0.5, gt=0, le=60)
    reconnect_max_seconds: float = Field(10.0, gt=0, le=600)


@dataclass(frozen=True)
class BridgeEndpoint:
    """Where and as whom the bridge connects: the bridge's bundle, never a camera's."""

    host: str
    port: int
    bundle: Bundle
    client_id: str
    share_group: str

    def filter_for(self, kind: TopicKind) -> str:
        return f"$share/{self.share_group}/{subscription(kind)}"


@dataclass(frozen=True)
class Instruments:
    """Optional hooks to measure a replica (`bench/ingest.py`), off by default. Each is called on
    the thread that did the work, right after it: keep them to a few microseconds."""

    on_message: Handler | None = None  # a valid message, after every handler of its kind
    on_written: Callable[[PendingWrite], None] | None = None  # a shadow write that succeeded
    on_coalesced: Callable[[Received], None] | None = None  # a health replaced by a newer one


class Bridge:
    def __init__(
        self,
        clients: AwsClients,
        endpoint: BridgeEndpoint,
        config: BridgeConfig,
        handlers: Mapping[TopicKind, Sequence[Handler]] | None = None,
        on_written: Callable[[PendingWrite], None] | None = None,
        facts: Callable[[], Mapping[str, str]] | None = None,
        on_coalesced: Callable[[Received], None] | None = None,
    ) -> None:
        """`handlers` are added after the camera state's for their kind (which also subscribes
        the bridge to it): motion analysis plugs in as `{TopicKind.MOTION: [on_motion]}`.
        `on_written` is told of each shadow write that succeeded and `on_coalesced` of each health
        replaced before it was handled (`Instruments`); `facts` go into the heartbeat (the
        analyzer the bridge follows)."""
        self._clients = clients
        self._facts = facts
        self._on_written = on_written
        self._endpoint = endpoint
        self._config = config
        self.state = FleetState(min_interval_s=config.flush_interval_seconds)
        self._lock = threading.Lock()  # the state: the SDK's thread and the flush loop
        self._warn = config.limited_log(log)
        self._wake = threading.Event()
        self._connected = threading.Event()
        self._stopped = threading.Event()
        self._subscribed = False
        self._resubscribe = True
        self._last_problem = "not connected yet"
        routes: dict[TopicKind, list[Handler]] = {
            TopicKind.STATUS: [self._observe],
            TopicKind.HEALTH: [self._observe],
        }
        for kind, extra in (handlers or {}).items():
            routes.setdefault(kind, [self._observe]).extend(extra)
        self.dispatcher = Dispatcher(routes, config.limiter())
        self.counters = self.dispatcher.counters
        self.intake = IntakeQueue(on_coalesced)
        self._handling = threading.Thread(target=self._handle_intake, name="intake", daemon=True)
        self._writers = ThreadPoolExecutor(config.shadow_writers, thread_name_prefix="shadow")
        self._writing = 0  # writes handed to the writers and not settled yet (under the lock)
        self._client = self._build()
        self._reporter = Reporter(f"bridge {endpoint.client_id}", config, self._status, self._stats)

    # The SDK's thread: keep it short.

    def _build(self) -> mqtt5.Client:
        endpoint, config = self._endpoint, self._config
        return mqtt5_client_builder.mtls_from_path(
            endpoint=endpoint.host,
            port=endpoint.port,
            cert_filepath=str(endpoint.bundle.cert_path),
            pri_key_filepath=str(endpoint.bundle.key_path),
            ca_filepath=str(endpoint.bundle.dir / CA_FILE),
            client_id=endpoint.client_id,
            enable_metrics_collection=False,
            # The SDK's IoT Core flow control throttles what a client sends, and all the bridge
            # sends is PUBACKs: held back under a burst, they let the broker's window of
            # unacknowledged messages fill and it drops messages. IoT Core limits what it
            # delivers to a connection itself.
            extended_validation_and_flow_control_options=(
                mqtt5.ExtendedValidationAndFlowControlOptions.NONE
            ),
            keep_alive_interval_sec=config.keep_alive_seconds,
            min_reconnect_delay_ms=int(config.reconnect_min_seconds * 1000),
            max_reconnect_delay_ms=int(config.reconnect_max_seconds * 1000),
            on_publish_received=self._on_publish,
            on_lifecycle_connection_success=self._on_connected,
            on_lifecycle_connection_failure=self._on_connection_failure,
            on_lifecycle_disconnection=self._on_disconnected,
            on_lifecycle_stopped=lambda _data: self._stopped.set(),
        )

    def _on_connected(self, data: mqtt5.LifecycleConnectSuccessData) -> None:
        session_present = bool(data.connack_packet and data.connack_packet.session_present)
        log.info(
            "bridge %s connected to %s:%d (session present: %s)",
            self._endpoint.client_id,
            self._endpoint.host,
            self._endpoint.port,
            session_present,
        )
        self._connected.set()
        if not (session_present and self._subscribed):
            self._subscribed = False
            self._resubscribe = True
            self._wake.set()

    def _on_connection_failure(self, data: mqtt5.LifecycleConnectFailureData) -> None:
        self._last_problem = f"cannot connect: {data.exception}"
        log.warning("bridge %s: %s", self._endpoint.client_id, self._last_problem)

    def _on_disconnected(self, data: mqtt5.LifecycleDisconnectData) -> None:
        self._connected.clear()
        self._last_problem = f"disconnected: {data.exception}"
        log.warning("bridge %s %s", self._endpoint.client_id, self._last_problem)

    def _on_publish(self, data: mqtt5.PublishReceivedData) -> None:
        packet = data.publish_packet
        self.intake.put(packet.topic, bytes(packet.payload or b""), now_ms())

    # The handling thread: every message queued, in order, until the queue is closed and empty.

    def _handle_intake(self) -> None:
        while True:
            batch = self.intake.take(timeout_s=1.0)
            for message in batch:
                self.dispatcher.handle(message.topic, message.payload, message.received_ms)
            if not batch and self.intake.drained:
                return

    def _observe(self, event: CameraEvent, received_ms: int) -> None:
        with self._lock:
            urgent = self.state.observe(event, received_ms)
        if urgent:
            self._wake.set()

    # The calling thread: subscriptions, shadow writes, heartbeat, counters (`run_loop`).

    def run(self, stop: threading.Event) -> None:
        """Connect and work until `stop` is set; then write what is pending and disconnect."""
        log.info(
            "bridge %s starting: %s, flush interval %g s",
            self._endpoint.client_id,
            ", ".join(self._endpoint.filter_for(k) for k in self.dispatcher.routes),
            self._config.flush_interval_seconds,
        )
        self._handling.start()
        self._client.start()
        run_loop(stop, self._reporter, self._turn, self._wake, self._wind_down)

    def _turn(self) -> float | None:
        """Subscribe if needed and hand out the writes that are due; returns the seconds until the
        next is due (None when nothing is pending or every writer is busy: the next writer to
        finish wakes the loop)."""
        if self._resubscribe and self._connected.is_set():
            self._subscribe()
        self.flush(time.monotonic())
        with self._lock:
            writer_free = self._writing < self._config.shadow_writers
            return self.state.next_due_in(time.monotonic()) if writer_free else None

    def _wind_down(self) -> None:
        """Disconnect cleanly, handle what was received, then write what is pending."""
        self._client.stop(mqtt5.DisconnectPacket())  # a clean DISCONNECT
        self._stopped.wait(_STOP_TIMEOUT_S)
        self.intake.close()
        self._handling.join()
        self._writers.shutdown(wait=True)  # the writes under way, then the rest, here
        self.flush(time.monotonic(), force=True)
        self._connected.clear()
        self._subscribed = False
        self._last_problem = "stopped"

    def _subscribe(self) -> None:
        kinds = list(self.dispatcher.routes)
        packet = mqtt5.SubscribePacket(
            [
                mqtt5.Subscription(self._endpoint.filter_for(k), mqtt5.QoS.AT_LEAST_ONCE)
                for k in kinds
            ]
        )
        try:
            suback = self._client.subscribe(packet).result(_SUBACK_TIMEOUT_S)
        except Exception as err:  # the connection dropped meanwhile: the next one retries
            self._last_problem = f"subscribe failed: {err}"
            log.warning("bridge %s: %s", self._endpoint.client_id, self._last_problem)
            return
        refused = [
            f"{self._endpoint.filter_for(k)}: {code.name}"
            for k, code in zip(kinds, suback.reason_codes, strict=False)
            if code.value >= 0x80
        ]
        if refused:
            self._last_problem = "subscription refused: " + "; ".join(refused)
            log.error("bridge %s: %s", self._endpoint.client_id, self._last_problem)
            return
        self._subscribed, self._resubscribe = True, False
        log.info("bridge %s subscribed to %d filters", self._endpoint.client_id, len(kinds))

    def flush(self, now: float, force: bool = False) -> None:
        """Hand the shadow writes that are due to the free writers (urgent ones first: they
        never queue behind routine ones); with `force`, write every pending one here and now
        (the last thing `run` does, once the writers are done)."""
        if force:
            with self._lock:
                writes = self.state.due(float("inf"))
            for write in writes:
                self._write(write)
            return
        with self._lock:
            free = self._config.shadow_writers - self._writing
            writes = self.state.due(now, limit=free) if free > 0 else []
            self._writing += len(writes)
        for write in writes:
            self._writers.submit(self._write_then_free, write)

    def _write_then_free(self, write: PendingWrite) -> None:
        try:
            self._write(write)
        finally:
            with self._lock:
                self._writing -= 1
            self._wake.set()  # a writer is free: the loop hands it the next write

    def _write(self, write: PendingWrite) -> None:
        try:
            shadow.update_reported(self._clients, write.camera_id, write.update)
        except (NotFoundError, InvalidInputError) as err:
            with self._lock:
                self.state.dropped(write, time.monotonic())
                self.counters.shadow_dropped += 1
            log.warning("camera %s: shadow not written, given up: %s", write.camera_id, err)
        except Exception as err:  # FleetError (retryable, unavailable, denied) or anything else
            with self._lock:
                backoff = self.state.failed(write, time.monotonic())
                self.counters.shadow_failures += 1
            self._warn.warning(
                "shadow-failure",
                "camera %s: shadow write failed, retrying in %.0f s: %s",
                write.camera_id,
                backoff,
                err if isinstance(err, FleetError) else repr(err),
            )
        else:
            with self._lock:
                self.state.written(write, time.monotonic())
                self.counters.shadow_writes += 1
            log.debug("camera %s: shadow written (urgent: %s)", write.camera_id, write.urgent)
            if self._on_written is not None:
                self._on_written(write)

    @property
    def ready(self) -> bool:
        return self._connected.is_set() and self._subscribed

    def _status(self) -> Status:
        with self._lock:
            counters = self.counters.snapshot()
            counters["cameras"] = self.state.cameras
        counters.update(self._intake_counters())
        ready = self.ready
        detail = (
            f"connected as {self._endpoint.client_id}, subscribed" if ready else self._last_problem
        )
        return Status(ready, detail, counters, self._facts() if self._facts else {})

    def _stats(self) -> dict[str, int]:
        """The heartbeat's counters and the cameras with a write pending (a walk of them all)."""
        with self._lock:
            counters = self.counters.snapshot()
            counters["cameras"] = self.state.cameras
            counters["pending"] = self.state.pending()
        counters.update(self._intake_counters())
        return counters

    def _intake_counters(self) -> dict[str, int]:
        return {
            "health_coalesced": self.intake.coalesced,
            "backlog": len(self.intake),
            "backlog_max": self.intake.high_water,
        }


def bridge_endpoint(
    clients: AwsClients, settings: FleetSettings, config: BridgeConfig
) -> BridgeEndpoint:
    """The bridge's identity from its bundle (made by `fleet up` or `fleet bridge run`)."""
    names = fleet_names(clients)
    bundle = Bundle(settings.bridge_dir)
    if bundle.certificate_arn() is None or not (bundle.dir / CA_FILE).exists():
        raise NotFoundError(
            f"no bridge identity in {bundle.dir}: `fleet up` makes it on the local stack, "
            "`fleet bridge run` against AWS"
        )
    host, port = mqtt_endpoint(clients, settings)
    return BridgeEndpoint(
        host=host,
        port=port,
        bundle=bundle,
        client_id=f"{names.bridge_client_prefix}{config.replica}",
        share_group=names.bridge_share_group,
    )


def run_bridge(
    settings: FleetSettings,
    config: BridgeConfig,
    stop: threading.Event,
    instruments: Instruments | None = None,
) -> None:
    """The composition root of one replica: clients, identity, bridge; runs until `stop`."""
    rt = runtime.configure(settings)
    motion = MotionAnalysis(rt, MotionGate(GateSettings.from_fleet(settings)))
    presence = PresenceEventEmitter(PresenceEvents(settings.health_event_interval_seconds))
    handlers: dict[TopicKind, list[Handler]] = {
        TopicKind.MOTION: [motion],
        TopicKind.STATUS: [presence],
        TopicKind.HEALTH: [presence],
    }
    instruments = instruments or Instruments()
    if instruments.on_message is not None:
        for kind_handlers in handlers.values():
            kind_handlers.append(instruments.on_message)
    try:
        endpoint = bridge_endpoint(rt.clients, settings, config)
        bridge = Bridge(
            rt.clients,
            endpoint,
            config,
            handlers,
            instruments.on_written,
            facts=motion.facts,
            on_coalesced=instruments.on_coalesced,
        )
        # What start-up made (modules, the SDKs' service models) lives as long as the process:
        # out of the collector's sight, a full collection does not walk it and stop every thread
        # long enough for the broker's queue for this replica to fill and drop messages.
        gc.freeze()
        sys.setswitchinterval(config.switch_interval_seconds)
        bridge.run(stop)
    finally:
        motion.close()
        presence.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.bridge", description=__doc__)
    parser.add_argument("--heartbeat-file", type=Path)
    parser.add_argument("--flush-interval", type=float, default=15.0)
    parser.add_argument("--stats-interval", type=float, default=60.0)
    parser.add_argument("--replica", help="this replica's part of the client id, unique")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    named = {} if args.replica is None else {"replica": args.replica}
    config = BridgeConfig(
        heartbeat_file=args.heartbeat_file,
        flush_interval_seconds=args.flush_interval,
        stats_interval_seconds=args.stats_interval,
        **named,
    )
    return run_service(
        "bridge", args.log_level, lambda stop: run_bridge(FleetSettings(), config, stop)
    )
