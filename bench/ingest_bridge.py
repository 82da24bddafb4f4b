"""A bridge replica under test in `bench/ingest.py`, in a process of its own (which the benchmark
pins to a CPU): the real bridge (`services.bridge.service.run_bridge`, the composition root `fleet up`
runs, with the benchmark's `Instruments`), or the naive baseline (`bench/naive_bridge.py`).

    python bench/ingest_bridge.py real|naive --heartbeat-file F --records F [--flush-interval S]
        [--replica NAME] [--switch-interval S]

`--replica` is the replica's part of its client id (`<fleet>-bridge-<replica>`, which the bridge
identity's policy allows): replicas with different names share the subscription. It runs until
SIGTERM, then writes what it recorded as JSON to `--records`: per valid message (camera,
sent_at_ms, received_ms, done_ms), per health the bridge coalesced (camera, sent_at_ms,
received_ms: replaced by the camera's newer health before it was handled), per shadow write that
succeeded (camera, when it returned, the presence's status_at_ms and value, the health's
sent_at_ms and pipeline state), and the counters. Recording is a list append per message, per
coalesced health and per write; a coalesced health's payload is parsed when the records are
written.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from cloud.settings import FleetSettings
from cloud.shadow import ShadowUpdate
from device.messages import HealthEvent, StatusEvent, now_ms
from flows import runtime
from services.bridge.camera_state import PendingWrite
from services.bridge.intake import CameraEvent
from services.bridge.intake_queue import Received
from services.bridge.service import BridgeConfig, Instruments, bridge_endpoint, run_bridge
from services.harness.heartbeat import write_heartbeat
from services.harness.process import run_service

HEARTBEAT_S = 0.5


class Recorder:
    def __init__(self) -> None:
        self.messages: list[tuple[str, int, int, int]] = []
        self.writes: list[tuple[str, int, int | None, str | None, int | None, str | None]] = []
        self.replaced: list[Received] = []  # coalesced healths, as the bridge's queue held them
        self._coalesced: list[tuple[str, int, int]] = []  # parsed: (camera, sent_at_ms, received)
        # Collections of 5 ms or more (when, how long): every thread waits meanwhile.
        self.gc_pauses: list[tuple[int, float]] = []
        self.threads: dict[int, str] = {}  # native id: name
        self._gc_started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            return
        pause_ms = (time.perf_counter() - self._gc_started) * 1000
        if pause_ms >= 5:
            self.gc_pauses.append((now_ms(), round(pause_ms, 1)))

    def on_message(self, event: CameraEvent, received_ms: int) -> None:
        self.messages.append((event.camera_id, event.sent_at_ms, received_ms, now_ms()))

    def on_coalesced(self, replaced: Received) -> None:
        self.replaced.append(replaced)

    def coalesced(self) -> list[tuple[str, int, int]]:
        """The coalesced healths so far, parsed (each once)."""
        for replaced in self.replaced[len(self._coalesced) :]:
            health = json.loads(replaced.payload)
            self._coalesced.append(
                (health["camera_id"], health["sent_at_ms"], replaced.received_ms)
            )
        return self._coalesced[:]

    def on_written(self, write: PendingWrite) -> None:
        self.written(write.camera_id, write.update)

    def written(self, camera_id: str, update: ShadowUpdate) -> None:
        presence, health = update.presence, update.health
        self.writes.append(
            (
                camera_id,
                now_ms(),
                presence.status_at_ms if presence else None,
                presence.presence.value if presence else None,
                health.sent_at_ms if health else None,
                health.pipeline.value if health else None,
            )
        )

    def dump(self, path: Path, counters: dict[str, Any]) -> None:
        """Atomically (the benchmark waits for the file): a copy of the lists, then the file."""
        # Every thread seen at a dump: the last one, at exit, comes after some have ended.
        self.threads.update(
            {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
        )
        document = {
            "messages": self.messages[:],
            "writes": self.writes[:],
            "coalesced": self.coalesced(),
            "counters": counters,
            "threads": self.threads,
            "gc_pauses": self.gc_pauses[:],
        }
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(document, separators=(",", ":")))
        tmp.replace(path)


def heartbeat_counters(path: Path) -> dict[str, Any]:
    try:
        counters: dict[str, Any] = json.loads(path.read_text())["counters"]
    except (OSError, ValueError, KeyError):
        return {}
    return counters


def run_real(args: argparse.Namespace, recorder: Recorder, stop: threading.Event) -> None:
    config = BridgeConfig(
        replica=args.replica,
        flush_interval_seconds=args.flush_interval,
        heartbeat_file=args.heartbeat_file,
        heartbeat_seconds=HEARTBEAT_S,
        **(
            {}
            if args.switch_interval is None
            else {"switch_interval_seconds": args.switch_interval}
        ),
    )
    instruments = Instruments(
        on_message=recorder.on_message,
        on_written=recorder.on_written,
        on_coalesced=recorder.on_coalesced,
    )
    try:
        run_bridge(FleetSettings(), config, stop, instruments)
    finally:
        recorder.dump(args.records, heartbeat_counters(args.heartbeat_file))


def run_naive(args: argparse.Namespace, recorder: Recorder, stop: threading.Event) -> None:
    from bench.naive_bridge import NaiveBridge

    settings = FleetSettings()
    rt = runtime.configure(settings)
    endpoint = bridge_endpoint(rt.clients, settings, BridgeConfig(replica="bench-naive"))

    def done(
        event: StatusEvent | HealthEvent, received_ms: int, update: ShadowUpdate | None
    ) -> None:
        if update is not None:
            recorder.written(event.camera_id, update)
        recorder.on_message(event, received_ms)

    naive = NaiveBridge(rt.clients, endpoint, done)

    def heartbeat(ready: bool, counters: dict[str, int]) -> None:
        write_heartbeat(args.heartbeat_file, ready, "naive baseline", counters)

    try:
        naive.run(stop, heartbeat)
    finally:
        recorder.dump(args.records, naive.counters.snapshot())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["real", "naive"])
    parser.add_argument("--heartbeat-file", type=Path, required=True)
    parser.add_argument("--records", type=Path, required=True)
    parser.add_argument("--flush-interval", type=float, default=15.0)
    parser.add_argument("--replica", default="bench-real", help="the client id's replica part")
    parser.add_argument(
        "--switch-interval",
        type=float,
        help="the bridge's switch_interval_seconds (default: the bridge's own)",
    )
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--profile", type=Path, help="cProfile the main thread (the flush loop)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    recorder = Recorder()
    # SIGUSR1: write what was recorded so far (the benchmark reads it after each step).
    signal.signal(
        signal.SIGUSR1,
        lambda _s, _f: recorder.dump(args.records, heartbeat_counters(args.heartbeat_file)),
    )
    work = run_real if args.mode == "real" else run_naive
    if args.profile is None:
        return run_service(f"{args.mode} bridge", args.log_level, lambda s: work(args, recorder, s))
    profile = cProfile.Profile()
    try:
        return profile.runcall(
            run_service, f"{args.mode} bridge", args.log_level, lambda s: work(args, recorder, s)
        )
    finally:
        profile.dump_stats(args.profile)


if __name__ == "__main__":
    sys.exit(main())
