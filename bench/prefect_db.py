"""Benchmark: the Prefect server on SQLite against the same server on the stack's PostgreSQL.

    .venv/bin/python bench/prefect_db.py [--creators 8] [--seconds 20]
        [--emitters 4] [--events 10000] [--databases sqlite postgresql]
        [--motion-concurrency 16] [--motion-probe-s 10] [--motion-growth 1.4]
        [--motion-step-s 15] [--motion-p99-bound-s 5] [--sessions-per-camera-hour 12]

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
  after its flush interval, which is not throughput); also the time until all were stored;
- **`analyze-motion` runs a second**: in a process of its own, as the bridge, the bridge's own
  `create_analyze_run` per session (the flow run executed in the process: created, Running, its
  `await-session-end` task, `camera.analysis.started`, Completed), at most the bridge's number
  at once. The flows' runtime follows sessions that have ended by the run's first look, so a run
  costs what it costs the server whatever its session's length. After a warm-up, a closed-loop
  probe with every slot busy, then open-loop steps of `--motion-step-s` from the probe's rate,
  each `--motion-growth` times the last, until one is not sustained (an error, a run not done
  within `--motion-drain-s`, or a p99 from arrival to the run's end over
  `--motion-p99-bound-s`). The requests and the events one run costs are counted (the client's
  HTTP requests by route; the server's stored events by name).

The sustained rates then become cameras: `bench/prefect_db_capacity.py` turns a camera's
sessions an hour (`--sessions-per-camera-hour`, an assumption) and its events (health at the
fleet's `health_event_interval_seconds`, the events measured per run, the detections and motion
verdicts assumed per session) into the number of cameras at which each rate binds.

CPU seconds of the server (and of PostgreSQL) over each phase are from psutil. Prints the tables
and writes bench/results/prefect_db.json (with the machine's load average before and after).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import platform
import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
from prefect.client.base import PrefectHttpxAsyncClient
from prefect.client.orchestration import PrefectClient
from prefect.events import Event
from prefect.events.clients import PrefectEventsClient
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings
from prefect.states import Scheduled
from rich.console import Console
from rich.table import Table

from bench.prefect_db_capacity import (
    CameraLoad,
    Step,
    budget_sessions_per_hour,
    cameras_at_limit,
    default_health_interval_s,
    ratio,
    sustained_step,
)
from cloud.analysis.control import SessionControl
from cloud.analysis.models import SessionState
from cloud.errors import InvalidInputError
from cloud.models import Analyzer, ProcessorStatus
from cloud.settings import FleetSettings
from device.messages import now_ms
from flows import runtime as flows_runtime
from flows.analyze import AnalysisRequest, analyze_motion
from flows.runtime import ANALYZER_REREAD_S, Runtime
from services.bridge.motion_analysis import FLOW_RUNS_AT_ONCE, create_analyze_run
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
EVENTS_SETTLE_S = 3.0


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
    motion: dict[str, Any]


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


async def _stored(http: httpx.AsyncClient, run: str, since: datetime) -> int | None:
    """Events of this run stored so far (the server allows at most 1,000 buckets of time)."""
    window = {"since": since.isoformat(), "until": (since + timedelta(days=1)).isoformat()}
    body = {
        "filter": {
            "event": {"name": [EVENT_NAME]},
            "any_resource": {"id": [f"bench.prefect-db.{run}"]},
            "occurred": window,
        }
    }
    rows = await _count_by_event(http, body)
    return None if rows is None else sum(rows.values())


async def _count_by_event(http: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, int] | None:
    """Stored events by name; None when the server cannot answer now (a SQLite server under load
    answers 500 while its writer holds the database): the next poll asks again."""
    response = await http.post("/events/count-by/event", json=body)
    if response.status_code >= 500:
        return None
    if response.is_error:
        raise RuntimeError(f"count-by: HTTP {response.status_code}: {response.text}")
    return {str(row["value"]): int(row["count"]) for row in response.json()}


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
            if stored is not None:
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


class InstantSessions:
    """Sessions that have ended by their run's first look: a run costs the server only its own
    calls, which do not depend on the session's length (a longer session's polls are AWS calls)."""

    analyzer = Analyzer.STREAM_PROCESSOR
    end_grace_s = 60.0

    def start(
        self, camera_id: str, start_ms: int, duration_s: int, motion_ms: int | None = None
    ) -> str:
        raise InvalidInputError("the bridge starts the sessions; the runs only follow them")

    def describe(self, camera_id: str) -> SessionState | None:
        return SessionState(camera_id=camera_id, status=ProcessorStatus.STOPPED)

    def statuses(self) -> dict[str, ProcessorStatus]:
        return {}


class BenchRuntime(Runtime):
    """The flows' runtime with `InstantSessions` in place of the fleet's analyzer."""

    def sessions(self, max_age_s: float = ANALYZER_REREAD_S) -> SessionControl:
        return InstantSessions()


_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class RequestMeter:
    """The Prefect client's HTTP requests in this process, by method and route, and the latency
    of each flow-run creation (`POST /flow_runs/`)."""

    counts: Counter[str] = field(default_factory=Counter)
    create_ms: list[float] = field(default_factory=list)

    def install(self) -> None:
        original = PrefectHttpxAsyncClient.send
        meter = self

        async def send(
            client: PrefectHttpxAsyncClient, request: httpx.Request, *args: Any, **kwargs: Any
        ) -> httpx.Response:
            began = time.perf_counter()
            response = await original(client, request, *args, **kwargs)
            route = f"{request.method} {_ID.sub('{id}', request.url.path.removeprefix('/api'))}"
            meter.counts[route] += 1
            if route == "POST /flow_runs/":
                meter.create_ms.append((time.perf_counter() - began) * 1000)
            return response

        PrefectHttpxAsyncClient.send = send  # type: ignore[method-assign,assignment]


@dataclass(frozen=True)
class MotionPlan:
    concurrency: int
    probe_s: float
    first_fraction: float
    growth: float
    max_steps: int
    step_s: float
    drain_s: float
    p99_bound_ms: float


class MotionRuns:
    """`analyze-motion` runs as the bridge makes them: `create_analyze_run` per session, at most
    `concurrency` at once on one event loop (the bridge's semaphore); latency from the session's
    arrival (a run waiting for a slot included) to its run's end."""

    def __init__(self, plan: MotionPlan, run: Callable[[AnalysisRequest], Awaitable[object]]):
        self.plan = plan
        self.run = run
        self.slots = asyncio.Semaphore(plan.concurrency)
        self.sequence = 0

    def _request(self) -> AnalysisRequest:
        self.sequence += 1
        return AnalysisRequest(
            camera_id=f"bench-{self.sequence % 10_000:05d}",
            start_ms=now_ms(),
            duration_s=30,
            session_id=str(uuid.uuid4()),
            session_updated_at=datetime.now(UTC),
        )

    async def _one(self, arrived: float, latencies: list[float]) -> bool:
        async with self.slots:
            try:
                await self.run(self._request())
            except Exception:  # counted as the step's error: the ramp goes on
                return False
        latencies.append((time.monotonic() - arrived) * 1000)
        return True

    async def warm_up(self) -> None:
        """A run per slot: a process's first runs open its clients, not the path's rate."""
        await asyncio.gather(
            *(self._one(time.monotonic(), []) for _ in range(self.plan.concurrency))
        )

    async def closed_loop(self) -> dict[str, Any]:
        """Every slot busy for `probe_s`: the rate the ramp starts from. Not the most the path
        completes: with every slot busy runs may contend for the server's database."""
        latencies: list[float] = []
        errors = 0
        deadline = time.monotonic() + self.plan.probe_s

        async def worker() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                if not await self._one(time.monotonic(), latencies):
                    errors += 1

        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(self.plan.concurrency)))
        elapsed = time.monotonic() - began
        return {
            "completed": len(latencies),
            "errors": errors,
            "per_s": round(len(latencies) / elapsed, 1),
            "p50_ms": nearest_rank(latencies, 50),
            "p99_ms": nearest_rank(latencies, 99),
        }

    async def open_step(self, rate: float) -> Step:
        """Sessions arriving every 1/`rate` s for `step_s`, then `drain_s` for the last to end."""
        latencies: list[float] = []
        arrivals = max(1, round(rate * self.plan.step_s))
        began = time.monotonic()
        tasks = []
        for n in range(arrivals):
            await asyncio.sleep(max(0.0, began + n / rate - time.monotonic()))
            tasks.append(asyncio.create_task(self._one(time.monotonic(), latencies)))
        done, pending = await asyncio.wait(tasks, timeout=self.plan.drain_s)
        for task in pending:
            task.cancel()
        return Step(
            offered_per_s=rate,
            arrivals=arrivals,
            completed=len(latencies),
            errors=sum(1 for task in done if not task.result()),
            p99_ms=nearest_rank(latencies, 99) if not pending else None,
        )


