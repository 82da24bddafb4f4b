"""`fleet demo`: the main job on the local stack. Starts the stack, registers a few cameras
through the register-cameras flow, and shows what was created and where to look."""

from __future__ import annotations

from cli.output import console, emit_table
from cli.prefect_context import run_flow
from cloud.models import CameraSpec, Label
from cloud.registry import list_camera_ids, show_camera
from cloud.settings import FleetSettings
from flows import runtime
from flows.register import register_cameras_flow
from stack import local_stack

DEMO_CAMERAS = (
    CameraSpec(camera_id="front-door", labels=frozenset({Label.PERSON, Label.PACKAGE})),
    CameraSpec(
        camera_id="backyard", labels=frozenset({Label.PERSON, Label.PET}), min_confidence=60
    ),
    CameraSpec(camera_id="garage", labels=frozenset({Label.ALL}), max_duration_seconds=20),
)


def run_demo(settings: FleetSettings) -> None:
    console.print("[bold]1.[/] starting the local stack (AWS endpoint, MQTT broker, Prefect)...")
    status = local_stack.up(settings)
    console.print(f"[bold]2.[/] registering {len(DEMO_CAMERAS)} cameras through a Prefect flow...")
    outcomes = run_flow(settings, register_cameras_flow(cameras=list(DEMO_CAMERAS)))
    for outcome in outcomes:
        changes = outcome.result.changed if outcome.result else ()
        console.print(f"   {outcome.camera_id}: {'; '.join(changes) or 'already registered'}")
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
    console.print(f"device bundles: {settings.bundles_dir}")
    console.print(f"Prefect UI:     [bold]{status.prefect_ui_url}[/] (flow runs: register-cameras)")
    console.print("the stack keeps running; stop it with `.venv/bin/fleet down`")
