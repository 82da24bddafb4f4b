"""Benchmark: the fleet at several sizes (`--sizes 1000 3000 10000`), every camera registered and
on its own mTLS MQTT connection (`bench/fleet_sim.py`), through one local stack of the
benchmark's own on a `frames` fleet, with `--replicas` bridge replicas on the shared subscription.

    .venv/bin/python -m bench.fleet [--sizes 100] [--batch 250] [--per-process 5000]
        [--replicas 2] [--baseline-seconds 60] [--motion-per-hour 6] [--storms 0.01 0.05]
        [--storm-seconds 60] [--flip-sample 20] [--drain-seconds 20]

For each size in turn: registers the cameras up to it through the register-cameras flow in
batches (cameras per second per batch; at the last size the last batch again, which must change
nothing), runs the fleet-status flow once (seconds, AWS calls by operation), connects the whole
fleet from simulator children of `--per-process` cameras each, runs a baseline (motion
`--motion-per-hour` a camera) and a storm of each `--storms` fraction of the fleet, then flips
the status of `--flip-sample` cameras (offline, online) while their shadows are polled. Per
size: connections up, motion published against motion the bridge accounted for (an event naming
its sequence: `camera.analysis.requested`, `.coalesced` or `.skipped`), motion to the analysis
queue (publish to the start's return) p50/p99 per phase, shadow lag p50/p99 for status changes,
each replica's messages per second and CPU, health coalesced, the simulators' CPU and RSS per
1,000 connections, each part's peak RSS and the peak load average. Prints one table, writes
bench/results/fleet.json (and fleet-partial.json after each size).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import psutil
from botocore.client import BaseClient

from bench.ingest_core import Lag, percentiles
from bench.local_aws import local_settings
from cli.prefect_context import run_flow
from cloud import shadow
from cloud.models import Analyzer, CameraSpec
from cloud.settings import FleetSettings
from device.messages import now_ms
from flows import runtime
from flows.camera_events import read_cameras_events
from flows.events import ANALYSIS_COALESCED, ANALYSIS_REQUESTED, ANALYSIS_SKIPPED
from flows.fleet_status import fleet_status_flow
from flows.register import register_cameras_flow
from stack.supervisor.layout import PartName, StackLayout
from stack.supervisor.local_stack import down, prefect_env, up

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parent.parent
PREFIX = "sim-"
VERDICTS = [ANALYSIS_COALESCED.name, ANALYSIS_SKIPPED.name]
Key = tuple[str, int]


# Registration.


def register(
    settings: FleetSettings, ids: list[str], batch: int, fleet_before: int = 0
) -> list[dict[str, Any]]:
    """The register-cameras flow, one run per batch; cameras per second of each, and how many
    cameras each run changed (none on a re-run)."""
    rows = []
    for start in range(0, len(ids), batch):
        specs = [CameraSpec(camera_id=c) for c in ids[start : start + batch]]
        began = time.perf_counter()
        outcomes = run_flow(settings, register_cameras_flow(cameras=specs))
        took = time.perf_counter() - began
        failed = [o.camera_id for o in outcomes if o.error]
        rows.append(
            {
                "fleet_before": fleet_before + start,
                "cameras": len(specs),
                "seconds": round(took, 1),
                "cameras_per_s": round(len(specs) / took, 1),
                "failed": len(failed),
                "changed": sum(1 for o in outcomes if o.result and o.result.changed),
            }
        )
        print(f"registered {rows[-1]}", file=sys.stderr, flush=True)
    return rows


# The simulator children.


class Shard:
    def __init__(self, index: int, ids: list[str], bundles: Path, workdir: Path) -> None:
        self.ids = ids
        self.records_file = workdir / f"sim-{index}.records.json"
        ids_file = workdir / f"sim-{index}.ids"
        ids_file.write_text("\n".join(ids))
        self.log = (workdir / f"sim-{index}.log").open("w")
        argv = [
            sys.executable, "-m", "bench.fleet_sim", "--bundles", str(bundles),
            "--ids", str(ids_file), "--records", str(self.records_file), "--seed", str(index),
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        self.process = psutil.Process(self.proc.pid)

    def _stdin(self) -> IO[str]:
        assert self.proc.stdin is not None
        return self.proc.stdin

    def send(self, command: dict[str, Any] | str) -> None:
        line = command if isinstance(command, str) else json.dumps(command)
        self._stdin().write(line + "\n")
        self._stdin().flush()

    def answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"simulator {self.proc.pid} ended: see {self.log.name}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def cpu_s(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def rss_mb(self) -> float:
        return float(self.process.memory_info().rss / 2**20)

    def stop(self) -> list[dict[str, Any]]:
        self.send("stop")
        self.answer()
        self._stdin().close()
        self.proc.wait(60)
        records: list[dict[str, Any]] = json.loads(self.records_file.read_text())
        return records


def all_do(shards: list[Shard], command: dict[str, Any]) -> list[dict[str, Any]]:
    for shard in shards:
        shard.send(command)
    return [shard.answer() for shard in shards]


# Shadow lag: a sample of cameras polled while their status flips.


@dataclass
class ShadowWatch:
    """Polls the sample's shadows; records when each presence (with its `status_at_ms`) was
    first seen."""

    rt: runtime.Runtime
    cameras: list[str]
    interval_s: float = 0.2
    seen: dict[tuple[str, str, int], int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, name="shadow-watch", daemon=True).start()

    def _run(self) -> None:
        with ThreadPoolExecutor(8) as pool:
            while not self._stop.wait(self.interval_s):
                for camera, reported in zip(
                    self.cameras, pool.map(self._read, self.cameras), strict=True
                ):
                    if reported is not None and reported.presence is not None:
                        key = (camera, reported.presence.value, reported.status_at_ms or 0)
                        self.seen.setdefault(key, now_ms())

    def _read(self, camera: str) -> shadow.CameraShadow | None:
        try:
            return shadow.get_reported(self.rt.clients, self.rt.names.thing(camera))
        except Exception:
            return None

    def stop(self) -> None:
        self._stop.set()


def shadow_lags(records: list[dict[str, Any]], seen: dict[tuple[str, str, int], int]) -> list[Lag]:
    """Per flipped status: from its publish to the first poll that saw that presence arrive after
    it (a presence received at or after the publish, by the bridge's clock)."""
    lags = []
    for r in records:
        if r["phase"] != "flip" or r["kind"] != "status" or r["acked_ms"] is None:
            continue
        times = [
            at
            for (camera, presence, status_at), at in seen.items()
            if camera == r["camera"] and presence == r["presence"] and status_at >= r["sent_ms"]
        ]
        if times:
            lags.append(Lag(float(min(times) - r["sent_ms"])))
        else:
            lags.append(Lag(float(now_ms() - r["sent_ms"]), at_least=True))
    return lags


# The bridge's accounting of motion.


def account_motion(records: list[dict[str, Any]], events: list[Any]) -> dict[str, Any]:
    """Each acknowledged motion against the bridge's events naming its sequence: a
    `camera.analysis.requested` (a session started for it: from the publish to the start's
    return is its time to start) or a verdict (coalesced, skipped)."""
    motion = {
        (r["camera"], r["seq"]): r for r in records if r["kind"] == "motion" and r["acked_ms"]
    }
    verdicts: dict[Key, str] = {}
    starts: dict[Key, int] = {}  # (camera, sequence) -> when its session's start returned
    for event in events:
        if event.payload.get("sequence") is None:
            continue
        key = (event.resource.id.removeprefix("camera."), int(event.payload["sequence"]))
        if event.event == ANALYSIS_REQUESTED.name:
            starts[key] = int(event.payload["started_at_ms"])
        else:
            verdicts[key] = str(event.payload["reason"])
    to_start: dict[str, list[Lag]] = {}
    for key, r in motion.items():
        if key in starts:
            to_start.setdefault(r["phase"], []).append(Lag(float(starts[key] - r["sent_ms"])))
    started = [k for k in motion if k in starts]
    reasons = Counter(verdicts[k] for k in motion if k in verdicts and k not in starts)
    unaccounted = [k for k in motion if k not in verdicts and k not in starts]
    return {
        "to_start": {phase: percentiles(lags, (50, 99)) for phase, lags in to_start.items()},
        "published": sum(1 for r in records if r["kind"] == "motion"),
        "acked": len(motion),
        "started": len(started),
        "verdicts": dict(reasons),
        "accounted": len(motion) - len(unaccounted),
        "unaccounted": len(unaccounted),
        "unaccounted_sample": unaccounted[:10],
    }


def settled_motion(
    records: list[dict[str, Any]], since_ms: int, wait_s: float = 60.0
) -> dict[str, Any]:
    """The accounting once the events settle: read again while some motion is unaccounted (the
    bridge emits its events in the background), up to `wait_s`."""
    movers = sorted({r["camera"] for r in records if r["kind"] == "motion"})
    deadline = time.monotonic() + wait_s
    while True:
        books = account_motion(records, read_verdicts(movers, since_ms))
        if books["unaccounted"] == 0 or time.monotonic() > deadline:
            return books
        time.sleep(5)


def read_verdicts(ids: list[str], since_ms: int) -> list[Any]:
    since = datetime.fromtimestamp(since_ms / 1000 - 5, UTC)
    names = [*VERDICTS, ANALYSIS_REQUESTED.name]
    out: list[Any] = []
    for start in range(0, len(ids), 200):
        out.extend(asyncio.run(read_cameras_events(ids[start : start + 200], names, since)))
    return out


# Measures of the stack's parts.


@dataclass
class PeakSampler:
    """Every `interval_s`: each process's RSS (with its children) and the load average; keeps the
    peaks."""

    processes: dict[str, int]
    interval_s: float = 2.0
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    peak_load: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, name="peaks", daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.peak_load = max(self.peak_load, os.getloadavg()[0])
            for name, pid in list(self.processes.items()):
                rss = tree_rss_mb(pid)
                if rss is not None:
                    self.peak_rss_mb[name] = max(self.peak_rss_mb.get(name, 0.0), rss)

    def stop(self) -> None:
        self._stop.set()


def tree_rss_mb(pid: int) -> float | None:
    try:
        process = psutil.Process(pid)
        rss = sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
        return round(float(rss) / 2**20, 1)
    except psutil.Error:
        return None


def part_pids(settings: FleetSettings) -> dict[str, int]:
    layout = StackLayout(settings.stack_dir)
    pids = {}
    for part in PartName:
        try:
            pids[part.value] = int(layout.pid_file(part).read_text().strip())
        except (OSError, ValueError):
            continue
    return pids


class Replica:
    """Another bridge replica on the shared subscription, in the stack bridge's environment."""

    def __init__(self, settings: FleetSettings, name: str, workdir: Path) -> None:
        self.name = name
        bridge_pid = part_pids(settings)[PartName.BRIDGE.value]
        env = dict(psutil.Process(bridge_pid).environ())
        self.heartbeat = workdir / f"bridge-{name}.json"
        self.log = (workdir / f"bridge-{name}.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.bridge", "--replica", name,
             "--heartbeat-file", str(self.heartbeat)],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not heartbeat_counters(self.heartbeat).get("ready"):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"bridge replica {name} not ready: see {self.log.name}")
            time.sleep(0.5)

    def stop(self) -> None:
        """SIGTERM, and SIGKILL if it has not ended within a minute (a replica with a long
        queue of shadow writes may take longer; the run's results must not be lost to it)."""
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def heartbeat_counters(path: Path) -> dict[str, Any]:
    """The heartbeat's counters, with its readiness."""
    try:
        beat = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    counters: dict[str, Any] = dict(beat.get("counters", {}))
    counters["ready"] = bool(beat.get("ready"))
    return counters