async def motion_ramp(plan: MotionPlan, meter: RequestMeter) -> dict[str, Any]:
    """A closed-loop probe at the bridge's concurrency, then open-loop steps from a fraction of
    what it completed, each `growth` times the last, up to the first step not sustained (a path
    may complete more a second with fewer runs in flight than with every slot busy)."""
    runs = MotionRuns(plan, create_analyze_run)
    await runs.warm_up()
    cpu_before = time.process_time()
    probe = await runs.closed_loop()
    steps: list[dict[str, Any]] = []
    for n in range(plan.max_steps):
        creates_before = len(meter.create_ms)
        step = await runs.open_step(round(probe["per_s"] * plan.first_fraction * plan.growth**n, 1))
        creates = meter.create_ms[creates_before:]
        steps.append(
            {
                **asdict(step),
                "create_p50_ms": nearest_rank(creates, 50),
                "create_p99_ms": nearest_rank(creates, 99),
            }
        )
        if not step.sustained(plan.p99_bound_ms):
            break
    measured = runs.sequence - plan.concurrency
    return {
        "probe": probe,
        "steps": steps,
        "runs": runs.sequence,
        "client_cpu_ms_per_run": round((time.process_time() - cpu_before) * 1000 / measured, 1),
    }


def motion_client(api_url: str, home: str, plan: MotionPlan) -> dict[str, Any]:
    """A process of its own, as the bridge is one: Prefect's event and log workers follow the
    settings of the process that starts them. Its output goes to a log file, as the bridge's."""
    log_file = os.open(Path(home) / "motion-client.log", os.O_WRONLY | os.O_CREAT, 0o600)
    os.dup2(log_file, sys.stdout.fileno())
    os.dup2(log_file, sys.stderr.fileno())
    # The process's runtime, set as tests set it: `configure` builds the fleet's own.
    flows_runtime._current = BenchRuntime(FleetSettings(home=Path(home)))
    meter = RequestMeter()
    meter.install()
    updates = {PREFECT_API_URL: api_url, PREFECT_HOME: str(Path(home) / "client")}
    with temporary_settings(updates=updates):
        result = asyncio.run(motion_ramp(plan, meter))
        EventsWorker.drain_all(timeout=60)
        APILogWorker.drain_all(timeout=60)
    return {**result, "requests": dict(meter.counts)}


