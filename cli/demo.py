"""`fleet demo`: the stack up, a few cameras registered through the register-cameras flow, one
camera's real agent on a scene with a person in it (motion, analysis, detection), what was
created and where to look; then every demo camera's agent runs until Ctrl-C, so the fleet is
live in the Prefect UI. Imported by the command when it runs."""

from __future__ import annotations

import math
import threading

from cli.output import console, emit_table
from cli.prefect_context import run_flow
from cli.simulate import print_report, run_simulation
from cli.stack_guard import await_bridge_analyzer
from cloud.analysis import choice
from cloud.analysis.switch import switch_analyzer
from cloud.fleet import ensure_fleet
from cloud.models import Analyzer, CameraSpec, Label
from cloud.registration import RegistrationContext
from cloud.registry import list_camera_ids, show_camera
from cloud.settings import FleetSettings
from flows import runtime
from flows.register import register_cameras_flow
from services.harness.process import stop_on_signals
from stack.cameras.scenes import SceneKind
from stack.cameras.simulation import prepare, run_agent
from stack.supervisor import local_stack

DEMO_CAMERAS = (
    CameraSpec(
        camera_id="front-door",
        labels=frozenset({Label.PERSON, Label.PACKAGE}),
        max_duration_seconds=15,
    ),
    CameraSpec(
        camera_id="backyard", labels=frozenset({Label.PERSON, Label.PET}), min_confidence=60
    ),
    CameraSpec(camera_id="garage", labels=frozenset({Label.ALL}), max_duration_seconds=20),
)

SIMULATED, SIMULATED_SECONDS = "front-door", 20
_MILESTONES = ("connected", "pipeline running", "agent: motion", "WARNING", "ERROR", "stopped")


def _milestones(line: str) -> None:
    """The agent's log, without the pipeline's description."""
    if any(mark in line for mark in _MILESTONES):
        console().print(f"   agent: {line}", markup=False, highlight=False, soft_wrap=True)


def run_demo(settings: FleetSettings, analyzer: Analyzer | None = None) -> None:
    console().print("[bold]1.[/] starting the local stack (AWS endpoint, MQTT broker, Prefect)...")
    status = local_stack.up(settings)
    used = _use_analyzer(settings, analyzer)
    console().print(
        f"[bold]2.[/] registering {len(DEMO_CAMERAS)} cameras through a Prefect flow..."
    )
    outcomes = run_flow(settings, register_cameras_flow(cameras=list(DEMO_CAMERAS)))
    for outcome in outcomes:
        changes = outcome.result.changed if outcome.result else ()
        console().print(f"   {outcome.camera_id}: {'; '.join(changes) or 'already registered'}")
    rt = runtime.configure(settings)
    records = [show_camera(rt.clients, rt.names, c) for c in list_camera_ids(rt.clients, rt.names)]
    emit_table(
        f"[bold]3.[/] fleet {rt.names.fleet}: {len(records)} cameras in the registry",
        ["camera", "labels", "processor", "stream", "certificate"],
        [
            (
                r.camera_id,
                ",".join(r.settings.sorted_labels),
                r.processor_status,
                r.stream_arn,
                (r.certificate_arn or "").rsplit("/", 1)[-1][:12],
            )
            for r in records
        ],
    )
    path = "stream processor" if used is Analyzer.STREAM_PROCESSOR else "frames analyzer"
    console().print(
        f"[bold]4.[/] {SIMULATED}: its agent sees a person for {SIMULATED_SECONDS} s "
        f"(motion -> MQTT -> {path} -> detection)..."
    )
    report = run_simulation(
        rt, SIMULATED, SceneKind.PERSON, SIMULATED_SECONDS, wait_seconds=120, echo=_milestones
    )
    print_report(report)
    for detection in report.detections:
        console().print(f"   {detection.label} frame: {detection.frame_uri}", soft_wrap=True)
        console().print(f"   {detection.label} crop:  {detection.crop_uri}", soft_wrap=True)
    console().print(f"device bundles: {settings.bundles_dir}")
    console().print(
        f"Prefect UI:     [bold]{status.prefect_ui_url}[/] "
        "(flow runs: register-cameras, analyze-motion; events: camera.*)"
    )
    console().print(f"detections:     `.venv/bin/fleet camera events {SIMULATED}`")
    console().print(
        "more:           `.venv/bin/fleet camera simulate backyard --scenario storm|empty|person`"
    )
    other = next(a for a in Analyzer if a is not used)
    console().print(
        f"analyzer:       {used}; the other: `.venv/bin/fleet demo --analyzer {other}` "
        "(a new AWS account gets no stream processors: frames)"
    )
    _keep_cameras_online(settings)
    console().print("the stack keeps running; stop it with `.venv/bin/fleet down`")


def _use_analyzer(settings: FleetSettings, wanted: Analyzer | None) -> Analyzer:
    """The fleet on `wanted` (a new fleet records it, another is switched), followed by the
    stack's bridge; the fleet's own when None."""
    rt = runtime.configure(settings.model_copy(update={"analyzer": None}))
    recorded = choice.recorded_analyzer(rt.clients, rt.names)
    target = wanted or recorded or choice.DEFAULT
    if recorded is None:
        ensure_fleet(runtime.configure(settings.model_copy(update={"analyzer": target})).clients)
    elif recorded is not target:
        console().print(f"   switching the fleet from {recorded} to {target}...")
        context = RegistrationContext(
            clients=rt.clients,
            names=rt.names,
            fleet=ensure_fleet(rt.clients),
            bundle_root=settings.bundles_dir,
            broker_ca_pem="",
        )
        switch_analyzer(context, target)
    runtime.configure(settings.model_copy(update={"analyzer": None}))
    if not await_bridge_analyzer(settings, target.value):
        console().print("   warning: the bridge has not followed the fleet's analyzer yet")
    console().print(f"   analyzer: {target}")
    return target


def _keep_cameras_online(settings: FleetSettings) -> None:
    """Every demo camera's real agent, on a scene with motion and no one in it, until Ctrl-C:
    the cameras stay online in the UI (events, the fleet-status artifact every minute)."""
    stop = stop_on_signals("demo cameras")
    cameras = [prepare(settings, c.camera_id, SceneKind.EMPTY) for c in DEMO_CAMERAS]
    agents = [
        threading.Thread(
            target=run_agent,
            args=(camera, math.inf, lambda _line: None, stop),
            name=f"agent-{camera.camera_id}",
        )
        for camera in cameras
    ]
    for agent in agents:
        agent.start()
    console().print(
        f"[bold]5.[/] {', '.join(c.camera_id for c in cameras)} are online, their agents running "
        "(fleet-status every minute). [bold]Ctrl-C[/] stops the cameras."
    )
    while not stop.wait(1.0):
        if not any(agent.is_alive() for agent in agents):
            console().print("the agents have exited")
            break
    stop.set()
    for agent in agents:
        agent.join()
    console().print("cameras stopped (they go offline in the UI)")
