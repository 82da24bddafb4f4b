"""Benchmark: register N cameras through the register-cameras flow (concurrent, rate limited,
one Prefect flow run) against the same cloud calls issued one after another with no orchestration,
in one run on the local stack.

    .venv/bin/python bench/register.py [--cameras 100] [--latency-ms 0 50]

`--latency-ms` adds a per-request delay at the local AWS endpoint (delay-only faults on every
service), to model a real AWS round trip; 0 measures the local emulator as it is. Prints a table
and writes bench/results/register.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
from prefect.task_runners import ThreadPoolTaskRunner

from bench.local_aws import latency, local_settings
from cli.prefect_context import run_flow
from cloud.fleet import ensure_fleet
from cloud.models import CameraSpec
from cloud.registration import RegistrationContext, register_camera
from cloud.settings import FleetSettings
from flows import runtime
from flows.register import MAX_CONCURRENCY, register_cameras_flow
from stack.supervisor.local_stack import down, up

SERVICES = ["iot", "kinesisvideo", "iam", "rekognition", "sts", "sns", "s3", "service-quotas"]
RESULTS = Path(__file__).parent / "results"


@contextmanager
def peak_rss() -> Iterator[dict[str, float]]:
    """Sample this process's resident memory every 20 ms; the peak lands in the dict."""
    process, result, stop = psutil.Process(), {"peak_mb": 0.0}, threading.Event()

    def sample() -> None:
        while not stop.is_set():
            result["peak_mb"] = max(result["peak_mb"], process.memory_info().rss / 2**20)
            stop.wait(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()


def timed(action: Callable[[], Any]) -> tuple[float, float]:
    with peak_rss() as memory:
        start = time.perf_counter()
        action()
        elapsed = time.perf_counter() - start
    return elapsed, memory["peak_mb"]


def sequential(settings: FleetSettings, specs: list[CameraSpec]) -> None:
    """The baseline: the same calls, one camera after another, no orchestration."""
    rt = runtime.configure(settings)
    context = RegistrationContext(
        clients=rt.clients,
        names=rt.names,
        fleet=ensure_fleet(rt.clients),
        bundle_root=settings.bundles_dir,
        broker_ca_pem=rt.broker_ca_file.read_text(),
        fragment_root=rt.fragment_root,
    )
    for spec in specs:
        register_camera(context, spec)


def through_flow(settings: FleetSettings, specs: list[CameraSpec], workers: int) -> None:
    """What `fleet camera register --many` does: the flow, run in this process."""
    flow = register_cameras_flow.with_options(task_runner=ThreadPoolTaskRunner(max_workers=workers))
    outcomes = run_flow(settings, flow(cameras=specs))
    assert all(o.error is None for o in outcomes)


def specs(prefix: str, count: int) -> list[CameraSpec]:
    return [CameraSpec(camera_id=f"{prefix}-{i:03d}") for i in range(count)]


def measure(
    settings: FleetSettings, endpoint: str, cameras: int, latency_ms: int, sample: int
) -> dict[str, Any]:
    tag = f"l{latency_ms}"
    with latency(endpoint, SERVICES, latency_ms):
        base_s, base_mb = timed(lambda: sequential(settings, specs(f"{tag}-seq", cameras)))
        flow_s, flow_mb = timed(
            lambda: through_flow(settings, specs(f"{tag}-flow", cameras), MAX_CONCURRENCY)
        )
        # Orchestration overhead per camera: the flow with one worker against the plain calls.
        one_s, _ = timed(lambda: through_flow(settings, specs(f"{tag}-one", sample), 1))
        plain_s, _ = timed(lambda: sequential(settings, specs(f"{tag}-plain", sample)))
    return {
        "cameras": cameras,
        "latency_ms": latency_ms,
        "concurrency": MAX_CONCURRENCY,
        "baseline_seconds": round(base_s, 2),
        "flow_seconds": round(flow_s, 2),
        "baseline_cameras_per_second": round(cameras / base_s, 2),
        "flow_cameras_per_second": round(cameras / flow_s, 2),
        "ratio": round(base_s / flow_s, 2),
        "orchestration_overhead_ms_per_camera": round((one_s - plain_s) / sample * 1000, 1),
        "baseline_peak_rss_mb": round(base_mb, 1),
        "flow_peak_rss_mb": round(flow_mb, 1),
    }


def run(cameras: int, latencies: list[int], sample: int) -> list[dict[str, Any]]:
    """One stack for every measurement (Prefect's client services outlive a stack)."""
    settings = local_settings(
        Path(tempfile.mkdtemp(prefix="bench-register-")),
        processor_quota=len(latencies) * 2 * (cameras + sample) + 10,
    )
    status = up(settings)
    try:
        ensure_fleet(runtime.configure(settings).clients)
        through_flow(settings, specs("warm", 2), MAX_CONCURRENCY)
        return [measure(settings, status.aws_endpoint, cameras, ms, sample) for ms in latencies]
    finally:
        down(settings, wipe=True)


def table(rows: list[dict[str, Any]]) -> str:
    header = (
        "| latency | baseline cam/s | flow cam/s | ratio | overhead/camera | peak RSS base / flow |\n"
        "| --- | --- | --- | --- | --- | --- |"
    )
    lines = [
        f"| {r['latency_ms']} ms | {r['baseline_cameras_per_second']} ({r['baseline_seconds']} s) | "
        f"{r['flow_cameras_per_second']} ({r['flow_seconds']} s) | {r['ratio']}x | "
        f"{r['orchestration_overhead_ms_per_camera']} ms | {r['baseline_peak_rss_mb']} / {r['flow_peak_rss_mb']} MB |"
        for r in rows
    ]
    return "\n".join([header, *lines])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=100)
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 50])
    parser.add_argument("--overhead-sample", type=int, default=20)
    args = parser.parse_args()
    rows = run(args.cameras, args.latency_ms, args.overhead_sample)
    print(f"register {args.cameras} cameras: register-cameras flow vs sequential calls")
    print(table(rows))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "register.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
