"""Benchmark: the two analyzers (Rekognition stream processors, the frames analyzer) on the same
scenes, live on the local stack, with a naive frames analyzer as the baseline, in one run.

    .venv/bin/python -m bench.analysis [--sessions 10] [--seconds 10] [--cameras 5]
        [--stream-processor-usd-per-minute PRICE] [--show]

(As a module: run as a script, `bench/` comes first on the import path and `bench/cli.py` hides
the `cli` package.)

One fresh local stack on free ports, registered cameras (PERSON only) on the stream-processor
analyzer; each scene (person, empty, storm, late-person) is played by `--cameras` real agents at
once, in rounds, until every scene has `--sessions` sessions; then `fleet analyzer use frames`
and the same rounds again; then a round in which the analysis worker is SIGKILLed once mid-session
and restarted; then the naive baseline replays the frames sessions' windows. Everything after the
scene is the product's own path: agent, motion, MQTT, bridge, the analyzer, the results consumer.

Measured per analyzer and scene: motion (its producer timestamp) to LABEL_DETECTED's arrival on
a queue subscribed to the fleet's Rekognition topic (p50, p95), the image requests the analyzer
made (the endpoint's request log, per round: sessions of one scene at a time), video analysed,
cost per session, PERSON detections found and missed. Prints tables and writes
bench/results/analysis.json; the stack's logs stay in the run's temporary directory. Details and
the latest figures: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console

from bench.analysis_agents import play
from bench.analysis_core import (
    PERSON,
    ObservedSession,
    RequestCount,
    Round,
    SessionView,
    join_sessions,
    kill_figures,
    naive_figures,
    notification_camera,
    parse_results,
    scene_figures,
    targets,
)
from bench.analysis_naive import APP_ID, NaiveAnalyzer, Window
from bench.analysis_observe import ImageRequests, OtherCpu, TopicObserver
from bench.analysis_report import tables
from bench.local_aws import local_settings
from cli.prefect_context import run_flow
from cloud import detections
from cloud.analysis.control import session_control
from cloud.models import Analyzer, CameraSpec, Label, ProcessorStatus
from cloud.settings import FleetSettings
from device.messages import now_ms
from flows import runtime
from flows.register import register_cameras_flow
from stack.cameras.scenes import (
    LATE_PERSON_ENTERS_S,
    WALK_IN_S,
    Scene,
    SceneKind,
    StagedScene,
    write_scene,
)
from stack.supervisor.layout import PartName, StackLayout
from stack.supervisor.local_stack import down, prefect_env, stop, up
from tests.e2e.cli import fleet
from tests.support.endpoint_admin import endpoint_client

RESULTS = Path(__file__).parent / "results"
SCENES: tuple[Scene, ...] = (
    SceneKind.PERSON,
    SceneKind.EMPTY,
    SceneKind.STORM,
    StagedScene.LATE_PERSON,
)
ANALYZERS = (Analyzer.STREAM_PROCESSOR, Analyzer.FRAMES)
PREROLL_MS = 2_000
MIN_CONFIDENCE = 50.0
# The person is in full view this long into the late-person scene (the walk-in ends).
PERSON_IN_VIEW_S = LATE_PERSON_ENTERS_S + WALK_IN_S
AGENT_MARGIN_S = 4  # an agent outlives its last window: first motion, last fragment
STAGGER_S = 0.4  # between the agents of a round
KILL_STAGGER_S = 0.5  # the kill round's sessions at different steps when the worker dies
QUIET_S = 3  # no session running this long: the round is over (follow-ups start within ~1 s)
ROUND_TIMEOUT_S = 240.0
_ACTIVE = (ProcessorStatus.STARTING, ProcessorStatus.RUNNING)


@dataclass(frozen=True)
class ScenePlan:
    scene: Scene
    cameras: tuple[str, ...]
    session_s: int
    agent_s: int
    rounds: int


def plan(args: argparse.Namespace) -> list[ScenePlan]:
    """Cameras, session length and rounds per scene: `--sessions` sessions at least each."""
    plans = []
    for scene in SCENES:
        short = "late" if scene is StagedScene.LATE_PERSON else scene.value
        cameras = tuple(f"{short}-{i}" for i in range(1, args.cameras + 1))
        session_s, rounds = args.seconds, math.ceil(args.sessions / args.cameras)
        agent_s = session_s + AGENT_MARGIN_S
        if scene is StagedScene.LATE_PERSON:  # the person comes in late in the session
            session_s += math.ceil(PERSON_IN_VIEW_S)
            agent_s = session_s + AGENT_MARGIN_S
        if scene is SceneKind.STORM:  # motion all along: one camera's sessions follow each other
            agent_s, rounds = rounds * session_s + AGENT_MARGIN_S, 1
        plans.append(ScenePlan(scene, cameras, session_s, agent_s, rounds))
    return plans


# The stack.


@dataclass
class Bench:
    settings: FleetSettings
    rt: runtime.Runtime
    workdir: Path
    results: TopicObserver
    notifications: TopicObserver
    requests: ImageRequests
    scenes: dict[Scene, Path]
    other_cpu: OtherCpu

    def wait_ended(self, analyzer: Analyzer, cameras: tuple[str, ...], timeout: float) -> bool:
        """Until none of these cameras has a session running for QUIET_S seconds."""
        control = session_control(
            self.rt.clients, self.rt.names, analyzer, self.settings.frames_ingest_grace_seconds
        )
        deadline, quiet = time.monotonic() + timeout, 0
        while quiet < QUIET_S:
            if time.monotonic() > deadline:
                return False
            time.sleep(1)
            statuses = control.statuses()
            quiet = 0 if any(statuses.get(c) in _ACTIVE for c in cameras) else quiet + 1
        time.sleep(1.5)  # the last messages reach the observer's queue
        return True

    def play_round(
        self,
        analyzer: Analyzer,
        scene_plan: ScenePlan,
        name: str,
        cameras: tuple[str, ...] | None = None,
        stagger_s: float = STAGGER_S,
        timeout: float = ROUND_TIMEOUT_S,
    ) -> Round:
        cameras = cameras or scene_plan.cameras
        self.other_cpu.sample()
        started = now_ms()
        runs = play(
            self.settings,
            scene_plan.scene,
            self.scenes[scene_plan.scene],
            cameras,
            scene_plan.agent_s,
            self.workdir / "agents",
            stagger_s,
        )
        settled = self.wait_ended(analyzer, cameras, timeout)
        game = Round(
            analyzer.value,
            scene_plan.scene.value,
            name,
            started,
            now_ms(),
            tuple(runs),
            load=round(os.getloadavg()[0], 2),
            other_cpu_s=round(self.other_cpu.sample(), 1),
        )
        seen = sum(len(r.motions) for r in runs)
        _progress(
            f"{analyzer.value} {scene_plan.scene.value} round {name}: {len(cameras)} cameras, "
            f"{seen} motions, {game.seconds:.0f} s, load {game.load}, other processes "
            f"{game.other_cpu_s / game.seconds:.2f} CPUs"
            + ("" if settled else " (sessions still running at the timeout)")
        )
        return game

    def close(self) -> None:
        for watcher in (self.results, self.notifications, self.requests):
            watcher.stop()

    def analyzer_pid(self) -> int | None:
        path = StackLayout(self.settings.stack_dir).pid_file(PartName.ANALYZER)
        try:
            pid = int(path.read_text().strip())
            if any("services.analyzer" in part for part in psutil.Process(pid).cmdline()):
                return pid
        except (OSError, ValueError, psutil.Error):
            pass
        return None


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextmanager
def _reported(errors: list[str], what: str) -> Iterator[None]:
    """A failed round is reported with the results, and the others still run."""
    try:
        yield
    except Exception as err:
        errors.append(f"{what}: {type(err).__name__}: {err}")
        _progress(f"{what} failed: {err!r}")


def kill_round(bench: Bench, analyzer: Analyzer, person: ScenePlan) -> tuple[Round, dict[str, Any]]:
    """The person scene on the frames analyzer; when the round's first LABEL_DETECTED arrives,
    SIGKILL the analysis worker (its sessions mid-way) and start it again (`fleet up` starts a
    part that died), then wait until SQS has delivered the sessions again and they ended."""
    started = now_ms()
    facts: dict[str, Any] = {}
    camera_of = bench.rt.names.camera_from_processor

    def killer() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = parse_results(bench.results.arrivals(started), camera_of)
            if any(s.labels for s in found.values()):
                break
            time.sleep(0.1)
        pid = bench.analyzer_pid()
        if pid is None:
            facts["error"] = "the analysis worker's pid was not found"
            return
        control = session_control(bench.rt.clients, bench.rt.names, analyzer, 10.0)
        os.kill(pid, signal.SIGKILL)
        facts["killed_ms"] = now_ms()
        statuses = control.statuses()
        facts["running_when_killed"] = sum(statuses.get(c) in _ACTIVE for c in person.cameras)
        up(bench.settings)
        facts["restarted_ms"] = now_ms()
        _progress(f"analysis worker {pid} killed; {facts['running_when_killed']} sessions running")

    thread = threading.Thread(target=killer, name="killer", daemon=True)
    thread.start()
    game = bench.play_round(analyzer, person, "kill", stagger_s=KILL_STAGGER_S, timeout=300)
    thread.join(120)
    return game, facts


# The run.


def run(args: argparse.Namespace) -> dict[str, Any]:
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="bench-analysis-"))
    plans = plan(args)
    settings = local_settings(
        workdir / "home",
        processor_quota=sum(len(p.cameras) for p in plans) + 5,
        analysis_preroll_ms=PREROLL_MS,
        analysis_cooldown_seconds=0,
        notification_cooldown_seconds=0,
    )
    endpoint = up(settings).aws_endpoint
    os.environ.update(prefect_env(settings))
    from prefect.context import refresh_global_settings_context

    refresh_global_settings_context()  # Prefect read the environment when it was imported
    rounds: list[Round] = []
    errors: list[str] = []
    bench: Bench | None = None
    try:
        rt = runtime.configure(settings)
        specs = [
            CameraSpec(
                camera_id=c,
                labels=frozenset({Label.PERSON}),
                min_confidence=MIN_CONFIDENCE,
                max_duration_seconds=p.session_s,
            )
            for p in plans
            for c in p.cameras
        ]
        failed = [o for o in run_flow(settings, register_cameras_flow(cameras=specs)) if o.error]
        if failed:
            raise RuntimeError(f"registration failed: {failed[0].error}")
        stop(settings, PartName.BRIDGE)
        up(settings)  # the bridge loads the cameras' settings when it starts, as in production
        (workdir / "agents").mkdir()
        scenes = {
            p.scene: write_scene(p.scene, workdir / f"{p.scene.value}.avi", p.agent_s + 10)
            for p in plans
        }
        sqs, sns = endpoint_client(endpoint, "sqs"), endpoint_client(endpoint, "sns")
        bench = Bench(
            settings=settings,
            rt=rt,
            workdir=workdir,
            results=TopicObserver(sqs, sns, rt.names.topic_arn(), "bench-analysis-results"),
            notifications=TopicObserver(
                sqs, sns, rt.names.user_notifications_topic_arn(), "bench-analysis-notifications"
            ),
            requests=ImageRequests(endpoint),
            scenes=scenes,
            other_cpu=OtherCpu(workdir),
        )
        _progress(f"stack up, {len(specs)} cameras registered: {time.monotonic() - began:.0f} s")
        for analyzer in ANALYZERS:
            if analyzer is Analyzer.FRAMES:
                switch_to_frames(settings)
            with _reported(errors, f"{analyzer.value} warm-up"):
                rounds.append(
                    bench.play_round(analyzer, plans[0], "warm-up", cameras=plans[0].cameras[:1])
                )
            for scene_plan in plans:
                for index in range(scene_plan.rounds):
                    with _reported(errors, f"{analyzer.value} {scene_plan.scene.value} {index}"):
                        rounds.append(bench.play_round(analyzer, scene_plan, str(index + 1)))
        kill_facts: dict[str, Any] = {}
        with _reported(errors, "kill round"):
            kill_game, kill_facts = kill_round(bench, Analyzer.FRAMES, plans[0])
            rounds.append(kill_game)
        result = gather(bench, args, rounds, kill_facts)
    finally:
        if bench is not None:
            bench.close()
        logs = workdir / "logs"
        with suppress(OSError):
            shutil.copytree(StackLayout(settings.stack_dir).logs_dir, logs, dirs_exist_ok=True)
        down(settings, wipe=True)
    result["errors"] = errors
    result["settings"] = {
        "sessions": args.sessions,
        "seconds": args.seconds,
        "cameras_per_scene": args.cameras,
        "plans": [
            {
                "scene": p.scene.value,
                "cameras": len(p.cameras),
                "session_s": p.session_s,
                "agent_s": p.agent_s,
                "rounds": p.rounds,
            }
            for p in plans
        ],
        "preroll_ms": PREROLL_MS,
        "min_confidence": MIN_CONFIDENCE,
        "labels": [PERSON],
        "frames_search_ms": settings.frames_search_ms,
        "frames_confirm_ms": settings.frames_confirm_ms,
        "frames_confirmations": settings.frames_confirmations,
        "frames_detect_rate": settings.frames_detect_rate,
        "stream_processor_usd_per_minute": args.stream_processor_usd_per_minute,
        "cpus": os.cpu_count(),
        "commit": _commit(),
        "workdir": str(workdir),
    }
    result["seconds"] = round(time.monotonic() - began, 1)
    return result


def _commit() -> str | None:
    """The checkout's commit (and whether it has changes), for the record."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{head}{' (with changes)' if changed else ''}"