@dataclass
class ReplicaWatch:
    """Each replica's messages and CPU over a span: messages per second and share of a core."""

    replicas: dict[str, tuple[int, Path]]  # name -> pid, heartbeat file
    _began: dict[str, tuple[float, int, float]] = field(default_factory=dict)

    def mark(self) -> None:
        for name, (pid, beat) in self.replicas.items():
            self._began[name] = (time.monotonic(), self._received(beat), _cpu_s(pid))

    def since(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name, (pid, beat) in self.replicas.items():
            t0, received0, cpu0 = self._began[name]
            span = time.monotonic() - t0
            counters = heartbeat_counters(beat)
            out[name] = {
                "messages_per_s": round((self._received(beat) - received0) / span, 1),
                "cpu": round((_cpu_s(pid) - cpu0) / span, 3),
                "health_coalesced": counters.get("health_coalesced"),
                "backlog_max": counters.get("backlog_max"),
                "received": counters.get("received"),
            }
        return out

    @staticmethod
    def _received(beat: Path) -> int:
        return int(heartbeat_counters(beat).get("received", 0))


def _cpu_s(pid: int) -> float:
    try:
        times = psutil.Process(pid).cpu_times()
        return float(times.user + times.system)
    except psutil.Error:
        return 0.0


def fleet_status_cost(settings: FleetSettings, rt: runtime.Runtime) -> dict[str, Any]:
    """One fleet-status run: seconds and AWS calls by operation (counted on the runtime's
    clients, which the flow uses in this process)."""
    calls: Counter[str] = Counter()
    original = BaseClient._make_api_call

    def counted(client: BaseClient, operation: str, params: Any) -> Any:
        calls[operation] += 1
        return original(client, operation, params)

    BaseClient._make_api_call = counted  # type: ignore[method-assign]
    began = time.perf_counter()
    try:
        run_flow(settings, fleet_status_flow())
        error = None
    except Exception as err:
        error = f"{type(err).__name__}: {err}"
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]
    return {
        "seconds": round(time.perf_counter() - began, 1),
        "calls": sum(calls.values()),
        "by_operation": dict(calls.most_common()),
        "error": error,
    }


