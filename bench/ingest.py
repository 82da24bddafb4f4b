"""Benchmark: status, health and motion of 1,000 cameras through the broker to one or more bridge
replicas, each on a CPU of its own (or a quota of one): what a replica sustains, and how it
degrades at twice that rate.

    .venv/bin/python bench/ingest.py [--cameras 1000] [--rates 1000 2000 3000 4000]
        [--seconds 30] [--cycle 100] [--publishers 4] [--replicas 1 [2 ...]] [--cpus N ...]
        [--cpu-quota SHARE] [--flush-interval 15] [--paths real naive] [--sample-every 20]
        [--drain-seconds 30] [--keep-going] [--no-overload] [--isolate] [--profile-bridge]
        [--switch-interval S]

A fresh local stack with its own bridge stopped; per `--replicas` count, that many real bridges
(`bench/ingest_bridge.py`, each its own client id on the shared subscription, in a process pinned
with taskset to a CPU of its own when there are enough, else sharing the last; `--cpu-quota`: a
cgroup limits each to that share of a CPU), then with `--paths naive` the naive baseline
(`bench/naive_bridge.py`). `--cameras` IoT things in the fleet's group, published for by a few
publisher identities (`--publishers` MQTT5 connections, each camera always on the same one, so its
messages stay in order; the SDK's client-side publish limit is off on them). The stream
(`bench/ingest_core.py`: 4 state changes and 1 motion per `--cycle` messages, healths otherwise)
is stepped through `--rates`, open loop, until a step is not sustained (`--keep-going`: all of
them), then once at twice the highest sustained rate (unless `--no-overload`). Per step: every
acknowledged message handled or coalesced (a health replaced by its camera's newer one), loss and
coalescing per kind, intake lag, publish to shadow for state changes, publish to Prefect event
(every `--sample-every`th camera), per replica messages handled a second, CPU, quota throttling
and RSS, the publishers' CPU and the rate they produced. A step is sustained with nothing lost or
coalesced and p99 intake lag under 1 s. Prints a table and writes bench/results/ingest.json; the
logs (the stack's and each replica's) stay in the run's temporary directory (`settings.workdir`).
Details and the latest figures: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
    KINDS,
    Coalesced,
    Key,
    Processed,
    Sent,
    StoredEvent,
    Stream,
    Written,
    event_lags,
    event_message_number,
    index_processed,
    offered_rate,
    overload_rate,
    replica_cpus,
    shown_ms,
    step_books,
    sustained,
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


# The bridge replicas under test, each in its own process.


class CpuQuota:
    """A cgroup (v1 `cpu` controller, or v2 `cpu.max`) limiting a process to `share` of a CPU."""

    PERIOD_US = 100_000

    def __init__(self, name: str, share: float) -> None:
        v1 = Path("/sys/fs/cgroup/cpu")
        self.dir = (v1 if v1.is_dir() else Path("/sys/fs/cgroup")) / name
        self.dir.mkdir()
        quota = round(share * self.PERIOD_US)
        if (self.dir / "cpu.cfs_quota_us").exists():
            (self.dir / "cpu.cfs_period_us").write_text(str(self.PERIOD_US))
            (self.dir / "cpu.cfs_quota_us").write_text(str(quota))
        else:
            (self.dir / "cpu.max").write_text(f"{quota} {self.PERIOD_US}")

    def add(self, pid: int) -> None:
        (self.dir / "cgroup.procs").write_text(str(pid))

    def throttled_s(self) -> float:
        """How long the cgroup's tasks were held back by the quota so far."""
        for line in (self.dir / "cpu.stat").read_text().splitlines():
            name, value = line.split()
            if name == "throttled_time":  # v1, ns
                return int(value) / 1e9
            if name == "throttled_usec":  # v2
                return int(value) / 1e6
        return 0.0

    def remove(self) -> None:
        with contextlib.suppress(OSError):  # a task still in it: freed with the last one
            self.dir.rmdir()


