"""Benchmark: tear down N registered cameras through the teardown-fleet flow (cameras
concurrently, rate limited, one Prefect flow run, every service listed again at the end) against
the same deletions issued one after another with no orchestration, each on a fleet of its own
registered the same way, in one run on the local stack.

    .venv/bin/python bench/teardown.py [--cameras 200] [--latency-ms 0 50]

The baseline does the same work in one thread: the same discovery, the same plan, each delete
after the other, no retries, no artifacts and no second listing. `--latency-ms` adds a
per-request delay at the local AWS endpoint during the teardowns, to model a real AWS round trip.
Prints a table and writes bench/results/teardown.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.local_aws import latency, local_settings
from bench.register import specs
from cli.prefect_context import run_flow
from cloud.errors import FleetError
from cloud.fleet import ensure_fleet
from cloud.settings import FleetSettings
from cloud.teardown.actions import delete
from cloud.teardown.discovery import discover
from cloud.teardown.plan import build_plan
from flows import runtime
from flows.register import register_cameras_flow
from flows.teardown import MAX_CONCURRENCY, TeardownIncomplete, teardown_fleet_flow
from stack.supervisor.errors import StackError
from stack.supervisor.local_stack import down, up

SERVICES = [
    "iot",
    "iot-data",
    "kinesisvideo",
    "iam",
    "rekognition",
    "sts",
    "sns",
    "sqs",
    "s3",
    "dynamodb",
]
RESULTS = Path(__file__).parent / "results"


def fleet(settings: FleetSettings, name: str) -> FleetSettings:
    return settings.model_copy(update={"name": name})


def register(settings: FleetSettings, prefix: str, cameras: int) -> None:
    """The fleet to tear down. Registration resumes where it failed, so a camera the emulator
    failed (it answers a 500 now and then under this load) is registered by a second run."""
    fleet_specs = specs(prefix, cameras)
    try:
        run_flow(settings, register_cameras_flow(cameras=fleet_specs))
    except FleetError as err:
        print(f"registration: {str(err)[:200]}; once more")
        run_flow(settings, register_cameras_flow(cameras=fleet_specs))


def left(settings: FleetSettings) -> int:
    rt = runtime.configure(settings)
    return len(discover(rt.clients, rt.names).resources)


def through_flow(settings: FleetSettings) -> int:
    """What `fleet teardown --yes` does: the flow, run in this process. Returns its steps."""
    try:
        report = run_flow(settings, teardown_fleet_flow(dry_run=False))
    except TeardownIncomplete as err:  # counted below, in what is left
        report = err.report
    return len(report.outcomes)


def sequential(settings: FleetSettings) -> int:
    """The baseline: the same calls, one after another, in one thread."""
    rt = runtime.configure(settings)
    plan = build_plan(discover(rt.clients, rt.names))
    for step in plan.steps:
        delete(rt.clients, step.resource)
    return len(plan.steps)


def timed(action: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    steps = action()
    return time.perf_counter() - start, steps


def measure(settings: FleetSettings, endpoint: str, cameras: int, ms: int) -> dict[str, Any]:
    flow_fleet, seq_fleet = fleet(settings, f"bflow-l{ms}"), fleet(settings, f"bseq-l{ms}")
    register(flow_fleet, f"bf{ms}", cameras)
    with latency(endpoint, SERVICES, ms):
        flow_s, flow_steps = timed(lambda: through_flow(flow_fleet))
    register(seq_fleet, f"bs{ms}", cameras)
    with latency(endpoint, SERVICES, ms):
        base_s, base_steps = timed(lambda: sequential(seq_fleet))
    return {
        "cameras": cameras,
        "latency_ms": ms,
        "concurrency": MAX_CONCURRENCY,
        "resources_deleted": flow_steps,
        "baseline_resources_deleted": base_steps,
        "baseline_seconds": round(base_s, 2),
        "flow_seconds": round(flow_s, 2),
        "ratio": round(base_s / flow_s, 2),
        "flow_left": left(flow_fleet),
        "baseline_left": left(seq_fleet),
    }


def run(cameras: int, latencies: list[int]) -> list[dict[str, Any]]:
    """One stack for every measurement (Prefect's client services outlive a stack)."""
    settings = local_settings(
        Path(tempfile.mkdtemp(prefix="bench-teardown-")),
        # Two fleets alive at once at most; each teardown frees its processors.
        processor_quota=2 * cameras + 10,
        status_interval_seconds=86_400,
    )
    try:
        try:
            status = up(settings)
        except StackError as err:  # a loaded machine: the parts that came up stay up
            print(f"stack: {err}; once more")
            status = up(settings)
        warm = fleet(settings, "bwarm")
        ensure_fleet(runtime.configure(warm).clients)
        register(warm, "warm", 2)
        through_flow(warm)
        return [measure(settings, status.aws_endpoint, cameras, ms) for ms in latencies]
    finally:
        down(settings, wipe=True)


def table(rows: list[dict[str, Any]]) -> str:
    header = (
        "| latency | resources | sequential | flow | ratio | left (flow / sequential) |\n"
        "| --- | --- | --- | --- | --- | --- |"
    )
    lines = [
        f"| {r['latency_ms']} ms | {r['resources_deleted']} ({r['cameras']} cameras) | "
        f"{r['baseline_seconds']} s | {r['flow_seconds']} s | {r['ratio']}x | "
        f"{r['flow_left']} / {r['baseline_left']} |"
        for r in rows
    ]
    return "\n".join([header, *lines])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 50])
    args = parser.parse_args()
    rows = run(args.cameras, args.latency_ms)
    print(f"tear down {args.cameras} cameras: teardown-fleet flow vs sequential deletions")
    print(table(rows))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "teardown.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