def switch_to_frames(settings: FleetSettings) -> None:
    """`fleet analyzer use frames` (it waits for the bridge to follow), then the analysis worker
    started again: it looks for the analysis queue only every 30 s while there is none."""
    began = time.monotonic()
    done = fleet(settings, "analyzer", "use", "frames", timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"fleet analyzer use frames failed: {done.stderr.strip()[-500:]}")
    stop(settings, PartName.ANALYZER)
    up(settings)
    _progress(f"switched to the frames analyzer: {time.monotonic() - began:.0f} s")


def gather(
    bench: Bench, args: argparse.Namespace, rounds: list[Round], kill: dict[str, Any]
) -> dict[str, Any]:
    """Sessions, records and requests into per-scene figures, the baseline, the kill test."""
    rt = bench.rt
    sessions = parse_results(bench.results.arrivals(), rt.names.camera_from_processor)
    records: Counter[tuple[str, str]] = Counter()
    for camera in sorted({r.camera_id for game in rounds for r in game.runs}):
        for record in detections.list_detections(
            rt.clients, rt.names.detections_table, camera, 500
        ):
            if record.label == PERSON:
                records[(camera, record.session_id)] += 1
    views = join_sessions(rounds, sessions.values(), records, PREROLL_MS, PERSON_IN_VIEW_S)
    scored = [v for v in views if v.round not in ("warm-up", "kill")]
    figures: dict[str, dict[str, Any]] = {}
    for analyzer in ANALYZERS:
        for scene in SCENES:
            chosen = [v for v in scored if v.analyzer == analyzer.value and v.scene == scene.value]
            games = [
                g
                for g in rounds
                if (g.analyzer, g.scene) == (analyzer.value, scene.value)
                and g.name not in ("warm-up", "kill")
            ]
            asked = sum(
                (bench.requests.count(g.started_ms, g.ended_ms) for g in games), RequestCount()
            )
            figures.setdefault(analyzer.value, {})[scene.value] = {
                **scene_figures(
                    analyzer.value, chosen, asked, args.stream_processor_usd_per_minute
                ),
                "load_max": max((g.load for g in games), default=None),
                "other_cpus": round(
                    sum(g.other_cpu_s for g in games) / max(1.0, sum(g.seconds for g in games)), 2
                ),
            }
    naive, naive_requests = replay_naive(
        bench, [v for v in scored if v.analyzer == Analyzer.FRAMES.value]
    )
    kill_result = _kill_result(bench, rounds, views, kill)
    return {
        "figures": figures,
        "naive": naive,
        "naive_requests": naive_requests,
        "kill": kill_result,
        "targets": targets(figures, naive, kill_result),
        "rounds": [asdict(g) for g in rounds],
        "sessions": [_session_row(v) for v in views],
        "request_log_gaps": bench.requests.given_up,
        "load_averages": [g.load for g in rounds],
    }