class BridgeChild:
    def __init__(
        self,
        mode: str,
        replica: str,
        settings: FleetSettings,
        workdir: Path,
        cpu: int,
        flush_interval: float,
        quota: float | None = None,
        profile: bool = False,
        switch_interval: float | None = None,
    ) -> None:
        self.mode, self.replica, self.cpu = mode, replica, cpu
        self.heartbeat = workdir / f"{replica}-heartbeat.json"
        self.records = workdir / f"{replica}-records.json"
        self.log = workdir / f"{replica}-bridge.log"
        argv = [
            "taskset", "-c", str(cpu), sys.executable, str(ROOT / "bench" / "ingest_bridge.py"), mode,
            "--heartbeat-file", str(self.heartbeat), "--records", str(self.records),
            "--flush-interval", str(flush_interval), "--replica", replica,
        ]  # fmt: skip
        if profile:
            argv += ["--profile", str(workdir / f"{replica}.prof")]
        if switch_interval is not None:
            argv += ["--switch-interval", str(switch_interval)]
        env = {
            **os.environ,
            **prefect_env(settings),
            **fleet_env(settings),
            "PYTHONPATH": str(ROOT),
        }
        self.quota = CpuQuota(f"bench-ingest-{os.getpid()}-{replica}", quota) if quota else None
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
            )
        if self.quota is not None:
            self.quota.add(self.proc.pid)
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

    def throttled_s(self) -> float:
        return self.quota.throttled_s() if self.quota is not None else 0.0

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

    def accounted(self) -> int:
        """Messages taken off the connection: handled, or coalesced (heartbeat every 0.5 s)."""
        counters = self.counters()
        return int(counters.get("received", 0)) + int(counters.get("health_coalesced", 0))

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not self.counters():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.replica} bridge did not get ready: see {self.log}")
            time.sleep(0.2)

    def snapshot(self) -> dict[str, Any]:
        """What the bridge recorded so far (SIGUSR1: it writes its records)."""
        self.records.unlink(missing_ok=True)
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 60
        while not self.records.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"the {self.replica} bridge wrote no records: see {self.log}")
            time.sleep(0.1)
        document: dict[str, Any] = json.loads(self.records.read_text())
        return document

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

    def stop(self) -> tuple[dict[str, Any], float]:
        hwm = self.hwm_mb()
        self.threads_cpu = self.thread_cpu()
        self.records.unlink(missing_ok=True)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(120)
        self._done.set()
        if self.quota is not None:
            self.quota.remove()
        document: dict[str, Any] = json.loads(self.records.read_text())
        return document, hwm


@dataclass
class Records:
    """What the replicas recorded, together and per replica."""

    messages: list[Processed]
    writes: list[Written]
    coalesced: set[Key]
    by_replica: dict[str, dict[Key, int]]  # the messages each replica handled: when it was done

    @classmethod
    def of(cls, documents: dict[str, dict[str, Any]]) -> Records:
        messages, writes, coalesced, by_replica = [], [], set(), {}
        for replica, document in documents.items():
            mine = [Processed(*row) for row in document["messages"]]
            messages += mine
            writes += [Written(*row) for row in document["writes"]]
            coalesced |= {Coalesced(*row).key for row in document.get("coalesced", [])}
            by_replica[replica] = {m.key: m.done_ms for m in mine}
        return cls(messages, writes, coalesced, by_replica)

    def handled(self, replica: str, sent: list[Sent]) -> dict[str, Any]:
        """How many of `sent` the replica handled, and how fast (from the first's publish to the
        last's handling)."""
        done = self.by_replica[replica]
        mine = [(s.sent_at_ms, done[s.key]) for s in sent if s.key in done]
        if not mine:
            return {"handled": 0, "handled_per_s": 0.0}
        span_s = (max(d for _, d in mine) - min(a for a, _ in mine)) / 1000
        return {"handled": len(mine), "handled_per_s": round(len(mine) / max(span_s, 0.001), 1)}

    def books(self, sent: list[Sent], read_ms: int, history: list[Sent]) -> dict[str, Any]:
        return step_books(
            sent, index_processed(self.messages), self.writes, read_ms, history, self.coalesced
        ).as_dict()