async def _counts_by_event(api_url: str, since: datetime) -> dict[str, int] | None:
    window = {"since": since.isoformat(), "until": (since + timedelta(days=1)).isoformat()}
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        return await _count_by_event(http, {"filter": {"occurred": window}})


async def _runs_not_completed(api_url: str) -> int:
    body = {
        "flows": {"name": {"any_": [analyze_motion.name]}},
        "flow_runs": {"state": {"type": {"not_any_": ["COMPLETED"]}}},
    }
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
        response = await http.post("/flow_runs/count", json=body)
        response.raise_for_status()
        return int(response.json())


def stored_events(api_url: str, since: datetime) -> dict[str, int]:
    """Events stored since `since`, by name, once two polls a flush apart agree."""
    counts: dict[str, int] | None = None
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while time.monotonic() < deadline:
        now = asyncio.run(_counts_by_event(api_url, since))
        if now is not None and now == counts:
            break
        counts = now if now is not None else counts
        time.sleep(EVENTS_SETTLE_S)
    return counts or {}


def measure_motion(server: Server, home: Path, plan: MotionPlan) -> dict[str, Any]:
    since = datetime.now(UTC)
    meter = CpuMeter(server)
    meter.start()
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        result = pool.submit(motion_client, server.api_url, str(home), plan).result()
    server_cpu = meter.read()
    events = stored_events(server.api_url, since)
    runs = result["runs"]
    steps = [Step(**{f.name: s[f.name] for f in fields(Step)}) for s in result["steps"]]
    best = sustained_step(steps, plan.p99_bound_ms)
    sustained = next(
        (s for s in result["steps"] if best and s["offered_per_s"] == best.offered_per_s), None
    )
    return {
        "probe": result["probe"],
        "steps": result["steps"],
        "sustained": sustained,
        "runs": runs,
        "not_completed": asyncio.run(_runs_not_completed(server.api_url)),
        "requests_per_run": {k: round(v / runs, 2) for k, v in sorted(result["requests"].items())},
        "events_per_run": {k: round(v / runs, 2) for k, v in sorted(events.items())},
        "client_cpu_ms_per_run": result["client_cpu_ms_per_run"],
        "server_cpu_ms_per_run": round(server_cpu[0] * 1000 / runs, 1),
        "postgres_cpu_ms_per_run": round(server_cpu[1] * 1000 / runs, 1),
    }


def motion_plan(args: argparse.Namespace) -> MotionPlan:
    return MotionPlan(
        concurrency=args.motion_concurrency,
        probe_s=args.motion_probe_s,
        first_fraction=args.motion_first_fraction,
        growth=args.motion_growth,
        max_steps=args.motion_max_steps,
        step_s=args.motion_step_s,
        drain_s=args.motion_drain_s,
        p99_bound_ms=args.motion_p99_bound_s * 1000,
    )


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
        motion = measure_motion(server, Path(home), motion_plan(args))
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
        motion=motion,
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
    console = Console(width=150)
    console.print(table)
    console.print(motion_table(results, args))
    console.print(capacity_table(results, args))


