"""Benchmark: the Prefect server on SQLite against the same server on the stack's PostgreSQL.

    .venv/bin/python bench/prefect_db.py [--creators 8] [--seconds 20]
        [--emitters 4] [--events 10000] [--databases sqlite postgresql]

For each database, in one run, a fresh Prefect server is started as `fleet up` starts it (the
stack's own part specs; for PostgreSQL a new cluster in a temporary stack home, created and
started by `stack.supervisor.postgres`), with nothing else of the stack running. Then:

- **flow runs created a second**: `--creators` concurrent coroutines each call
  `create_flow_run_from_deployment` on one registered flow's deployment (what the bridge does for
  `analyze-motion`) for `--seconds`, each run scheduled a day ahead (so that the server's
  late-runs service does not work on them during the next phase); runs created per second over
  the phase, the calls in flight at its end included, with each call's latency;
- **events stored a second**: `--emitters` events clients (websockets, as the product's services
  emit) send `--events` events between them as fast as the server takes them; the stored count
  is polled through the API (`POST /events/count-by/event`). The stored rate is the slope
  between 10 % and 90 % of the events stored (the persister flushes a last partial batch only
  after its flush interval, which is not throughput); also the time until all were stored.

CPU seconds of the server (and of PostgreSQL) over each phase are from psutil. Prints a table
and writes bench/results/prefect_db.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
from prefect.client.orchestration import PrefectClient
from prefect.events import Event
from prefect.events.clients import PrefectEventsClient
from prefect.states import Scheduled
from rich.console import Console
from rich.table import Table

from stack.supervisor import postgres, processes
from stack.supervisor.health import PartCheck, wait_until_healthy
from stack.supervisor.layout import PartName, StackLayout
from stack.supervisor.models import PrefectDatabase, StackRecord
from stack.supervisor.parts import probes, process_specs
from stack.supervisor.processes import ProcessSpec
from tests.support.ports import free_ports

RESULTS = Path(__file__).parent / "results" / "prefect_db.json"
EVENT_NAME = "bench.prefect-db.event"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0
DRAIN_TIMEOUT_S = 180.0
POLL_S = 0.25


@dataclass(frozen=True)
class Server:
    database: PrefectDatabase
    api_url: str
    parts: dict[PartName, ProcessSpec]


@dataclass
class Result:
    database: str
    flow_runs: int
    flow_run_errors: int
    flow_runs_per_s: float
    flow_runs_phase_s: float
    create_p50_ms: float | None
    create_p99_ms: float | None
    flow_runs_server_cpu_s: float
    flow_runs_postgres_cpu_s: float
    events_emitted: int
    events_emit_s: float
    events_stored: int
    events_stored_per_s: float | None
    events_all_stored_s: float | None
    events_server_cpu_s: float
    events_postgres_cpu_s: float


@contextmanager
def prefect_server(home: Path, database: PrefectDatabase) -> Iterator[Server]:
    """A fresh Prefect server (and PostgreSQL) from the stack's part specs; stopped after."""
    layout = StackLayout(home / "stack")
    layout.root.mkdir(parents=True, mode=0o700)
    pg_port, prefect_port, aws_port, mqtt_port = free_ports(4)
    uses_pg = database is PrefectDatabase.POSTGRESQL
    record = StackRecord(
        host="127.0.0.1",
        aws_port=aws_port,
        mqtt_port=mqtt_port,
        prefect_port=prefect_port,
        processor_quota=1,
        stack_dir=layout.root,
        ca_file=layout.ca_cert,
        prefect_database=database,
        postgres_port=pg_port if uses_pg else None,
    )
    install, password = None, None
    if uses_pg:
        password = postgres.ensure_password(layout.postgres_password_file)
        install = postgres.require_install(layout.postgres_data_dir)
        postgres.ensure_cluster(install, layout.postgres_data_dir, layout.postgres_password_file)
    specs = process_specs(
        record, layout, os.environ, "mosquitto", postgres=install, postgres_password=password
    )
    part_probes = probes(record, layout)
    started: list[PartName] = []

    def start(part: PartName) -> None:
        pid = processes.start(specs[part])
        started.append(part)
        check = PartCheck(
            part.value, part_probes[part], specs[part].log_file, lambda: processes.alive(pid)
        )
        wait_until_healthy([check], START_TIMEOUT_S)

    try:
        if install is not None and password is not None:
            start(PartName.POSTGRES)
            postgres.ensure_database(install, password, record.host, pg_port)
        start(PartName.PREFECT)
        yield Server(database, record.prefect_api_url, {p: specs[p] for p in started})
    finally:
        for part in reversed(started):
            if part is PartName.POSTGRES:
                postgres.stop(specs[part], layout.postgres_data_dir, STOP_TIMEOUT_S)
            else:
                processes.stop(specs[part], timeout=STOP_TIMEOUT_S)


