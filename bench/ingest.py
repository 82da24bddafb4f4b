"""Benchmark: status and health of 1,000 cameras through the broker to the bridge on one core,
against a naive bridge that writes the shadow and emits an event for every message, in one run.

    .venv/bin/python bench/ingest.py [--cameras 1000] [--rates 33 250 500 1000 2000]
        [--seconds 30] [--cycle 100] [--publishers 4] [--cpu N] [--flush-interval 15]
        [--paths real naive] [--sample-every 20] [--drain-seconds 30] [--keep-going]
        [--isolate] [--profile-bridge]

A fresh local stack with its own bridge stopped; the bridge under test (`bench/ingest_bridge.py`:
the real one, then `bench/naive_bridge.py`) in a process pinned to one CPU. `--cameras` IoT
things in the fleet's group, published for by a few publisher identities (`--publishers` MQTT5
connections, each camera always on the same one, so its messages stay in order; the SDK's
client-side publish limit is off on them). The stream (`bench/ingest_core.py`) is stepped
through `--rates`, open loop. Per step: loss (every acknowledged message must be in the bridge's
own record), intake lag, publish to shadow for state changes, publish to Prefect event (every
`--sample-every`th camera), events per second, the bridge's CPU and RSS; a step is sustained with
no loss and p99 lags under 1 s. Prints a table and writes bench/results/ingest.json; the logs stay
in the run's temporary directory (`settings.workdir`). Details and the latest figures:
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from awscrt import mqtt5
from awsiot import mqtt5_client_builder
from prefect.events.filters import (
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventResourceFilter,
)
from rich.console import Console
from rich.table import Table

from bench.ingest_core import (
    EVENT_HEALTH,
    EVENT_OFFLINE,
    EVENT_ONLINE,
    Processed,
    Sent,
    StoredEvent,
    Stream,
    Written,
    event_lags,
    event_message_number,
    index_processed,
    shown_ms,
    step_books,
    under,
)
from bench.local_aws import local_settings
from cloud.models import CameraSpec
from cloud.registry import thing_attributes
from cloud.settings import FleetSettings
from device.messages import TopicKind, now_ms, topic
from flows import runtime
from flows.camera_events import read_cameras_events
from stack.supervisor.errors import StackError
from stack.supervisor.layout import PartName, StackLayout
from stack.supervisor.local_stack import down, fleet_env, prefect_env, stop, up
from tests.support.mqtt_observer import issue_identity

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parent.parent
PREFIX = "ing-"
PUBLISHER_POLICY = "bench-ingest-publisher"
LIMIT_MS = 1000.0
WARMUP_CHUNK = 200
SETTLE_S = 2.0
EVENT_NAMES = [EVENT_ONLINE, EVENT_OFFLINE, EVENT_HEALTH]


# The cameras and the publishers.


def make_cameras(rt: runtime.Runtime, ids: list[str]) -> float:
    """Things in the fleet's group with the fleet's attributes, as registration makes them."""
    iot, names = rt.clients.iot, rt.names
    began = time.monotonic()

    def one(camera: str) -> None:
        attributes = thing_attributes(CameraSpec(camera_id=camera), names.fleet)
        iot.create_thing(thingName=names.thing(camera), attributePayload={"attributes": attributes})
        iot.add_thing_to_thing_group(
            thingGroupName=names.thing_group, thingName=names.thing(camera)
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, ids))
    return time.monotonic() - began


def publisher_identity(rt: runtime.Runtime, directory: Path) -> tuple[Path, Path]:
    """An IoT policy that may publish under fleet/ and a certificate from the endpoint's CA."""
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": rt.names.iot_arn("client/bench-ingest-*"),
            },
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": rt.names.iot_arn("topic/fleet/*"),
            },
        ],
    }
    cert, key = directory / "publisher.pem.crt", directory / "publisher.pem.key"
    issue_identity(rt.clients.iot, PUBLISHER_POLICY, document, cert, key)
    return cert, key


class Publishers:
    """`count` MQTT5 connections with the publisher identity; camera i on connection i mod count."""

    def __init__(self, cert: Path, key: Path, ca: Path, host: str, port: int, count: int) -> None:
        self._connected = [threading.Event() for _ in range(count)]
        self.clients = [
            mqtt5_client_builder.mtls_from_path(
                endpoint=host,
                port=port,
                cert_filepath=str(cert),
                pri_key_filepath=str(key),
                ca_filepath=str(ca),
                client_id=f"bench-ingest-{i}",
                enable_metrics_collection=False,
                # The SDK holds a connection to IoT Core's limits (100 publishes a second); these
                # connections publish for hundreds of cameras each, a camera 1 to 2 a second.
                extended_validation_and_flow_control_options=(
                    mqtt5.ExtendedValidationAndFlowControlOptions.NONE
                ),
                on_lifecycle_connection_success=lambda _d, e=self._connected[i]: e.set(),
            )
            for i in range(count)
        ]

    def __enter__(self) -> Publishers:
        for client, connected in zip(self.clients, self._connected, strict=True):
            client.start()
            if not connected.wait(30):
                raise RuntimeError("a publisher could not connect to the broker")
        deadline = time.monotonic() + 60
        for client in self.clients:  # the broker's ACL follows the policy's attachment
            while self._probe(client):
                if time.monotonic() > deadline:
                    raise RuntimeError("the publisher identity may not publish")
                time.sleep(0.5)
        return self

    @staticmethod
    def _probe(client: mqtt5.Client) -> bool:
        """True while the broker refuses (a topic no bridge subscribes to: 0x10, no subscribers)."""
        packet = mqtt5.PublishPacket(
            topic="fleet/bench-probe/ping", payload=b"{}", qos=mqtt5.QoS.AT_LEAST_ONCE
        )
        return bool(client.publish(packet).result(10).puback.reason_code.value >= 0x80)

    def __exit__(self, *exc: object) -> None:
        for client in self.clients:
            client.stop(mqtt5.DisconnectPacket())

    def publish(self, camera_index: int, topic_name: str, payload: bytes) -> Future[Any]:
        packet = mqtt5.PublishPacket(topic=topic_name, payload=payload, qos=mqtt5.QoS.AT_LEAST_ONCE)
        future: Future[Any] = self.clients[camera_index % len(self.clients)].publish(packet)
        return future


@dataclass
class Feed:
    """The stream of one path and everything it published."""

    pubs: Publishers
    stream: Stream
    topics: list[dict[TopicKind, str]]
    sent: list[Sent] = field(default_factory=list)

    def publish(self, count: int, rate: float | None) -> tuple[list[Sent], float]:
        """`count` messages, message j at t0 + j/rate (as fast as possible without a rate);
        returns them once the broker answered each, and the seconds publishing took."""
        pending: list[tuple[int, Any, int, Future[Any]]] = []
        gc.disable()  # a collection here would hold up the offered load, not the bridge
        t0 = time.monotonic()
        for j in range(count):
            if rate is not None:
                delay = t0 + j / rate - time.monotonic()
                if delay > 0.001:
                    time.sleep(delay)
            c, planned = self.stream.next()
            at = self.stream.stamp(c, now_ms())
            pending.append(
                (
                    c,
                    planned,
                    at,
                    self.pubs.publish(c, self.topics[c][planned.kind], planned.payload(at)),
                )
            )
        took = time.monotonic() - t0
        gc.enable()
        sent = [Sent(c, planned, at, _acked(future)) for c, planned, at, future in pending]
        self.sent.extend(sent)
        return sent, took

    @property
    def acked(self) -> int:
        return sum(s.acked for s in self.sent)


def _acked(future: Future[Any]) -> bool:
    try:
        return bool(future.result(30).puback.reason_code.value < 0x80)
    except Exception:
        return False


# The bridge under test, in its own process on one CPU.


class BridgeChild:
    def __init__(
        self,
        mode: str,
        settings: FleetSettings,
        workdir: Path,
        cpu: int,
        flush_interval: float,
        profile: bool = False,
    ) -> None:
        self.mode = mode
        self.heartbeat = workdir / f"{mode}-heartbeat.json"
        self.records = workdir / f"{mode}-records.json"
        self.log = workdir / f"{mode}-bridge.log"
        argv = [
            "taskset", "-c", str(cpu), sys.executable, str(ROOT / "bench" / "ingest_bridge.py"), mode,
            "--heartbeat-file", str(self.heartbeat), "--records", str(self.records),
            "--flush-interval", str(flush_interval),
        ]  # fmt: skip
        if profile:
            argv += ["--profile", str(workdir / f"{mode}.prof")]
        env = {
            **os.environ,
            **prefect_env(settings),
            **fleet_env(settings),
            "PYTHONPATH": str(ROOT),
        }
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
            )
        self.process = psutil.Process(self.proc.pid)  # taskset execs the bridge in its place
        self.samples: list[tuple[float, float]] = []  # (monotonic, rss MB)
        self.threads_cpu: dict[int, float] = {}
        self._done = threading.Event()
        threading.Thread(target=self._sample, name="sampler", daemon=True).start()

    def _sample(self) -> None:
        while not self._done.wait(0.25):
            try:
                self.samples.append((time.monotonic(), self.process.memory_info().rss / 2**20))
            except psutil.Error:
                return

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def peak_rss_mb(self, since: float) -> float:
        return round(max((rss for at, rss in self.samples if at >= since), default=0.0), 1)

    def hwm_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
        return 0.0

    def counters(self) -> dict[str, Any]:
        try:
            beat = json.loads(self.heartbeat.read_text())
        except (OSError, ValueError):
            return {}
        counters: dict[str, Any] = beat["counters"] if beat.get("ready") else {}
        return counters

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not self.counters():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.mode} bridge did not get ready: see {self.log}")
            time.sleep(0.2)

    def wait_received(self, total: int, timeout: float) -> bool:
        """Until the bridge has taken in `total` messages (heartbeat every 0.5 s)."""
        deadline = time.monotonic() + timeout
        while self.counters().get("received", 0) < total:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                return False
            time.sleep(0.1)
        return True

    def snapshot(self) -> tuple[dict[str, Any], int]:
        """What the bridge recorded so far (SIGUSR1: it writes its records), and when."""
        self.records.unlink(missing_ok=True)
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 60
        while not self.records.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"the {self.mode} bridge wrote no records: see {self.log}")
            time.sleep(0.1)
        return json.loads(self.records.read_text()), now_ms()

    def thread_cpu(self) -> dict[int, float]:
        """CPU seconds per thread (native id), from /proc."""
        ticks = os.sysconf("SC_CLK_TCK")
        out = {}
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[int(task.name)] = (int(fields[11]) + int(fields[12])) / ticks
        return out

    def stop(self) -> tuple[dict[str, Any], int, float]:
        hwm = self.hwm_mb()
        self.threads_cpu = self.thread_cpu()
        self.records.unlink(missing_ok=True)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(120)
        self._done.set()
        return json.loads(self.records.read_text()), now_ms(), hwm


def parse_records(document: dict[str, Any]) -> tuple[list[Processed], list[Written]]:
    messages = [Processed(*row) for row in document["messages"]]
    writes = [Written(*row) for row in document["writes"]]
    return messages, writes


# Prefect: events read back and counted.


def read_events(sample: list[str], since_ms: int) -> list[StoredEvent]:
    since = datetime.fromtimestamp(since_ms / 1000 - 5, UTC)
    found = asyncio.run(read_cameras_events(sample, EVENT_NAMES, since))
    out = []
    for event in found:
        n = event_message_number(event.event, event.payload)
        if n is not None:
            camera = event.resource.id.removeprefix("camera.")
            out.append(
                StoredEvent(camera, event.event, n, round(event.received.timestamp() * 1000))
            )
    return out


def count_events(api_url: str, since_ms: int, until_ms: int) -> int:
    """The bench cameras' camera.* events that occurred in the window, counted by the server."""
    event_filter = EventFilter(
        occurred=EventOccurredFilter(
            since=datetime.fromtimestamp(since_ms / 1000, UTC),
            until=datetime.fromtimestamp(until_ms / 1000, UTC),
        ),
        event=EventNameFilter(prefix=["camera."]),
        resource=EventResourceFilter(id_prefix=[f"camera.{PREFIX}"]),
    )
    answer = httpx.post(
        f"{api_url}/events/count-by/event",
        json={
            "filter": event_filter.model_dump(mode="json"),
            "time_unit": "day",
            "time_interval": 1,
        },
        timeout=60,
    )
    answer.raise_for_status()
    return sum(int(row["count"]) for row in answer.json())


# A path: one bridge, warm-up, steps.


@dataclass
class Step:
    rate: int
    sent: list[Sent]
    publish_s: float
    began_ms: int
    drained_ms: int
    drained: bool
    cpu_s: float
    rss_peak_mb: float
    load: float
    cpu_pressure: float | None
    books: dict[str, Any] = field(default_factory=dict)


def cpu_pressure() -> float | None:
    """The share of the last 10 s some task waited for a CPU (Linux PSI), in %."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except OSError:
        return None
    return float(line.split()[1].removeprefix("avg10="))


def warm_up(feed: Feed, child: BridgeChild, cameras: int) -> float:
    """Each camera's first two messages, in chunks the bridge catches up with: none lost."""
    began = time.monotonic()
    left = 2 * cameras
    while left:
        chunk = min(WARMUP_CHUNK, left)
        feed.publish(chunk, None)
        left -= chunk
        if not child.wait_received(feed.acked, 120):
            raise RuntimeError(f"the {child.mode} bridge did not take the warm-up in")
    deadline = time.monotonic() + 120  # every camera's first shadow written
    while child.counters().get("shadow_writes", 0) < cameras and time.monotonic() < deadline:
        time.sleep(0.2)
    return time.monotonic() - began


def run_step(feed: Feed, child: BridgeChild, rate: int, args: argparse.Namespace) -> Step:
    began, began_ms = time.monotonic(), now_ms()
    cpu_before = child.cpu_seconds()
    sent, took = feed.publish(rate * args.seconds, rate)
    cpu = child.cpu_seconds() - cpu_before
    drained = child.wait_received(feed.acked, args.drain_seconds)
    drained_ms = now_ms()
    time.sleep(SETTLE_S)  # the changes' shadow writes and events
    step = Step(
        rate=rate,
        sent=sent,
        publish_s=round(took, 2),
        began_ms=began_ms,
        drained_ms=drained_ms,
        drained=drained,
        cpu_s=round(cpu, 2),
        rss_peak_mb=child.peak_rss_mb(began),
        load=round(os.getloadavg()[0], 2),
        cpu_pressure=cpu_pressure(),
    )
    document, read_ms = child.snapshot()
    messages, writes = parse_records(document)
    step.books = step_books(
        sent, index_processed(messages), writes, read_ms, history=feed.sent
    ).as_dict()
    return step


def p99_ok(stats: dict[str, Any]) -> bool:
    """Under the limit, and known (no sample, e.g. no change in a short step, is no failure)."""
    return stats["samples"] == 0 or under(stats, "p99", LIMIT_MS)


def passes_intake(books: dict[str, Any]) -> bool:
    return (
        books["lost"] == 0
        and books["processed"] > 0
        and p99_ok(books["intake"])
        and p99_ok(books["change_to_shadow"])
    )


def run_path(mode: str, ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    child = BridgeChild(
        mode, ctx.settings, ctx.workdir, args.cpu, args.flush_interval, args.profile_bridge
    )
    steps: list[Step] = []
    try:
        child.wait_ready()
        affinity = child.process.cpu_affinity()
        feed = Feed(ctx.pubs, Stream(ctx.ids, args.cycle), ctx.topics)
        path_began_ms = now_ms()
        warm_s = warm_up(feed, child, len(ctx.ids))
        print(f"{mode}: warm-up {warm_s:.1f} s", file=sys.stderr, flush=True)
        for rate in args.rates:
            step = run_step(feed, child, rate, args)
            steps.append(step)
            b = step.books
            print(
                f"{mode} {rate}/s: published in {step.publish_s} s, lost {b['lost']}, intake p99 "
                f"{b['intake']['p99_ms']} ms, change->shadow p99 {b['change_to_shadow']['p99_ms']} ms, "
                f"cpu {step.cpu_s} s, load {step.load}",
                file=sys.stderr,
                flush=True,
            )
            if not passes_intake(b) and not args.keep_going:
                break
    finally:
        document, read_ms, hwm = child.stop()
    messages, writes = parse_records(document)
    processed = index_processed(messages)
    events = read_events(ctx.sample, path_began_ms)
    out_steps = []
    for step in steps:
        books = step_books(step.sent, processed, writes, read_ms, history=feed.sent).as_dict()
        stored, missing = event_lags(step.sent, events, set(ctx.sample), mode == "naive", read_ms)
        emitted = count_events(ctx.api_url, step.began_ms, step.drained_ms)
        window_s = (step.drained_ms - step.began_ms) / 1000
        passed = passes_intake(books) and p99_ok(stored) and missing == 0
        out_steps.append(
            {
                "rate": step.rate,
                "seconds": args.seconds,
                "publish_s": step.publish_s,
                "published_per_s": round(len(step.sent) / step.publish_s, 1)
                if step.publish_s
                else None,
                "drained": step.drained,
                **books,
                "event_to_server": stored,
                "events_missing": missing,
                "events_emitted": emitted,
                "events_per_s": round(emitted / window_s, 1) if window_s > 0 else None,
                "cpu_s": step.cpu_s,
                "cpu_share": round(step.cpu_s / step.publish_s, 2) if step.publish_s else None,
                "rss_peak_mb": step.rss_peak_mb,
                "load_average": step.load,
                "cpu_pressure_avg10": step.cpu_pressure,
                "passed": passed,
            }
        )
    counters = document.get("counters", {})
    unique = len(processed)
    names: dict[str, str] = document.get("threads", {})
    if steps:  # the collector's pauses while the steps ran (start-up's are not the bridge's)
        first, last = steps[0].began_ms, steps[-1].drained_ms
        pauses = [ms for at, ms in document.get("gc_pauses", []) if first <= at <= last]
    else:
        pauses = []
    by_thread: dict[str, float] = {}
    for tid, seconds in child.threads_cpu.items():
        name = names.get(str(tid), "native (awscrt, ...)")
        name = name.split("_")[0] if name.startswith("shadow") else name
        by_thread[name] = round(by_thread.get(name, 0.0) + seconds, 1)
    return {
        "path": mode,
        "cpu_affinity": affinity,
        "warm_up_s": round(warm_s, 1),
        "steps": out_steps,
        "sustained_per_s": max((s["rate"] for s in out_steps if s["passed"]), default=None),
        "peak_rss_mb": hwm,
        "cpu_s_by_thread": dict(sorted(by_thread.items(), key=lambda kv: -kv[1])),
        "gc_pauses_over_5_ms": len(pauses),
        "gc_pause_max_ms": max(pauses, default=0.0),
        "accounting": {
            "published": len(feed.sent),
            "acked": feed.acked,
            "bridge_received": counters.get("received"),
            "bridge_valid": counters.get("valid"),
            "bridge_invalid": counters.get("invalid"),
            "processed_distinct": unique,
            "duplicates": len(messages) - unique,
            "unaccounted": feed.acked
            - len({s.key for s in feed.sent if s.acked} & processed.keys()),
            "shadow_writes": counters.get("shadow_writes"),
            "shadow_failures": counters.get("shadow_failures"),
        },
    }


@dataclass
class Context:
    settings: FleetSettings
    workdir: Path
    ids: list[str]
    sample: list[str]
    pubs: Publishers
    topics: list[dict[TopicKind, str]]
    api_url: str


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of the process and of its children (threads made later inherit it)."""
    for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        for task in Path(f"/proc/{process.pid}/task").iterdir():
            try:
                os.sched_setaffinity(int(task.name), cpus)
            except OSError:  # a thread that ended meanwhile
                continue


def isolate(settings: FleetSettings, bridge_cpu: int) -> list[int]:
    """The stack's processes and this one (the publishers) on the other CPUs: the bridge's CPU
    is left to the bridge (and to whatever else runs on the machine)."""
    others = set(range(os.cpu_count() or 1)) - {bridge_cpu}
    layout = StackLayout(settings.stack_dir)
    for part in (
        PartName.AWS,
        PartName.MOSQUITTO,
        PartName.PREFECT,
        PartName.FLOWS,
        PartName.RESULTS,
    ):
        pin(int(layout.pid_file(part).read_text().strip()), others)
    pin(os.getpid(), others)
    return sorted(others)


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    settings = local_settings(workdir / "home", status_interval_seconds=3600)
    ids = [f"{PREFIX}{i:04d}" for i in range(args.cameras)]
    paths: list[dict[str, Any]] = []
    errors: list[str] = []
    others: list[int] | None = None
    try:
        try:
            status = up(settings)
        except StackError as err:  # a loaded machine: the bridge took over 30 s to start
            print(f"fleet up: {err}; once more", file=sys.stderr, flush=True)
            status = up(settings)
        os.environ.update(prefect_env(settings))
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()  # Prefect read the environment when it was imported
        rt = runtime.configure(settings)
        made_s = make_cameras(rt, ids)
        print(f"{len(ids)} things in {made_s:.1f} s", file=sys.stderr, flush=True)
        stop(settings, PartName.BRIDGE)  # ours replaces it: a replica would share the subscription
        others = isolate(settings, args.cpu) if args.isolate else None
        cert, key = publisher_identity(rt, workdir / "publisher")
        ca = StackLayout(settings.stack_dir).ca_cert
        with Publishers(cert, key, ca, status.mqtt.host, status.mqtt.port, args.publishers) as pubs:
            ctx = Context(
                settings=settings,
                workdir=workdir,
                ids=ids,
                sample=ids[:: args.sample_every],
                pubs=pubs,
                topics=[{k: topic(c, k) for k in TopicKind} for c in ids],
                api_url=prefect_env(settings)["PREFECT_API_URL"],
            )
            for mode in args.paths:
                try:
                    paths.append(run_path(mode, ctx, args))
                except Exception as err:
                    errors.append(f"{mode}: {type(err).__name__}: {err}")
                    print(f"{mode} failed: {err!r}", file=sys.stderr, flush=True)
    finally:
        logs = workdir / "logs"
        shutil.copytree(StackLayout(settings.stack_dir).logs_dir, logs, dirs_exist_ok=True)
        down(settings, wipe=True)
    broker_log = (logs / f"{PartName.MOSQUITTO.value}.log").read_text(errors="replace")
    return {
        "settings": {
            "cameras": args.cameras,
            "rates": args.rates,
            "seconds": args.seconds,
            "cycle": args.cycle,
            "changes_share": round(4 / args.cycle, 3),
            "publishers": args.publishers,
            "flush_interval_s": args.flush_interval,
            "sample_cameras": len(ids[:: args.sample_every]),
            "drain_seconds": args.drain_seconds,
            "bridge_cpu": args.cpu,
            "stack_and_publishers_cpus": others,
            "cpus": os.cpu_count(),
            "workdir": str(workdir),
        },
        "paths": paths,
        "ratio": ratio(paths),
        "broker_dropped_lines": broker_log.count("Outgoing messages are being dropped"),
        "errors": errors,
    }


def ratio(paths: list[dict[str, Any]]) -> dict[str, Any]:
    """Real over naive: the highest sustained rates; the most each handled in a step (past its
    capacity, a path handles what it can); p99 lags at the rates both ran (naive over real)."""
    by = {p["path"]: p for p in paths}
    if "real" not in by or "naive" not in by:
        return {}
    real, naive = by["real"], by["naive"]
    handled = [max((s["handled_per_s"] for s in p["steps"]), default=0.0) for p in (real, naive)]
    out: dict[str, Any] = {
        "sustained_real_over_naive": (
            round(real["sustained_per_s"] / naive["sustained_per_s"], 1)
            if real["sustained_per_s"] and naive["sustained_per_s"]
            else None
        ),
        "most_handled_real_over_naive": round(handled[0] / handled[1], 1) if handled[1] else None,
    }
    naive_steps = {s["rate"]: s for s in naive["steps"]}
    for step in real["steps"]:
        other = naive_steps.get(step["rate"])
        for measure in ("intake", "change_to_shadow"):
            ours = step[measure]["p99_ms"]
            theirs = other[measure]["p99_ms"] if other else None
            if ours and theirs:
                out[f"{measure}_p99_naive_over_real_at_{step['rate']}"] = round(theirs / ours, 1)
    return out


# Output.


def table(result: dict[str, Any]) -> Table:
    s = result["settings"]
    main = Table(
        title=f"{s['cameras']} cameras, health + status ({s['changes_share']:.0%} state changes), "
        f"{s['seconds']} s per rate, bridge pinned to CPU {s['bridge_cpu']} of {s['cpus']}; "
        f"lags from publish"
    )
    columns = [
        "path", "rate/s", "handled/s", "lost", "dup", "intake p50", "intake p99",
        "change→shadow p50", "p99", "event p50", "p99", "events/s", "CPU", "RSS MB", "load", "ok",
    ]  # fmt: skip
    for column in columns:
        main.add_column(column, justify="left" if column == "path" else "right")
    for path in result["paths"]:
        for step in path["steps"]:
            main.add_row(
                path["path"],
                f"{step['rate']} ({step['published_per_s']:.0f})",
                f"{step['handled_per_s']:.0f}",
                str(step["lost"]),
                str(step["duplicates"]),
                shown_ms(step["intake"], "p50"),
                shown_ms(step["intake"], "p99"),
                shown_ms(step["change_to_shadow"], "p50"),
                shown_ms(step["change_to_shadow"], "p99"),
                shown_ms(step["event_to_server"], "p50"),
                shown_ms(step["event_to_server"], "p99"),
                f"{step['events_per_s']:.0f}",
                f"{step['cpu_share']:.0%}",
                f"{step['rss_peak_mb']:.0f}",
                f"{step['load_average']:.2f}",
                "yes" if step["passed"] else "no",
            )
    return main


def summary(result: dict[str, Any]) -> list[str]:
    lines = []
    for path in result["paths"]:
        a = path["accounting"]
        lines.append(
            f"{path['path']}: sustained {path['sustained_per_s'] or '-'} msg/s (p99 < 1 s, none "
            f"lost); peak RSS {path['peak_rss_mb']} MB; published {a['published']}, acked "
            f"{a['acked']}, bridge received {a['bridge_received']} (valid {a['bridge_valid']}, "
            f"invalid {a['bridge_invalid']}), processed {a['processed_distinct']} distinct + "
            f"{a['duplicates']} duplicates, unaccounted {a['unaccounted']}; shadow writes "
            f"{a['shadow_writes']} (failed {a['shadow_failures']})"
        )
    if result["ratio"]:
        lines.append(f"ratio: {result['ratio']}")
    lines.append(
        f"broker log lines about dropping messages for a slow subscriber: "
        f"{result['broker_dropped_lines']}"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument("--rates", type=int, nargs="+", default=[33, 250, 500, 1000, 2000])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--cycle", type=int, default=100)
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--cpu", type=int, default=(os.cpu_count() or 1) - 1)
    parser.add_argument("--flush-interval", type=float, default=15.0)
    parser.add_argument("--paths", nargs="+", choices=["real", "naive"], default=["real", "naive"])
    parser.add_argument("--sample-every", type=int, default=20)
    parser.add_argument("--drain-seconds", type=float, default=30)
    parser.add_argument("--keep-going", action="store_true")
    parser.add_argument(
        "--isolate",
        action="store_true",
        help="keep the stack and the publishers off the bridge's CPU (with 3 CPUs or more: on 2 "
        "the stack starves on the one left, the broker first)",
    )
    parser.add_argument(
        "--profile-bridge",
        action="store_true",
        help="cProfile the bridge's main thread (the flush loop): <workdir>/<path>.prof",
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "ingest.json")
    args = parser.parse_args()
    result = run(args)
    args.output.parent.mkdir(exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    console = Console(width=200)
    console.print(table(result))
    for line in summary(result):
        console.print(line)
    for error in result["errors"]:
        console.print(f"[red]failed[/] {error}")
    console.print(f"written: {args.output}")


if __name__ == "__main__":
    main()