def motion_table(results: Sequence[Result], args: argparse.Namespace) -> Table:
    table = Table(
        title=f"analyze-motion runs as the bridge makes them ({args.motion_concurrency} at once): "
        f"closed-loop probe, then open-loop steps (sustained: no error, p99 <= "
        f"{args.motion_p99_bound_s:g} s from arrival to the run's end)"
    )
    for column in ("database", "step", "runs/s", "done", "errors", "p99", "create p50/p99"):
        table.add_column(column, justify="right")
    for r in results:
        probe = r.motion["probe"]
        table.add_row(
            r.database,
            "closed loop",
            _shown(probe["per_s"]),
            str(probe["completed"]),
            str(probe["errors"]),
            _shown(probe["p99_ms"], " ms"),
            "",
        )
        for step in r.motion["steps"]:
            mark = " *" if step == r.motion["sustained"] else ""
            table.add_row(
                "",
                f"open{mark}",
                _shown(step["offered_per_s"]),
                f"{step['completed']}/{step['arrivals']}",
                str(step["errors"]),
                _shown(step["p99_ms"], " ms"),
                f"{_shown(step['create_p50_ms'])}/{_shown(step['create_p99_ms'], ' ms')}",
            )
    return table


def camera_load(result: Result, args: argparse.Namespace) -> CameraLoad:
    return CameraLoad(
        sessions_per_hour=args.sessions_per_camera_hour,
        health_interval_s=default_health_interval_s(),
        events_per_run=sum(result.motion["events_per_run"].values()),
        detections_per_session=args.detections_per_session,
        verdicts_per_session=args.verdicts_per_session,
    )


def motion_sustained_per_s(result: Result) -> float | None:
    sustained = result.motion["sustained"]
    return None if sustained is None else float(sustained["offered_per_s"])


def capacity_rows(results: Sequence[Result], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Each measure on each database, and the cameras at which it binds."""
    measures: dict[str, Callable[[Result], float | None]] = {
        "flow runs created/s": lambda r: r.flow_runs_per_s,
        "analyze-motion runs/s": motion_sustained_per_s,
        "events stored/s": lambda r: r.events_stored_per_s,
    }
    rows = []
    for name, rate in measures.items():
        row: dict[str, Any] = {"measure": name}
        for r in results:
            load = camera_load(r, args)
            per_camera = load.events_per_s if name.startswith("events") else load.runs_per_s
            row[r.database] = rate(r)
            row[f"cameras_{r.database}"] = cameras_at_limit(rate(r), per_camera)
        rows.append(row)
    return rows


def capacity_table(results: Sequence[Result], args: argparse.Namespace) -> Table:
    names = [r.database for r in results]
    load = camera_load(results[0], args)
    table = Table(
        title=f"Cameras at which each binds: {load.sessions_per_hour:g} sessions per camera an "
        f"hour, {load.events_per_s * 60:.2f} events per camera a minute "
        f"({load.events_per_run:g} per run measured on {names[0]})"
    )
    table.add_column("measure")
    for name in names:
        table.add_column(name, justify="right")
    if len(names) == 2:
        table.add_column(f"{names[1]}/{names[0]}", justify="right")
    for name in names:
        table.add_column(f"cameras ({name})", justify="right")
    for row in capacity_rows(results, args):
        cells = [row["measure"], *(_shown(row[n]) for n in names)]
        if len(names) == 2:
            cells.append(_shown(ratio(row[names[1]], row[names[0]]), "x"))
        cells += [_count(row[f"cameras_{n}"]) for n in names]
        table.add_row(*cells)
    return table


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


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
    parser.add_argument("--motion-concurrency", type=int, default=FLOW_RUNS_AT_ONCE)
    parser.add_argument("--motion-probe-s", type=float, default=10.0)
    parser.add_argument("--motion-first-fraction", type=float, default=0.5)
    parser.add_argument("--motion-growth", type=float, default=1.4)
    parser.add_argument("--motion-max-steps", type=int, default=8)
    parser.add_argument("--motion-step-s", type=float, default=15.0)
    parser.add_argument("--motion-drain-s", type=float, default=30.0)
    parser.add_argument("--motion-p99-bound-s", type=float, default=5.0)
    parser.add_argument("--sessions-per-camera-hour", type=float, default=12.0)
    parser.add_argument("--detections-per-session", type=float, default=1.0)
    parser.add_argument("--verdicts-per-session", type=float, default=1.0)
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
            "motion": asdict(motion_plan(args)),
            "sessions_per_camera_hour": args.sessions_per_camera_hour,
            "budget_sessions_per_camera_hour": round(budget_sessions_per_hour(), 2),
            "health_event_interval_s": default_health_interval_s(),
            "detections_per_session": args.detections_per_session,
            "verdicts_per_session": args.verdicts_per_session,
        },
        "results": [asdict(r) for r in results],
        "cameras_at_limit": capacity_rows(results, args),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
