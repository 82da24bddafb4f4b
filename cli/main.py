"""`fleet`: the command line of the camera fleet."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from cli import agent, automations, bridge, camera, results_consumer
from cli import teardown as teardown_command
from cli.demo import run_demo
from cli.errors import handled
from cli.output import console, emit_json
from cli.prefect_context import control_plane
from cli.settings import current_settings, set_overrides
from cloud.fleet import ensure_fleet
from stack.supervisor import local_stack

app = typer.Typer(
    help="Run a fleet of security cameras on AWS (or the local stack), orchestrated with Prefect.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(camera.app, name="camera")
app.add_typer(agent.app, name="agent")
app.add_typer(bridge.app, name="bridge")
app.add_typer(results_consumer.app, name="results")
app.command("teardown")(handled(teardown_command.teardown))
app.add_typer(automations.app, name="automations")


@app.callback()
def main(
    aws: Annotated[bool, typer.Option("--aws", help="Target a real AWS account.")] = False,
    region: Annotated[str | None, typer.Option(help="AWS region (FLEET_REGION).")] = None,
    profile: Annotated[str | None, typer.Option(help="AWS profile (FLEET_AWS_PROFILE).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    set_overrides(aws=aws, region=region, profile=profile)


@app.command()
@handled
def up(
    processor_quota: Annotated[
        int | None, typer.Option(help="Local stack: Rekognition stream processor quota.")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Start the local stack (AWS endpoint, MQTT broker, Prefect server, served flows)."""
    extra = {} if processor_quota is None else {"processor_quota": processor_quota}
    status = local_stack.up(current_settings(**extra))
    if json_output:
        emit_json(status)
        return
    console.print("local stack is up")
    console.print(f"  Prefect UI:    {status.prefect_ui_url}")
    console.print(f"  AWS endpoint:  {status.aws_endpoint}")
    console.print(f"  MQTT (mTLS):   {status.mqtt.host}:{status.mqtt.port}")


@app.command()
@handled
def down(
    wipe: Annotated[bool, typer.Option(help="Also delete the stack's state.")] = False,
) -> None:
    """Stop the local stack (its state survives unless --wipe)."""
    local_stack.down(current_settings(), wipe=wipe)
    console.print("local stack stopped" + (" and wiped" if wipe else ""))


@app.command()
@handled
def status(json_output: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Where each part of the stack listens and whether it answers."""
    current = local_stack.status(current_settings())
    if json_output:
        emit_json(current)
        return
    for part in current.parts:
        mark = "[green]up[/]" if part.healthy else "[red]down[/]"
        console.print(f"{part.name:10} {mark}")
    console.print(f"Prefect UI: {current.prefect_ui_url}")


@app.command()
@handled
def init(json_output: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Create the fleet-level resources (bucket, topic, IoT policy, role alias, thing group)."""
    record = ensure_fleet(control_plane(current_settings()).clients)
    if json_output:
        emit_json(record)
        return
    for key, value in record.model_dump(mode="json").items():
        console.print(f"[bold]{key}[/]: {value}")


@app.command()
@handled
def demo() -> None:
    """Start the local stack, register demo cameras and show them (what `make demo` runs)."""
    run_demo(current_settings())