class Replicas:
    """The replicas of one path, on the shared subscription."""

    def __init__(self, children: list[BridgeChild]) -> None:
        self.children = children

    def wait_ready(self) -> None:
        for child in self.children:
            child.wait_ready()

    def wait_accounted(self, total: int, timeout: float) -> bool:
        """Until the replicas have taken in `total` messages together."""
        deadline = time.monotonic() + timeout
        while sum(child.accounted() for child in self.children) < total:
            if time.monotonic() > deadline or any(c.proc.poll() is not None for c in self.children):
                return False
            time.sleep(0.1)
        return True

    def snapshot(self) -> tuple[Records, int]:
        documents = {child.replica: child.snapshot() for child in self.children}
        return Records.of(documents), now_ms()


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


# A path: its replicas, warm-up, steps.


@dataclass
class Step:
    rate: int
    sent: list[Sent]
    publish_s: float
    began_ms: int
    drained_ms: int
    drained: bool
    overload: bool  # twice the highest sustained rate
    publisher_cpu_s: float  # this process: the stream, the SDK's threads
    broker_cpu_s: float
    replicas: dict[str, dict[str, Any]]  # per replica: CPU, RSS, throttled, counters
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


def cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def warm_up(feed: Feed, replicas: Replicas, cameras: int) -> float:
    """Each camera's first two messages, in chunks the bridge catches up with: none lost."""
    began = time.monotonic()
    left = 2 * cameras
    while left:
        chunk = min(WARMUP_CHUNK, left)
        feed.publish(chunk, None)
        left -= chunk
        if not replicas.wait_accounted(feed.acked, 120):
            raise RuntimeError("the bridge did not take the warm-up in")
    deadline = time.monotonic() + 120  # every camera's first shadow written
    while (
        sum(c.counters().get("shadow_writes", 0) for c in replicas.children) < cameras
        and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    return time.monotonic() - began


def run_step(
    feed: Feed,
    replicas: Replicas,
    broker: psutil.Process,
    rate: int,
    overload: bool,
    args: argparse.Namespace,
) -> Step:
    me = psutil.Process()
    began, began_ms = time.monotonic(), now_ms()
    before = {c.replica: (c.cpu_seconds(), c.throttled_s()) for c in replicas.children}
    mine, broker_before = cpu_s(me), cpu_s(broker)
    sent, took = feed.publish(rate * args.seconds, rate)
    publisher_cpu, broker_cpu = cpu_s(me) - mine, cpu_s(broker) - broker_before
    cpu = {c.replica: c.cpu_seconds() - before[c.replica][0] for c in replicas.children}
    throttled = {c.replica: c.throttled_s() - before[c.replica][1] for c in replicas.children}
    drained = replicas.wait_accounted(feed.acked, args.drain_seconds)
    drained_ms = now_ms()
    time.sleep(SETTLE_S)  # the changes' shadow writes and events
    records, read_ms = replicas.snapshot()
    span_s = max(took, 0.001)
    per_replica = {}
    for c in replicas.children:
        counters = c.counters()
        per_replica[c.replica] = {
            "cpu": c.cpu,
            "cpu_s": round(cpu[c.replica], 2),
            "cpu_share": round(cpu[c.replica] / span_s, 2),
            "throttled_s": round(throttled[c.replica], 2),
            "rss_peak_mb": c.peak_rss_mb(began),
            "health_coalesced_total": counters.get("health_coalesced"),
            "backlog_max_total": counters.get("backlog_max"),
        }
    step = Step(
        rate=rate,
        sent=sent,
        publish_s=round(took, 2),
        began_ms=began_ms,
        drained_ms=drained_ms,
        drained=drained,
        overload=overload,
        publisher_cpu_s=round(publisher_cpu, 2),
        broker_cpu_s=round(broker_cpu, 2),
        replicas=per_replica,
        load=round(os.getloadavg()[0], 2),
        cpu_pressure=cpu_pressure(),
    )
    step.books = records.books(sent, read_ms, feed.sent)
    return step


def say(step: Step, label: str) -> None:
    b = step.books
    print(
        f"{label} {step.rate}/s{' (2x)' if step.overload else ''}: published in {step.publish_s} s "
        f"({len(step.sent) / max(step.publish_s, 0.001):.0f}/s), lost {b['lost_by_kind']}, "
        f"coalesced {b['coalesced_by_kind']}, intake p99 {b['intake']['p99_ms']} ms, "
        f"replica CPU {[r['cpu_share'] for r in step.replicas.values()]}, "
        f"publisher cpu {step.publisher_cpu_s} s, load {step.load}",
        file=sys.stderr,
        flush=True,
    )


def run_path(mode: str, count: int, ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    label = f"{mode} x{count}"
    cpus = args.cpus or replica_cpus(count, os.cpu_count() or 1)
    children: list[BridgeChild] = []
    steps: list[Step] = []
    documents: dict[str, dict[str, Any]] = {}
    hwm: dict[str, float] = {}
    try:
        for i in range(count):
            children.append(
                BridgeChild(
                    mode,
                    f"bench-{mode}-{count}x{i}",
                    ctx.settings,
                    ctx.workdir,
                    cpus[i % len(cpus)],
                    args.flush_interval,
                    args.cpu_quota,
                    args.profile_bridge,
                    args.switch_interval,
                )
            )
        replicas = Replicas(children)
        replicas.wait_ready()
        feed = Feed(ctx.pubs, Stream(ctx.ids, args.cycle), ctx.topics)
        path_began_ms = now_ms()
        warm_s = warm_up(feed, replicas, len(ctx.ids))
        print(f"{label}: warm-up {warm_s:.1f} s", file=sys.stderr, flush=True)
        for rate in args.rates:
            step = run_step(feed, replicas, ctx.broker, rate, False, args)
            steps.append(step)
            say(step, label)
            if not sustained(step.books, LIMIT_MS) and not args.keep_going:
                break
        doubled = overload_rate(
            (offered_rate(s.rate, len(s.sent), s.publish_s), sustained(s.books, LIMIT_MS))
            for s in steps
        )
        if args.overload and doubled is not None:
            step = run_step(feed, replicas, ctx.broker, doubled, True, args)
            steps.append(step)
            say(step, label)
    finally:
        for child in children:
            documents[child.replica], hwm[child.replica] = child.stop()
    records, read_ms = Records.of(documents), now_ms()
    events = read_events(ctx.sample, path_began_ms)
    out_steps = [step_result(step, records, feed, events, ctx, mode, read_ms) for step in steps]
    by_thread: dict[str, float] = {}
    for child in children:
        names: dict[str, str] = documents[child.replica].get("threads", {})
        for tid, seconds in child.threads_cpu.items():
            name = names.get(str(tid), "native (awscrt, ...)")
            name = name.split("_")[0] if name.startswith(("shadow", "start")) else name
            name = "mqtt callbacks (awscrt's)" if name.startswith("Dummy") else name
            by_thread[name] = round(by_thread.get(name, 0.0) + seconds, 1)
    if steps:  # the collector's pauses while the steps ran (start-up's are not the bridge's)
        first, last = steps[0].began_ms, steps[-1].drained_ms
        pauses = [
            ms
            for document in documents.values()
            for at, ms in document.get("gc_pauses", [])
            if first <= at <= last
        ]
    else:
        pauses = []
    counters = [document.get("counters", {}) for document in documents.values()]
    logs = {child.replica: child.log.read_text(errors="replace") for child in children}
    processed = index_processed(records.messages)
    acked_keys = {s.key for s in feed.sent if s.acked}
    return {
        "path": mode,
        "replicas": count,
        "cpu_affinity": {c.replica: c.cpu for c in children},
        "cpu_quota": args.cpu_quota,
        "warm_up_s": round(warm_s, 1),
        "steps": out_steps,
        "sustained_per_s": max(
            (s["rate"] for s in out_steps if s["passed"] and not s["overload"]), default=None
        ),
        "peak_rss_mb": hwm,
        "cpu_s_by_thread": dict(sorted(by_thread.items(), key=lambda kv: -kv[1])),
        "gc_pauses_over_5_ms": len(pauses),
        "gc_pause_max_ms": max(pauses, default=0.0),
        # Motion on cameras without a stream processor: each start the gate allows fails.
        "log_lines": {
            replica: {
                "analysis_start_failed": log.count("cannot start analysis"),
                "errors": log.count("| ERROR |") + log.count("Traceback"),
            }
            for replica, log in logs.items()
        },
        "accounting": {
            "published": len(feed.sent),
            "acked": feed.acked,
            **{
                f"bridge_{name}": sum(c.get(name, 0) for c in counters)
                for name in (
                    "received",
                    "valid",
                    "invalid",
                    "health_coalesced",
                    "handler_errors",
                    "shadow_writes",
                    "shadow_failures",
                )
            },
            "backlog_max": max((c.get("backlog_max", 0) for c in counters), default=0),
            "processed_distinct": len(processed),
            "duplicates": len(records.messages) - len(processed),
            "coalesced_distinct": len(records.coalesced),
            "unaccounted": len(acked_keys - processed.keys() - records.coalesced),
        },
    }


def step_result(
    step: Step,
    records: Records,
    feed: Feed,
    events: list[StoredEvent],
    ctx: Context,
    mode: str,
    read_ms: int,
) -> dict[str, Any]:
    """A step's books from the replicas' final records (later writes included), its events."""
    books = records.books(step.sent, read_ms, feed.sent)
    stored, missing = event_lags(step.sent, events, set(ctx.sample), mode == "naive", read_ms)
    emitted = count_events(ctx.api_url, step.began_ms, step.drained_ms)
    window_s = (step.drained_ms - step.began_ms) / 1000
    span_s = max(step.publish_s, 0.001)
    replicas = {
        name: {**r, **records.handled(name, step.sent)} for name, r in step.replicas.items()
    }
    return {
        "rate": step.rate,
        "overload": step.overload,
        "seconds": len(step.sent) // step.rate,
        "publish_s": step.publish_s,
        "published_per_s": round(len(step.sent) / span_s, 1),
        "publisher_cpu_share": round(step.publisher_cpu_s / span_s, 2),
        "broker_cpu_share": round(step.broker_cpu_s / span_s, 2),
        "drained": step.drained,
        **books,
        "replica": replicas,
        "event_to_server": stored,
        "events_missing": missing,
        "events_emitted": emitted,
        "events_per_s": round(emitted / window_s, 1) if window_s > 0 else None,
        "load_average": step.load,
        "cpu_pressure_avg10": step.cpu_pressure,
        "passed": sustained(books, LIMIT_MS),
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
    broker: psutil.Process


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of the process and of its children (threads made later inherit it)."""
    for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        for task in Path(f"/proc/{process.pid}/task").iterdir():
            try:
                os.sched_setaffinity(int(task.name), cpus)
            except OSError:  # a thread that ended meanwhile
                continue


def isolate(settings: FleetSettings, bridge_cpus: set[int]) -> list[int]:
    """The stack's processes and this one (the publishers) on the other CPUs: the bridges' CPUs
    are left to the bridges (and to whatever else runs on the machine)."""
    others = set(range(os.cpu_count() or 1)) - bridge_cpus
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


def runs(args: argparse.Namespace) -> list[tuple[str, int]]:
    """(path, replicas) in order: the real bridge at each replica count, then the naive one."""
    out = [("real", count) for count in args.replicas] if "real" in args.paths else []
    return out + ([("naive", 1)] if "naive" in args.paths else [])


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    settings = local_settings(workdir / "home", status_interval_seconds=3600)
    ids = [f"{PREFIX}{i:04d}" for i in range(args.cameras)]
    paths: list[dict[str, Any]] = []
    errors: list[str] = []
    others: list[int] | None = None
    cpus = os.cpu_count() or 1
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
        stop(settings, PartName.BRIDGE)  # ours replace it: a replica would share the subscription
        if args.isolate:
            bridge_cpus = set(args.cpus or replica_cpus(max(args.replicas), cpus))
            others = isolate(settings, bridge_cpus)
        cert, key = publisher_identity(rt, workdir / "publisher")
        layout = StackLayout(settings.stack_dir)
        broker = psutil.Process(int(layout.pid_file(PartName.MOSQUITTO).read_text().strip()))
        with Publishers(
            cert, key, layout.ca_cert, status.mqtt.host, status.mqtt.port, args.publishers
        ) as pubs:
            ctx = Context(
                settings=settings,
                workdir=workdir,
                ids=ids,
                sample=ids[:: args.sample_every],
                pubs=pubs,
                topics=[{k: topic(c, k) for k in TopicKind} for c in ids],
                api_url=prefect_env(settings)["PREFECT_API_URL"],
                broker=broker,
            )
            for mode, count in runs(args):
                try:
                    paths.append(run_path(mode, count, ctx, args))
                except Exception as err:
                    errors.append(f"{mode} x{count}: {type(err).__name__}: {err}")
                    print(f"{mode} x{count} failed: {err!r}", file=sys.stderr, flush=True)
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
            "motion_share": round(1 / args.cycle, 3),
            "publishers": args.publishers,
            "flush_interval_s": args.flush_interval,
            "sample_cameras": len(ids[:: args.sample_every]),
            "drain_seconds": args.drain_seconds,
            "replicas": args.replicas,
            "replica_cpu_quota": args.cpu_quota,
            "replica_switch_interval_s": args.switch_interval,
            "stack_and_publishers_cpus": others,
            "cpus": cpus,
            "workdir": str(workdir),
        },
        "paths": paths,
        "broker_dropped_lines": broker_log.count("Outgoing messages are being dropped"),
        "errors": errors,
    }


# Output.


def _kinds(counts: dict[str, int]) -> str:
    return "/".join(str(counts[kind.value]) for kind in KINDS)


def table(result: dict[str, Any]) -> Table:
    s = result["settings"]
    quota = (
        f", each limited to {s['replica_cpu_quota']:.0%} of a CPU" if s["replica_cpu_quota"] else ""
    )
    main = Table(
        title=f"{s['cameras']} cameras: health, status ({s['changes_share']:.0%} state changes), "
        f"motion ({s['motion_share']:.0%}); {s['seconds']} s per rate; replicas pinned to a CPU"
        f"{quota} of {s['cpus']}; lags from publish; lost and coalesced: motion/status/health"
    )
    columns = [
        "path", "rate/s (made)", "handled/s", "per replica/s", "lost", "coalesced", "intake p50",
        "intake p99", "change→shadow p99", "event p99", "replica CPU", "throttled", "RSS MB",
        "pub CPU", "load", "ok",
    ]  # fmt: skip
    for column in columns:
        main.add_column(column, justify="left" if column == "path" else "right")
    for path in result["paths"]:
        for step in path["steps"]:
            replicas = step["replica"].values()
            main.add_row(
                f"{path['path']} x{path['replicas']}",
                f"{step['rate']}{' (2x)' if step['overload'] else ''} "
                f"({step['published_per_s']:.0f})",
                f"{step['handled_per_s']:.0f}",
                " + ".join(f"{r['handled_per_s']:.0f}" for r in replicas),
                _kinds(step["lost_by_kind"]),
                _kinds(step["coalesced_by_kind"]),
                shown_ms(step["intake"], "p50"),
                shown_ms(step["intake"], "p99"),
                shown_ms(step["change_to_shadow"], "p99"),
                shown_ms(step["event_to_server"], "p99"),
                " + ".join(f"{r['cpu_share']:.0%}" for r in replicas),
                " + ".join(f"{r['throttled_s']:.0f} s" for r in replicas),
                " + ".join(f"{r['rss_peak_mb']:.0f}" for r in replicas),
                f"{step['publisher_cpu_share']:.0%}",
                f"{step['load_average']:.2f}",
                "yes" if step["passed"] else "no",
            )
    return main


def summary(result: dict[str, Any]) -> list[str]:
    lines = []
    for path in result["paths"]:
        a = path["accounting"]
        lines.append(
            f"{path['path']} x{path['replicas']} (CPUs {path['cpu_affinity']}): sustained "
            f"{path['sustained_per_s'] or '-'} msg/s (none lost or coalesced, intake p99 < 1 s); "
            f"peak RSS {path['peak_rss_mb']} MB; published {a['published']}, acked {a['acked']}, "
            f"bridges received {a['bridge_received']} (valid {a['bridge_valid']}, invalid "
            f"{a['bridge_invalid']}, handler errors {a['bridge_handler_errors']}), coalesced "
            f"{a['bridge_health_coalesced']}, backlog max {a['backlog_max']}; processed "
            f"{a['processed_distinct']} distinct + {a['duplicates']} duplicates, coalesced "
            f"{a['coalesced_distinct']}, unaccounted {a['unaccounted']}; shadow writes "
            f"{a['bridge_shadow_writes']} (failed {a['bridge_shadow_failures']})"
        )
    lines.append(
        f"broker log lines about dropping messages for a slow subscriber: "
        f"{result['broker_dropped_lines']}"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=1000)
    parser.add_argument("--rates", type=int, nargs="+", default=[1000, 2000, 3000, 4000])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--cycle", type=int, default=100)
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument(
        "--replicas", type=int, nargs="+", default=[1], help="replica counts, a path each"
    )
    parser.add_argument(
        "--cpus",
        type=int,
        nargs="+",
        help="the replicas' CPUs, replica i on the i-th mod their number (default: one of its "
        "own each, leaving CPU 0 to the stack and the publishers; too few: they share the last)",
    )
    parser.add_argument(
        "--cpu-quota",
        type=float,
        help="limit each replica to this share of a CPU (a cgroup), e.g. 0.25",
    )
    parser.add_argument("--flush-interval", type=float, default=15.0)
    parser.add_argument(
        "--switch-interval",
        type=float,
        help="the replicas' switch interval in seconds (default: the bridge's own, 0.0002; "
        "Python's is 0.005)",
    )
    parser.add_argument("--paths", nargs="+", choices=["real", "naive"], default=["real"])
    parser.add_argument("--sample-every", type=int, default=20)
    parser.add_argument("--drain-seconds", type=float, default=30)
    parser.add_argument("--keep-going", action="store_true")
    parser.add_argument(
        "--no-overload",
        dest="overload",
        action="store_false",
        help="no step at twice the highest sustained rate",
    )
    parser.add_argument(
        "--isolate",
        action="store_true",
        help="keep the stack and the publishers off the bridges' CPUs (with 3 CPUs or more: on "
        "2 the stack starves on the one left, the broker first)",
    )
    parser.add_argument(
        "--profile-bridge",
        action="store_true",
        help="cProfile each bridge's main thread (the flush loop): <workdir>/<replica>.prof",
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "ingest.json")
    args = parser.parse_args()
    result = run(args)
    args.output.parent.mkdir(exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    console = Console(width=240)
    console.print(table(result))
    for line in summary(result):
        console.print(line)
    for error in result["errors"]:
        console.print(f"[red]failed[/] {error}")
    console.print(f"written: {args.output}")


if __name__ == "__main__":
    main()