def _cpu_s(spec: ProcessSpec | None) -> float:
    """CPU seconds of a part's process and its children so far."""
    if spec is None:
        return 0.0
    proc = processes.find_process(spec)
    if proc is None:
        return 0.0
    total = 0.0
    for member in [proc, *proc.children(recursive=True)]:
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        # children_*: exited processes it waited for (a postmaster's ended sessions)
        total += times.user + times.system + times.children_user + times.children_system
    return total


class CpuMeter:
    """CPU seconds the server and PostgreSQL use between `start` and `read`."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.base = (0.0, 0.0)

    def _now(self) -> tuple[float, float]:
        parts = self.server.parts
        return _cpu_s(parts.get(PartName.PREFECT)), _cpu_s(parts.get(PartName.POSTGRES))

    def start(self) -> None:
        self.base = self._now()

    def read(self) -> tuple[float, float]:
        now = self._now()
        return round(now[0] - self.base[0], 1), round(now[1] - self.base[1], 1)


def nearest_rank(values: Sequence[float], q: int) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1], 1)


async def create_flow_runs(api_url: str, creators: int, seconds: float) -> dict[str, Any]:
    """`creators` coroutines creating flow runs of one deployment for `seconds`."""
    async with PrefectClient(api=api_url) as client:
        flow_id = await client.create_flow_from_name("bench-prefect-db")
        deployment_id = await client.create_deployment(flow_id=flow_id, name="bench")
        # Scheduled a day ahead: the server's late-runs service leaves them alone meanwhile.
        later = datetime.now(UTC) + timedelta(days=1)
        latencies: list[float] = []
        errors = 0
        deadline = time.monotonic() + seconds

        async def creator() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                began = time.perf_counter()
                try:
                    await client.create_flow_run_from_deployment(
                        deployment_id, state=Scheduled(scheduled_time=later)
                    )
                except Exception:  # counted and reported: the benchmark goes on
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - began) * 1000)

        began = time.monotonic()
        await asyncio.gather(*(creator() for _ in range(creators)))
        elapsed = time.monotonic() - began
    return {
        "created": len(latencies),
        "errors": errors,
        "per_s": round(len(latencies) / elapsed, 1),
        "phase_s": round(elapsed, 1),
        "p50_ms": nearest_rank(latencies, 50),
        "p99_ms": nearest_rank(latencies, 99),
    }


async def _stored(http: httpx.AsyncClient, run: str, since: datetime) -> int:
    """Events of this run stored so far (the server allows at most 1,000 buckets of time)."""
    window = {"since": since.isoformat(), "until": (since + timedelta(days=1)).isoformat()}
    body = {
        "filter": {
            "event": {"name": [EVENT_NAME]},
            "any_resource": {"id": [f"bench.prefect-db.{run}"]},
            "occurred": window,
        }
    }
    response = await http.post("/events/count-by/event", json=body)
    if response.is_error:
        raise RuntimeError(f"count-by: HTTP {response.status_code}: {response.text}")
    return sum(int(row["count"]) for row in response.json())


async def emit_events(api_url: str, emitters: int, events: int) -> dict[str, Any]:
    """Send `events` events over `emitters` websockets, then poll until all are stored."""
    run = uuid.uuid4().hex[:12]
    resource = {"prefect.resource.id": f"bench.prefect-db.{run}"}
    share = [events // emitters + (1 if i < events % emitters else 0) for i in range(emitters)]

    async def emitter(count: int) -> None:
        async with PrefectEventsClient(api_url=api_url) as client:
            for _ in range(count):
                await client.emit(Event(event=EVENT_NAME, resource=resource))

    samples: list[tuple[float, int]] = []
    since = datetime.now(UTC) - timedelta(minutes=1)
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        began = time.monotonic()
        sending = asyncio.gather(*(emitter(count) for count in share))
        emitted_at: float | None = None
        while time.monotonic() - began < DRAIN_TIMEOUT_S:
            if emitted_at is None and sending.done():
                sending.result()
                emitted_at = time.monotonic() - began
            stored = await _stored(http, run, since)
            samples.append((time.monotonic() - began, stored))
            if stored >= events:
                break
            await asyncio.sleep(POLL_S)
        if emitted_at is None:
            await sending
            emitted_at = time.monotonic() - began
    stored = samples[-1][1] if samples else 0
    return {
        "emitted": events,
        "emit_s": round(emitted_at, 2),
        "stored": stored,
        "per_s": _slope(samples, 0.1 * events, 0.9 * events),
        "all_stored_s": round(samples[-1][0], 2) if stored >= events else None,
    }


def _crossing(samples: Sequence[tuple[float, int]], level: float) -> float | None:
    """When the stored count reached `level`, interpolated between two polls."""
    previous = (0.0, 0)
    for at, count in samples:
        if count >= level:
            t0, c0 = previous
            return at if count == c0 else t0 + (level - c0) / (count - c0) * (at - t0)
        previous = (at, count)
    return None


def _slope(samples: Sequence[tuple[float, int]], low: float, high: float) -> float | None:
    t_low, t_high = _crossing(samples, low), _crossing(samples, high)
    if t_low is None or t_high is None or t_high <= t_low:
        return None
    return round((high - low) / (t_high - t_low), 1)


def measure(database: PrefectDatabase, args: argparse.Namespace) -> Result:
    with (
        tempfile.TemporaryDirectory(prefix=f"prefect-db-{database.value}-") as home,
        prefect_server(Path(home), database) as server,
    ):
        meter = CpuMeter(server)
        meter.start()
        runs = asyncio.run(create_flow_runs(server.api_url, args.creators, args.seconds))
        runs_cpu = meter.read()
        meter.start()
        events = asyncio.run(emit_events(server.api_url, args.emitters, args.events))
        events_cpu = meter.read()
    return Result(
        database=database.value,
        flow_runs=runs["created"],
        flow_run_errors=runs["errors"],
        flow_runs_per_s=runs["per_s"],
        flow_runs_phase_s=runs["phase_s"],
        create_p50_ms=runs["p50_ms"],
        create_p99_ms=runs["p99_ms"],
        flow_runs_server_cpu_s=runs_cpu[0],
        flow_runs_postgres_cpu_s=runs_cpu[1],
        events_emitted=events["emitted"],
        events_emit_s=events["emit_s"],
        events_stored=events["stored"],
        events_stored_per_s=events["per_s"],
        events_all_stored_s=events["all_stored_s"],
        events_server_cpu_s=events_cpu[0],
        events_postgres_cpu_s=events_cpu[1],
    )


def _shown(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:,.1f}{unit}"


def show(results: Sequence[Result], args: argparse.Namespace) -> None:
    table = Table(
        title=f"Prefect server: {args.creators} flow-run creators for {args.seconds:g} s; "
        f"{args.events:,} events over {args.emitters} websockets"
    )
    for column in (
        "database",
        "flow runs/s",
        "over",
        "create p50",
        "create p99",
        "errors",
        "CPU s (server+pg)",
        "events stored/s",
        "all stored after",
        "stored",
        "CPU s (server+pg)",
    ):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            r.database,
            _shown(r.flow_runs_per_s),
            _shown(r.flow_runs_phase_s, " s"),
            _shown(r.create_p50_ms, " ms"),
            _shown(r.create_p99_ms, " ms"),
            str(r.flow_run_errors),
            f"{r.flow_runs_server_cpu_s:g}+{r.flow_runs_postgres_cpu_s:g}",
            _shown(r.events_stored_per_s),
            _shown(r.events_all_stored_s, " s"),
            f"{r.events_stored:,}/{r.events_emitted:,}",
            f"{r.events_server_cpu_s:g}+{r.events_postgres_cpu_s:g}",
        )
    Console(width=150).print(table)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--creators", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--emitters", type=int, default=4)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument(
        "--databases",
        nargs="+",
        type=PrefectDatabase,
        default=[PrefectDatabase.SQLITE, PrefectDatabase.POSTGRESQL],
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    results = [measure(database, args) for database in args.databases]
    show(results, args)
    document = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
        },
        "parameters": {
            "creators": args.creators,
            "seconds": args.seconds,
            "emitters": args.emitters,
            "events": args.events,
        },
        "results": [asdict(r) for r in results],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