def phase_rates(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for phase in sorted({r["phase"] for r in records}):
        rows = [r for r in records if r["phase"] == phase]
        span = (max(r["sent_ms"] for r in rows) - min(r["sent_ms"] for r in rows)) / 1000
        acks = [r["acked_ms"] - r["sent_ms"] for r in rows if r["acked_ms"]]
        out[phase] = {
            "publishes": len(rows),
            "by_kind": dict(Counter(r["kind"] for r in rows)),
            "failed": sum(1 for r in rows if r["acked_ms"] is None),
            "per_s": round(len(rows) / span, 1) if span > 0 else None,
            "puback": percentiles([Lag(float(a)) for a in acks], (50, 99)),
        }
    return out


# The run.


def run(args: argparse.Namespace) -> dict[str, Any]:
    """One stack; the fleet registered up to each size in turn, then simulated whole."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    settings = local_settings(
        workdir / "home", status_interval_seconds=3600, analyzer=Analyzer.FRAMES
    )
    sizes = sorted(args.sizes)
    ids = [f"{PREFIX}{i:05d}" for i in range(sizes[-1])]
    result: dict[str, Any] = {"sizes": {}, "workdir": str(workdir), "errors": []}
    shards: list[Shard] = []
    replicas: list[Replica] = []
    try:
        up(settings)
        os.environ.update(prefect_env(settings))
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()
        rt = runtime.configure(settings)
        for index in range(1, args.replicas):
            replicas.append(Replica(settings, f"bench-{index + 1}", workdir))
        registered = 0
        for size in sizes:
            sized: dict[str, Any] = {"cameras": size}
            sized["registration"] = register(settings, ids[registered:size], args.batch, registered)
            registered = size
            if size == sizes[-1]:  # a re-run of the last batch: nothing to change
                sized["rerun"] = register(settings, ids[-args.batch :], args.batch, size)[0]
            sized["fleet_status"] = fleet_status_cost(settings, rt)
            print(f"fleet status at {size}: {sized['fleet_status']}", file=sys.stderr, flush=True)
            sized.update(
                simulate(args, settings, rt, ids[:size], workdir / str(size), shards, replicas)
            )
            result["sizes"][size] = sized
            (RESULTS / "fleet-partial.json").write_text(json.dumps(result, default=str))
    except Exception as err:
        result["errors"].append(f"{type(err).__name__}: {err}")
        raise
    finally:
        for shard in shards:
            if shard.proc.poll() is None:
                shard.proc.kill()
        for replica in replicas:
            replica.stop()
        logs = workdir / "logs"
        shutil.copytree(StackLayout(settings.stack_dir).logs_dir, logs, dirs_exist_ok=True)
        down(settings, wipe=True)
    return result


def storms(
    args: argparse.Namespace, shards: list[Shard], replica_watch: ReplicaWatch
) -> tuple[dict[str, Any], float]:
    """Each storm in turn: its members and each replica's rate; the simulators' highest CPU."""
    out: dict[str, Any] = {}
    storm_cpu = 0.0
    for fraction in args.storms:
        name = f"storm-{fraction:.0%}"
        cpu1, t1 = sum(s.cpu_s() for s in shards), time.monotonic()
        replica_watch.mark()
        storm = all_do(shards, {"do": "storm", "fraction": fraction,
                                "seconds": args.storm_seconds, "name": name})  # fmt: skip
        cpu = (sum(s.cpu_s() for s in shards) - cpu1) / (time.monotonic() - t1)
        storm_cpu = max(storm_cpu, cpu)
        out[name] = {
            "members": sum(len(s.get("members", [])) for s in storm),
            "replicas": replica_watch.since(),
        }
        print(f"{name} done", file=sys.stderr, flush=True)
    return out, storm_cpu


def simulate(
    args: argparse.Namespace,
    settings: FleetSettings,
    rt: runtime.Runtime,
    ids: list[str],
    workdir: Path,
    shards: list[Shard],
    replicas: list[Replica],
) -> dict[str, Any]:
    workdir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    began_ms = now_ms()
    processes = -(-len(ids) // args.per_process)
    per = -(-len(ids) // processes)
    for index in range(processes):
        shards.append(
            Shard(index, ids[index * per : (index + 1) * per], settings.bundles_dir, workdir)
        )
    pids = part_pids(settings)
    sampler = PeakSampler(
        {**pids, **{f"bridge {r.name}": r.proc.pid for r in replicas},
         **{f"simulator {i}": s.proc.pid for i, s in enumerate(shards)}}
    )  # fmt: skip
    sampler.start()
    connected = [shard.answer() for shard in shards]
    out["connect"] = {
        "up": sum(c["up"] for c in connected),
        "failed": sum(c["failed"] for c in connected),
        "seconds": max(c["seconds"] for c in connected),
        "errors": [c["errors"] for c in connected if c["errors"]],
    }
    print(f"connected: {out['connect']}", file=sys.stderr, flush=True)
    # The connections' own memory: after connecting less before (the interpreter and imports).
    idle_rss = sum(c["rss_after_mb"] - c["rss_before_mb"] for c in connected)
    sample = ids[: args.flip_sample]
    watch = ShadowWatch(rt, sample)
    watch.start()
    layout = StackLayout(settings.stack_dir)
    replica_watch = ReplicaWatch(
        {"stack": (pids[PartName.BRIDGE.value], layout.bridge_heartbeat)}
        | {r.heartbeat.stem: (r.proc.pid, r.heartbeat) for r in replicas}
    )
    cpu0, t0 = sum(s.cpu_s() for s in shards), time.monotonic()
    replica_watch.mark()
    all_do(shards, {"do": "baseline", "seconds": args.baseline_seconds,
                    "motion_per_hour": args.motion_per_hour})  # fmt: skip
    baseline_cpu = (sum(s.cpu_s() for s in shards) - cpu0) / (time.monotonic() - t0)
    out["replicas_baseline"] = replica_watch.since()
    print("baseline done", file=sys.stderr, flush=True)
    out["storms"], storm_cpu = storms(args, shards, replica_watch)
    all_do(shards, {"do": "flip", "sample": sample, "hold_s": 5})
    time.sleep(args.drain_seconds)
    watch.stop()
    up_count = out["connect"]["up"] or 1
    out["simulator"] = {
        "processes": processes,
        "rss_mb_total": round(sum(c["rss_after_mb"] for c in connected), 1),
        "rss_mb_connections": round(idle_rss, 1),
        "rss_mb_per_1000": round(idle_rss / up_count * 1000, 1),
        "cpu_baseline": round(baseline_cpu, 3),
        "cpu_baseline_per_1000": round(baseline_cpu / up_count * 1000, 3),
        "cpu_storm": round(storm_cpu, 3),
    }
    out["replica_counters"] = {
        name: heartbeat_counters(beat) for name, (_pid, beat) in replica_watch.replicas.items()
    }
    records = [r for shard in shards for r in shard.stop()]
    shards.clear()
    sampler.stop()
    out["peak_rss_mb"] = sampler.peak_rss_mb
    out["peak_load"] = round(sampler.peak_load, 1)
    out["phases"] = phase_rates(records)
    lags = shadow_lags(records, watch.seen)
    out["shadow_lag"] = percentiles(lags, (50, 99))
    out["motion"] = settled_motion(records, began_ms)
    out["published_total"] = len(records)
    (workdir / "records.json").write_text(json.dumps(records))
    return out


def _size_rows(sized: dict[str, Any]) -> dict[str, str]:
    """One column of the table: the measures of one fleet size."""
    regs = sized["registration"]
    c, m, lag, fs = sized["connect"], sized["motion"], sized["shadow_lag"], sized["fleet_status"]
    row = {
        "registration, cameras/s (last batch before this size)": f"{regs[-1]['cameras_per_s']}",
        "connections up (connect time)": f"{c['up']} of {sized['cameras']} ({c['seconds']} s)",
        "motion published / acked / accounted (lost)": f"{m['published']} / {m['acked']} / "
        f"{m['accounted']} ({m['unaccounted']})",
        "shadow lag, status change, p50 / p99": f"{lag['p50_ms']} / {lag['p99_ms']} ms",
        "fleet-status run: seconds, AWS calls": f"{fs['seconds']} s, {fs['calls']}",
        "simulator per 1,000 connections: RSS, CPU (baseline)": f"{sized['simulator']['rss_mb_per_1000']}"
        f" MB, {sized['simulator']['cpu_baseline_per_1000']:.1%} of a core",
        "peak load average": f"{sized['peak_load']}",
    }
    if "rerun" in sized:
        r = sized["rerun"]
        row["registration re-run (no-op): cameras/s, changed"] = (
            f"{r['cameras_per_s']}, {r['changed']} of {r['cameras']}"
        )
    for phase, lags in sorted(m["to_start"].items()):
        row[f"motion → analysis queue, {phase}: p50 / p99"] = (
            f"{lags['p50_ms']} / {lags['p99_ms']} ms ({lags['samples']})"
        )
    spans = {"baseline": sized["replicas_baseline"]} | {
        name: storm["replicas"] for name, storm in sized["storms"].items()
    }
    for span, replicas in spans.items():
        row[f"bridge replicas, {span}: msg/s, CPU"] = "; ".join(
            f"{r['messages_per_s']}/s, {r['cpu']:.0%}" for r in replicas.values()
        )
    coalesced = [c.get("health_coalesced") for c in sized["replica_counters"].values()]
    row["bridge: health coalesced, backlog max"] = (
        ", ".join(
            f"{c.get('health_coalesced')}, {c.get('backlog_max')}"
            for c in sized["replica_counters"].values()
        )
        if coalesced
        else "-"
    )
    for part, rss in sorted(sized["peak_rss_mb"].items()):
        row[f"peak RSS: {part}"] = f"{rss} MB"
    return row


def report(result: dict[str, Any]) -> list[str]:
    sizes = result["sizes"]
    columns = {size: _size_rows(sized) for size, sized in sizes.items()}
    measures = list(dict.fromkeys(k for rows in columns.values() for k in rows))
    head = " | ".join(f"{int(size):,} cameras" for size in columns)
    lines = [f"| measure | {head} |", "|---" * (len(columns) + 1) + "|"]
    for measure in measures:
        cells = " | ".join(rows.get(measure, "-") for rows in columns.values())
        lines.append(f"| {measure} | {cells} |")
    db = RESULTS / "prefect_db.json"
    if db.exists():
        lines += [
            "",
            f"Prefect flow runs per second by database: see {db.name} (bench/prefect_db.py).",
        ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100])
    parser.add_argument("--per-process", type=int, default=5000, help="cameras per simulator")
    parser.add_argument("--replicas", type=int, default=2, help="bridge replicas")
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--baseline-seconds", type=float, default=60)
    parser.add_argument("--motion-per-hour", type=float, default=6.0)
    parser.add_argument("--storms", type=float, nargs="+", default=[0.01, 0.05])
    parser.add_argument("--storm-seconds", type=float, default=60)
    parser.add_argument("--flip-sample", type=int, default=20)
    parser.add_argument("--drain-seconds", type=float, default=20)
    parser.add_argument("--output", type=Path, default=RESULTS / "fleet.json")
    args = parser.parse_args()
    result = run(args)
    args.output.parent.mkdir(exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, default=str))
    print("\n".join(report(result)))
    print(f"written: {args.output}")


if __name__ == "__main__":
    main()