def _kill_result(
    bench: Bench, rounds: list[Round], views: list[SessionView], facts: dict[str, Any]
) -> dict[str, Any] | None:
    """The kill round's records and notifications per camera (notifications counted until 5 s
    after the round), with when the worker was killed."""
    game = next((g for g in rounds if g.name == "kill"), None)
    if game is None:
        return None
    notified: Counter[str] = Counter()
    for arrival in bench.notifications.arrivals(game.started_ms):
        about = notification_camera(arrival.body)
        if about is not None and arrival.arrived_ms <= game.ended_ms + 5_000:
            notified[about] += 1
    result = {**kill_figures([v for v in views if v.round == "kill"], game.runs, notified), **facts}
    first = min((m for r in game.runs for m in r.motions), default=None)
    if "killed_ms" in result and first is not None:
        result["killed_after_first_motion_s"] = round((result["killed_ms"] - first) / 1000, 1)
    result["round_s"] = round((game.ended_ms - game.started_ms) / 1000, 1)
    return result


def replay_naive(bench: Bench, views: list[SessionView]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The baseline over the frames sessions' windows, two at a time; its requests are checked
    against the endpoint's request log (its own user agent)."""
    analyzer = NaiveAnalyzer(bench.settings.endpoint_url or "", bench.settings.region)
    windows = [
        Window(
            v.session.camera_id,
            v.session.session_id,
            v.session.start_ms,
            v.session.end_ms,
            MIN_CONFIDENCE,
        )
        for v in views
    ]
    began, started = time.monotonic(), now_ms()
    with ThreadPoolExecutor(2) as pool:
        replayed = list(pool.map(analyzer.analyse, windows))
    logged = bench.requests.count(started, now_ms(), APP_ID)
    by_id = {v.session.session_id: v for v in views}
    out: dict[str, Any] = {}
    for scene in SCENES:
        chosen = [n for n in replayed if by_id[n.session_id].scene == scene.value]
        if chosen:
            out[scene.value] = naive_figures(chosen, by_id)
    counted = sum((n.requests for n in replayed), RequestCount())
    _progress(f"naive baseline: {len(replayed)} windows in {time.monotonic() - began:.0f} s")
    return out, {"counted": vars(counted), "request_log": vars(logged)}


def _session_row(view: SessionView) -> dict[str, Any]:
    s: ObservedSession = view.session
    return {
        "analyzer": view.analyzer,
        "scene": view.scene,
        "round": view.round,
        "camera": s.camera_id,
        "session": s.session_id,
        "start_ms": s.start_ms,
        "duration_s": s.duration_s,
        "motion_ms": view.motion_ms,
        "expect": view.expect.value,
        "labels": {k: asdict(v) for k, v in s.labels.items()},
        "completed_ms": s.completed_ms,
        "completions": s.completions,
        "processed_ms": s.processed_ms,
        "records": view.records,
        "message": s.message,
    }


def _within(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not within {low} to {high}")
        return value

    return parse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sessions", type=_within(1, 100), default=10, help="per scene and analyzer, at least"
    )
    parser.add_argument(
        "--seconds", type=_within(5, 100), default=10, help="session length (late-person: +12)"
    )
    parser.add_argument(
        "--cameras", type=_within(1, 20), default=5, help="agents playing a scene at once"
    )
    parser.add_argument(
        "--stream-processor-usd-per-minute",
        type=float,
        default=None,
        help="ConnectedHome's price per minute of video (unknown by default: minutes are shown)",
    )
    parser.add_argument(
        "--show", action="store_true", help="print the tables of the last run's JSON; run nothing"
    )
    args = parser.parse_args()
    if args.show:
        result = json.loads((RESULTS / "analysis.json").read_text())
    else:
        result = run(args)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "analysis.json").write_text(json.dumps(result, indent=2))
    console = Console(width=200)
    for table in tables(result):
        console.print(table)
    for error in result["errors"]:
        console.print(f"[red]failed[/] {error}")
    for target in result["targets"]:
        console.print(
            f"{'met' if target['met'] else 'MISSED'}: {target['target']}: {target['measured']}"
        )
    console.print(
        f"run took {result['seconds'] / 60:.1f} min; results: {RESULTS / 'analysis.json'}"
    )


if __name__ == "__main__":
    main()
