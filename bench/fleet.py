"""Benchmark: N simulated cameras (`bench/fleet_sim.py`), each registered and on its own mTLS
MQTT connection, through a local stack of the benchmark's own on a `frames` fleet.

    .venv/bin/python -m bench.fleet [--cameras 100] [--processes 1] [--batch 250]
        [--baseline-seconds 60] [--storm 0.01] [--storm-seconds 60] [--flip-sample 20]

Registers the cameras through the register-cameras flow in batches (cameras per second per
batch), connects them from `--processes` simulator children, runs a baseline (motion
`--motion-per-hour` a camera) and a storm of `--storm` of the fleet, then flips the status of
`--flip-sample` cameras (offline, online) while their shadows are polled. Prints connections up,
connect time, publishes per second, motion published against motion the bridge accounted for (a
`camera.analysis.coalesced`/`skipped` event naming the sequence, or a `camera.analysis.started`
whose window starts at the motion's producer timestamp less the pre-roll), shadow lag p50/p99
for status changes, the simulators' CPU and RSS per 1,000 connections, and the broker's and
bridge's RSS; writes bench/results/fleet.json.
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

from bench.ingest_core import Lag, percentiles
from bench.local_aws import local_settings
from cli.prefect_context import run_flow
from cloud import shadow
from cloud.models import Analyzer, CameraSpec
from cloud.settings import FleetSettings
from device.messages import now_ms
from flows import runtime
from flows.camera_events import read_cameras_events
from flows.events import ANALYSIS_COALESCED, ANALYSIS_SKIPPED, ANALYSIS_STARTED
from flows.register import register_cameras_flow
from stack.supervisor.layout import PartName, StackLayout
from stack.supervisor.local_stack import down, prefect_env, up

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parent.parent
PREFIX = "sim-"
VERDICTS = [ANALYSIS_COALESCED.name, ANALYSIS_SKIPPED.name]
Key = tuple[str, int]


# Registration.


def register(settings: FleetSettings, ids: list[str], batch: int) -> list[dict[str, Any]]:
    """The register-cameras flow, one run per batch; cameras per second of each."""
    rows = []
    for start in range(0, len(ids), batch):
        specs = [CameraSpec(camera_id=c) for c in ids[start : start + batch]]
        began = time.perf_counter()
        outcomes = run_flow(settings, register_cameras_flow(cameras=specs))
        took = time.perf_counter() - began
        failed = [o.camera_id for o in outcomes if o.error]
        rows.append(
            {
                "fleet_before": start,
                "cameras": len(specs),
                "seconds": round(took, 1),
                "cameras_per_s": round(len(specs) / took, 1),
                "failed": len(failed),
            }
        )
        print(f"registered {start + len(specs)}: {rows[-1]}", file=sys.stderr, flush=True)
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


def account_motion(
    records: list[dict[str, Any]], events: list[Any], preroll_ms: int
) -> dict[str, Any]:
    motion = {
        (r["camera"], r["seq"]): r for r in records if r["kind"] == "motion" and r["acked_ms"]
    }
    verdicts: dict[Key, str] = {}
    starts: set[tuple[str, int]] = set()
    for event in events:
        camera = event.resource.id.removeprefix("camera.")
        if event.event == ANALYSIS_STARTED.name:
            if event.payload.get("attempt", 1) == 1 and not event.payload.get("follow_up"):
                starts.add((camera, int(event.payload["start_ms"])))
        elif event.payload.get("sequence") is not None:
            verdicts[(camera, int(event.payload["sequence"]))] = str(event.payload["reason"])
    started: set[Key] = set()
    for key, r in motion.items():
        # The producer timestamp is the send time in the simulator's payload.
        for delta in range(0, 3):  # the payload's ms and the record's may differ by a tick
            if (key[0], r["sent_ms"] - delta - preroll_ms) in starts:
                started.add(key)
    reasons = Counter(verdicts[k] for k in motion if k in verdicts)
    unaccounted = [k for k in motion if k not in verdicts and k not in started]
    return {
        "published": sum(1 for r in records if r["kind"] == "motion"),
        "acked": len(motion),
        "started": len(started),
        "verdicts": dict(reasons),
        "accounted": len(motion) - len(unaccounted),
        "unaccounted": len(unaccounted),
        "unaccounted_sample": unaccounted[:10],
    }


def read_verdicts(ids: list[str], since_ms: int) -> list[Any]:
    since = datetime.fromtimestamp(since_ms / 1000 - 5, UTC)
    names = [*VERDICTS, ANALYSIS_STARTED.name]
    out: list[Any] = []
    for start in range(0, len(ids), 200):
        out.extend(asyncio.run(read_cameras_events(ids[start : start + 200], names, since)))
    return out


# Measures of the stack's parts.


def part_rss_mb(settings: FleetSettings, part: PartName) -> float | None:
    try:
        pid = int(StackLayout(settings.stack_dir).pid_file(part).read_text().strip())
        process = psutil.Process(pid)
        rss = sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
        return round(float(rss) / 2**20, 1)
    except (OSError, ValueError, psutil.Error):
        return None


def bridge_counters(settings: FleetSettings) -> dict[str, Any]:
    try:
        beat = json.loads(StackLayout(settings.stack_dir).bridge_heartbeat.read_text())
    except (OSError, ValueError):
        return {}
    counters: dict[str, Any] = beat.get("counters", {})
    return counters


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
    workdir = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    settings = local_settings(
        workdir / "home", status_interval_seconds=3600, analyzer=Analyzer.FRAMES
    )
    ids = [f"{PREFIX}{i:05d}" for i in range(args.cameras)]
    result: dict[str, Any] = {"cameras": args.cameras, "workdir": str(workdir), "errors": []}
    shards: list[Shard] = []
    try:
        up(settings)
        os.environ.update(prefect_env(settings))
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()
        rt = runtime.configure(settings)
        result["registration"] = register(settings, ids, args.batch)
        result.update(simulate(args, settings, rt, ids, workdir, shards))
    except Exception as err:
        result["errors"].append(f"{type(err).__name__}: {err}")
        raise
    finally:
        for shard in shards:
            if shard.proc.poll() is None:
                shard.proc.kill()
        logs = workdir / "logs"
        shutil.copytree(StackLayout(settings.stack_dir).logs_dir, logs, dirs_exist_ok=True)
        down(settings, wipe=True)
    return result


def simulate(
    args: argparse.Namespace,
    settings: FleetSettings,
    rt: runtime.Runtime,
    ids: list[str],
    workdir: Path,
    shards: list[Shard],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    began_ms = now_ms()
    per = -(-len(ids) // args.processes)
    for index in range(args.processes):
        shards.append(
            Shard(index, ids[index * per : (index + 1) * per], settings.bundles_dir, workdir)
        )
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
    cpu0, t0 = sum(s.cpu_s() for s in shards), time.monotonic()
    all_do(shards, {"do": "baseline", "seconds": args.baseline_seconds,
                    "motion_per_hour": args.motion_per_hour})  # fmt: skip
    baseline_cpu = (sum(s.cpu_s() for s in shards) - cpu0) / (time.monotonic() - t0)
    print("baseline done", file=sys.stderr, flush=True)
    cpu1, t1 = sum(s.cpu_s() for s in shards), time.monotonic()
    storm = all_do(shards, {"do": "storm", "fraction": args.storm, "seconds": args.storm_seconds,
                            "name": f"storm-{args.storm:.0%}"})  # fmt: skip
    storm_cpu = (sum(s.cpu_s() for s in shards) - cpu1) / (time.monotonic() - t1)
    print("storm done", file=sys.stderr, flush=True)
    all_do(shards, {"do": "flip", "sample": sample, "hold_s": 5})
    time.sleep(args.drain_seconds)
    watch.stop()
    up_count = out["connect"]["up"] or 1
    out["simulator"] = {
        "processes": args.processes,
        "rss_mb_total": round(sum(c["rss_after_mb"] for c in connected), 1),
        "rss_mb_connections": round(idle_rss, 1),
        "rss_mb_per_1000": round(idle_rss / up_count * 1000, 1),
        "cpu_baseline": round(baseline_cpu, 3),
        "cpu_baseline_per_1000": round(baseline_cpu / up_count * 1000, 3),
        "cpu_storm": round(storm_cpu, 3),
        "peak_rss_mb": round(sum(s.rss_mb() for s in shards), 1),
    }
    out["storm_members"] = sum(len(s.get("members", [])) for s in storm)
    out["broker_rss_mb"] = part_rss_mb(settings, PartName.MOSQUITTO)
    out["bridge_rss_mb"] = part_rss_mb(settings, PartName.BRIDGE)
    out["bridge_counters"] = bridge_counters(settings)
    out["load_average"] = os.getloadavg()
    records = [r for shard in shards for r in shard.stop()]
    shards.clear()
    out["phases"] = phase_rates(records)
    lags = shadow_lags(records, watch.seen)
    out["shadow_lag"] = percentiles(lags, (50, 99))
    movers = sorted({r["camera"] for r in records if r["kind"] == "motion"})
    events = read_verdicts(movers, began_ms)
    out["motion"] = account_motion(records, events, settings.analysis_preroll_ms)
    out["published_total"] = len(records)
    (workdir / "records.json").write_text(json.dumps(records))
    return out


def report(result: dict[str, Any]) -> list[str]:
    c, s, m = result["connect"], result["simulator"], result["motion"]
    lines = [f"## {result['cameras']} cameras", "", "| measure | value |", "| --- | --- |"]
    regs = result["registration"]
    rates = ", ".join(f"{r['cameras_per_s']}" for r in regs)
    lines += [
        f"| registration, cameras/s per batch | {rates} |",
        f"| connections up | {c['up']} of {result['cameras']} ({c['failed']} failed) |",
        f"| connect time (all) | {c['seconds']} s |",
    ]
    for phase, p in result["phases"].items():
        lines.append(
            f"| {phase}: publishes/s, PUBACK p50/p99 | {p['per_s']} ({p['publishes']}, "
            f"{p['failed']} failed), {p['puback']['p50_ms']}/{p['puback']['p99_ms']} ms |"
        )
    lag = result["shadow_lag"]
    lines += [
        f"| motion published / acked / accounted by the bridge | {m['published']} / {m['acked']}"
        f" / {m['accounted']} (started {m['started']}, {m['verdicts']}; unaccounted "
        f"{m['unaccounted']}) |",
        f"| shadow lag, status change, p50 / p99 | {lag['p50_ms']} / {lag['p99_ms']} ms "
        f"({lag['samples']} changes) |",
        f"| simulator RSS ({s['processes']} processes) | {s['rss_mb_total']} MB, of which "
        f"connections {s['rss_mb_connections']} MB: "
        f"{s['rss_mb_per_1000']} MB per 1,000 connections |",
        f"| simulator CPU, baseline / storm | {s['cpu_baseline']:.1%} / {s['cpu_storm']:.1%} of "
        f"a core ({s['cpu_baseline_per_1000']:.1%} per 1,000 in the baseline) |",
        f"| broker RSS / bridge RSS | {result['broker_rss_mb']} / {result['bridge_rss_mb']} MB |",
        f"| bridge counters | {result['bridge_counters']} |",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=100)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--baseline-seconds", type=float, default=60)
    parser.add_argument("--motion-per-hour", type=float, default=6.0)
    parser.add_argument("--storm", type=float, default=0.01)
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
