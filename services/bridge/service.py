"""The MQTT bridge: the cloud side's single ingestion point for what cameras publish.

`python -m services.bridge` (a part of the local stack) or `fleet bridge run` (production, in the
foreground) runs one replica. Replicas scale out on an MQTT shared subscription: each connects
with the bridge's own certificate as `<fleet>-bridge-<replica>` and subscribes to
`$share/<fleet>-bridge/fleet/+/<kind>` (QoS 1) for every kind it has handlers for, so the broker
deals each message to one replica.

Per message (on the SDK's thread, kept short): `bridge_intake.Dispatcher` classifies it; a
rejection is counted by reason and logged (rate-limited); a valid event goes to the handlers of
its kind. Today those are the camera state (`camera_state`: status and health kept in memory,
written to each camera's shadow by the flush loop, urgent changes at once, the rest at most every
`flush_interval_seconds`); motion analysis plugs in as a handler of `TopicKind.MOTION`, and the
cameras' Prefect events (`camera.online`, `.offline`, `.health`, `.pipeline.failed`) as a
handler of status and health (`Bridge(..., handlers=...)`). No exception stops the bridge.

The flush loop runs in the calling thread: it hands the shadow writes that are due to
`shadow_writers` threads (a write mostly waits for AWS; urgent ones first, as writers come free,
never queued behind routine ones; one write per camera at a time), re-subscribes after a
reconnect without a session, writes a heartbeat file (`fleet status`) and logs the counters every
`stats_interval_seconds`. Motion goes to `services.bridge.motion_analysis`, which starts analysis
sessions and runs the `analyze-motion` flow runs that follow them.

Not done here: ordering across replicas. Each replica writes only the parts of a camera's status
it saw change, so replicas do not overwrite each other with stale parts, but two replicas dealt
a camera's status messages out of order could leave the older presence in the shadow.
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
from pydantic import BaseModel, ConfigDict, Field

from cloud import shadow
from cloud.bundle import CA_FILE, Bundle
from cloud.clients import AwsClients
from cloud.errors import FleetError, InvalidInputError, NotFoundError
from cloud.fleet import fleet_names, mqtt_endpoint
from cloud.settings import FleetSettings
from device.messages import TopicKind, now_ms, subscription
from flows import runtime
from services.bridge.camera_state import FleetState, PendingWrite
from services.bridge.intake import CameraEvent, Dispatcher, Handler, LogLimiter
from services.bridge.motion_analysis import MotionAnalysis
from services.bridge.motion_gate import GateSettings, MotionGate
from services.bridge.presence_emitter import PresenceEventEmitter
from services.bridge.presence_events import PresenceEvents
from services.harness.heartbeat import write_heartbeat
from services.harness.process import run_service

log = logging.getLogger(__name__)

_SUBACK_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 10.0


class BridgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

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
    stats_interval_seconds: float = Field(60.0, gt=0, le=86400)
    heartbeat_seconds: float = Field(2.0, gt=0, le=60)
    heartbeat_file: Path | None = None
    keep_alive_seconds: int = Field(30, ge=5, le=1200)
    reconnect_min_seconds: float = Field(0.5, gt=0, le=60)
    reconnect_max_seconds: float = Field(10.0, gt=0, le=600)
    invalid_logs_per_minute: int = Field(5, ge=0, le=1000)


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


class Bridge:
    def __init__(
        self,
        clients: AwsClients,
        endpoint: BridgeEndpoint,
        config: BridgeConfig,
        handlers: Mapping[TopicKind, Sequence[Handler]] | None = None,
        on_written: Callable[[PendingWrite], None] | None = None,
    ) -> None:
        """`handlers` are added after the camera state's for their kind (which also subscribes
        the bridge to it): motion analysis plugs in as `{TopicKind.MOTION: [on_motion]}`.
        `on_written` is told of each shadow write that succeeded (`Instruments`)."""
        self._clients = clients
        self._on_written = on_written
        self._endpoint = endpoint
        self._config = config
        self.state = FleetState(min_interval_s=config.flush_interval_seconds)
        self._lock = threading.Lock()  # the state: the SDK's thread and the flush loop
        self._limiter = LogLimiter(per_window=config.invalid_logs_per_minute)
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
        self.dispatcher = Dispatcher(routes, LogLimiter(per_window=config.invalid_logs_per_minute))
        self.counters = self.dispatcher.counters
        self._writers = ThreadPoolExecutor(config.shadow_writers, thread_name_prefix="shadow")
        self._writing = 0  # writes handed to the writers and not settled yet (under the lock)
        self._client = self._build()

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
            # The SDK's IoT Core flow control throttles what a client sends; all the bridge sends
            # is PUBACKs, and under a burst the throttle let out about 120 a second: the broker's
            # window of unacknowledged messages filled and it dropped the rest (bench/ingest.py).
            # IoT Core limits what it delivers to a connection itself.
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
        self.dispatcher.handle(packet.topic, bytes(packet.payload or b""), now_ms())

    def _limit(self, key: str) -> tuple[bool, int]:
        with self._lock:
            return self._limiter.allow(key, time.monotonic())

    def _observe(self, event: CameraEvent, received_ms: int) -> None:
        with self._lock:
            urgent = self.state.observe(event, received_ms)
        if urgent:
            self._wake.set()

    # The calling thread: subscriptions, shadow writes, heartbeat, counters.

    def run(self, stop: threading.Event) -> None:
        """Connect and work until `stop` is set; then write what is pending and disconnect."""
        log.info(
            "bridge %s starting: %s, flush interval %g s",
            self._endpoint.client_id,
            ", ".join(self._endpoint.filter_for(k) for k in self.dispatcher.routes),
            self._config.flush_interval_seconds,
        )
        self._client.start()
        next_beat = time.monotonic()
        next_stats = next_beat + self._config.stats_interval_seconds
        try:
            while not stop.is_set():
                try:
                    next_beat, next_stats = self._tick(next_beat, next_stats)
                except Exception:  # a bug here must not stop the ingestion of the fleet
                    log.exception("bridge %s: flush loop error", self._endpoint.client_id)
                    stop.wait(1.0)
        finally:
            self._writers.shutdown(wait=True)  # the writes under way, then the rest, here
            self.flush(time.monotonic(), force=True)
            self._client.stop(mqtt5.DisconnectPacket())  # a clean DISCONNECT
            self._stopped.wait(_STOP_TIMEOUT_S)
            self._connected.clear()
            self._subscribed = False
            self._last_problem = "stopped"
            self._heartbeat()
            self._log_stats()

    def _tick(self, next_beat: float, next_stats: float) -> tuple[float, float]:
        """One turn of the loop: subscribe if needed, write what is due, report; then wait."""
        if self._resubscribe and self._connected.is_set():
            self._subscribe()
        self.flush(time.monotonic())
        now = time.monotonic()
        if now >= next_beat:
            self._heartbeat()
            next_beat = now + self._config.heartbeat_seconds
        if now >= next_stats:
            self._log_stats()
            next_stats = now + self._config.stats_interval_seconds
        with self._lock:  # with every writer busy, the next one to finish wakes the loop
            writer_free = self._writing < self._config.shadow_writers
            due_in = self.state.next_due_in(time.monotonic()) if writer_free else None
        # At most a second: `stop` comes from a signal handler, which cannot wake us.
        wait = min(next_beat - now, next_stats - now, 1.0)
        if due_in is not None:
            wait = min(wait, due_in)
        self._wake.wait(max(0.01, wait))
        self._wake.clear()
        return next_beat, next_stats

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
            allowed, suppressed = self._limit("shadow-failure")
            if allowed:
                log.warning(
                    "camera %s: shadow write failed, retrying in %.0f s: %s%s",
                    write.camera_id,
                    backoff,
                    err if isinstance(err, FleetError) else repr(err),
                    f" ({suppressed} more failures not logged)" if suppressed else "",
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

    def _heartbeat(self) -> None:
        path = self._config.heartbeat_file
        if path is None:
            return
        with self._lock:
            counters = self.counters.snapshot()
            counters["cameras"] = self.state.cameras
        ready = self.ready
        detail = (
            f"connected as {self._endpoint.client_id}, subscribed" if ready else self._last_problem
        )
        try:
            write_heartbeat(path, ready, detail, counters)
        except OSError as err:
            log.warning("cannot write the heartbeat %s: %s", path, err)

    def _log_stats(self) -> None:
        with self._lock:
            counters = self.counters.snapshot()
            cameras, pending = self.state.cameras, self.state.pending()
        log.info(
            "bridge %s: %s; cameras=%d pending=%d",
            self._endpoint.client_id,
            " ".join(f"{k}={v}" for k, v in counters.items()),
            cameras,
            pending,
        )


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
        bridge = Bridge(rt.clients, endpoint, config, handlers, instruments.on_written)
        # What start-up made (modules, the SDKs' service models: some 200,000 objects) lives as
        # long as the process. Left to the collector, each full collection walks all of it and
        # stops every thread for 0.1 to 0.5 s, time enough for the broker's queue for this
        # replica to fill and drop messages (bench/ingest.py).
        gc.freeze()
        bridge.run(stop)
    finally:
        motion.close()
        presence.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.bridge", description=__doc__)
    parser.add_argument("--heartbeat-file", type=Path)
    parser.add_argument("--flush-interval", type=float, default=15.0)
    parser.add_argument("--stats-interval", type=float, default=60.0)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    config = BridgeConfig(
        heartbeat_file=args.heartbeat_file,
        flush_interval_seconds=args.flush_interval,
        stats_interval_seconds=args.stats_interval,
    )
    return run_service(
        "bridge", args.log_level, lambda stop: run_bridge(FleetSettings(), config, stop)
    )
