"""Benchmark: the `fleet-status` flow's AWS calls and time per run at N cameras, read through the
fleet index (a `SearchIndex` page per 100 cameras, detections only for the cameras that moved
today), against the per-camera reads it replaced (the group listing, then a `GetThingShadow`, a
detections `Query` and a usage `GetItem` per camera), in the same run on a fresh local stack.

    .venv/bin/python -m bench.fleet_status [--cameras 1000 10000] [--moved 0.03] [--runs 3]

The fleet is written directly (not the registration flow): N things in the fleet's group, each
with a `camera-status` shadow (2 % offline, 1 % never seen), the `--moved` share with motion
today, a detection and a session end. No stream processors: every camera reads "no stream
processor", so the artifacts are at their caps. Calls are counted by a botocore `before-call`
hook on the clients the runs use. Prints a table and writes bench/results/fleet_status.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect.settings import temporary_settings

from bench.local_aws import local_settings
from cli.prefect_context import prefect_settings
from cloud import detections, iot, shadow
from cloud.clients import AwsClients
from cloud.fleet import ensure_fleet
from cloud.naming import FleetNames
from cloud.rekognition_messages import DetectionRecord, SessionEndRecord
from cloud.settings import FleetSettings
from device.messages import Presence
from flows import runtime
from flows.fleet_status import fleet_status_flow
from flows.fleet_status_report import TABLE_ROWS, FleetStatus, summary_markdown, table_rows
from stack.supervisor.errors import StackError
from stack.supervisor.local_stack import down, up

RESULTS = Path(__file__).parent / "results"
_WRITERS = 16
_BASELINE_READERS = 24  # the replaced flow: three per-camera parts at once, 8 threads each


class CallCounter:
    """AWS calls by `service:Operation`, from a botocore hook on each client."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, clients: AwsClients) -> None:
        for client in (clients.iot, clients.iot_data, clients.dynamodb, clients.rekognition):
            client.meta.events.register("before-call.*.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    @contextmanager
    def counting(self) -> Iterator[Counter[str]]:
        self.calls.clear()
        counted: Counter[str] = Counter()
        try:
            yield counted
        finally:
            counted.update(self.calls)


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _write_camera(
    clients: AwsClients, names: FleetNames, n: int, moved: set[int], now: datetime
) -> None:
    camera = f"cam-{n:05d}"
    clients.iot.create_thing(
        thingName=camera, attributePayload={"attributes": {"fleet": names.fleet}}
    )
    clients.iot.add_thing_to_thing_group(thingGroupName=names.thing_group, thingName=camera)
    if n % 100 == 50:
        return  # never seen
    presence = Presence.OFFLINE if n % 50 == 7 else Presence.ONLINE
    motion = now if n in moved else now - timedelta(days=2)
    update = shadow.ShadowUpdate(
        presence=shadow.PresenceReport(presence=presence, status_at_ms=_ms(now)),
        last_seen_ms=_ms(now),
        last_motion_ms=_ms(motion),
    )
    shadow.update_reported(clients, camera, update)
    if n in moved:
        record = DetectionRecord(
            camera_id=camera,
            session_id="s1",
            label="PERSON",
            confidence=90.0,
            detected_at=now,
            frame_uri=f"s3://{names.results_bucket}/cameras/{camera}/s1/frame.jpg",
            processor=names.processor(camera),
        )
        detections.put_detection(clients, names.detections_table, record)
        end = SessionEndRecord(
            camera_id=camera,
            session_id="s1",
            processor=names.processor(camera),
            ended_at=now,
            processed_ms=30_000,
        )
        detections.put_session_end(clients, names.detections_table, end)


def write_fleet(clients: AwsClients, names: FleetNames, cameras: int, share: float) -> float:
    """Seconds to write the fleet."""
    step = max(1, round(1 / share)) if share > 0 else cameras + 1
    moved = set(range(0, cameras, step))
    now = datetime.now(UTC)
    start = time.perf_counter()
    with ThreadPoolExecutor(_WRITERS) as pool:
        list(pool.map(lambda n: _write_camera(clients, names, n, moved, now), range(cameras)))
    return time.perf_counter() - start


def baseline_reads(clients: AwsClients, names: FleetNames, day: date) -> int:
    """The replaced read path: the group listing, the processors listing, and three reads per
    camera. Returns the cameras read."""
    cameras = iot.list_group_things(clients, names.thing_group)
    runtime.runtime().sessions().statuses()

    def read(camera: str) -> None:
        shadow.read_status(clients, names.thing(camera))
        detections.read_latest(clients, names.detections_table, camera)
        detections.read_usage(clients, names.detections_table, camera, day)

    with ThreadPoolExecutor(_BASELINE_READERS) as pool:
        list(pool.map(read, cameras))
    return len(cameras)


def flow_run(settings: FleetSettings) -> FleetStatus:
    with temporary_settings(updates=prefect_settings(settings)):
        return asyncio.run(fleet_status_flow())


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def measure(
    settings: FleetSettings, cameras: int, share: float, runs: int, baseline: bool
) -> dict[str, Any]:
    fleet = settings.model_copy(update={"name": f"bstatus{cameras}"})
    rt = runtime.configure(fleet)
    ensure_fleet(rt.clients)
    write_s = write_fleet(rt.clients, rt.names, cameras, share)
    counter = CallCounter()
    counter.attach(rt.clients)
    flow_seconds, status = [], None
    for _ in range(runs):
        with counter.counting() as flow_calls:
            seconds, status = timed(lambda: flow_run(fleet))
        flow_seconds.append(seconds)
    assert isinstance(status, FleetStatus)
    table = table_rows(status, TABLE_ROWS)
    every_row = table_rows(status)
    row: dict[str, Any] = {
        "cameras": cameras,
        "listed": len(status.cameras),
        "moved_today": status.moved_today,
        "write_seconds": round(write_s, 1),
        "flow_seconds": round(statistics.median(flow_seconds), 2),
        "flow_calls": dict(sorted(flow_calls.items())),
        "flow_calls_total": sum(flow_calls.values()),
        "table_rows": len(table),
        "table_bytes": len(json.dumps(table)),
        "summary_bytes": len(summary_markdown(status).encode()),
        "all_rows_table_bytes": len(json.dumps(every_row)),
    }
    if baseline:
        with counter.counting() as base_calls:
            seconds, _ = timed(lambda: baseline_reads(rt.clients, rt.names, status.day))
        row |= {
            "baseline_seconds": round(seconds, 2),
            "baseline_calls": dict(sorted(base_calls.items())),
            "baseline_calls_total": sum(base_calls.values()),
        }
    return row


def run(sizes: list[int], share: float, runs: int, baseline_up_to: int) -> list[dict[str, Any]]:
    settings = local_settings(
        Path(tempfile.mkdtemp(prefix="bench-fleet-status-")), status_interval_seconds=86_400
    )
    try:
        try:
            up(settings)
        except StackError as err:  # a loaded machine: the parts that came up stay up
            print(f"stack: {err}; once more")
            up(settings)
        rows = []
        for cameras in sizes:
            rows.append(measure(settings, cameras, share, runs, cameras <= baseline_up_to))
            print(json.dumps(rows[-1]), flush=True)
        return rows
    finally:
        down(settings, wipe=True)


def table(rows: list[dict[str, Any]]) -> str:
    header = (
        "| cameras | moved today | AWS calls: index / per camera | seconds: index / per camera "
        "| table rows (bytes) | summary bytes |\n| --- | --- | --- | --- | --- | --- |"
    )
    lines = []
    for r in rows:
        base_calls = r.get("baseline_calls_total", "not run")
        base_s = r.get("baseline_seconds", "not run")
        lines.append(
            f"| {r['cameras']} | {r['moved_today']} | {r['flow_calls_total']} / {base_calls} "
            f"| {r['flow_seconds']} / {base_s} | {r['table_rows']} ({r['table_bytes']}) "
            f"| {r['summary_bytes']} |"
        )
    return "\n".join([header, *lines])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--moved", type=float, default=0.03, help="share with motion today")
    parser.add_argument("--runs", type=int, default=3, help="flow runs per size (median)")
    parser.add_argument(
        "--baseline-up-to", type=int, default=10_000, help="measure the baseline up to this size"
    )
    args = parser.parse_args()
    rows = run(args.cameras, args.moved, args.runs, args.baseline_up_to)
    print("fleet-status: fleet index vs per-camera reads")
    print(table(rows))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fleet_status.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
