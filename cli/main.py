"""`fleet`: the command line of the camera fleet.

Building the command line imports typer and the command modules, which import nothing heavy at
the top: each command imports what it uses when it runs. The local-stack commands (`up`,
`down`, `status`, `demo`) are the only ones here that reach `stack`.
"""

from __future__ import annotations

import atexit
import gc
import logging
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from cli import agent, analyzer, automations, bridge, camera, faces, report, results_consumer
from cli.errors import handled
from cli.options import AnalyzerChoice, DryRun, JsonOption, KeepResults, Yes
from cli.settings import current_settings, set_overrides
from cli.template import template

if TYPE_CHECKING:
    pass

app = typer.Typer(
    help="Run a fleet of security cameras on AWS (or the local stack), orchestrated with Prefect.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help and usage errors, on every sub-app too: rich's help formatter takes longer to
    # import than the rest of the command line.
    rich_markup_mode=None,
)
app.add_typer(camera.app, name="camera")
app.add_typer(agent.app, name="agent")
app.add_typer(bridge.app, name="bridge")
app.add_typer(results_consumer.app, name="results")
app.add_typer(automations.app, name="automations")
app.add_typer(analyzer.app, name="analyzer")
app.add_typer(faces.app, name="faces")
app.command(name="report")(report.report)
app.command(name="template")(template)


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


class PrefectDatabaseChoice(StrEnum):
    """The local stack's Prefect databases (`stack.supervisor.models.PrefectDatabase`), named here
    so that the command line is built without loading the stack."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


@app.command()
@handled
def up(
    processor_quota: Annotated[
        int | None, typer.Option(help="Local stack: Rekognition stream processor quota.")
    ] = None,
    streaming_video: Annotated[
        bool | None,
        typer.Option(
            "--streaming-video/--no-streaming-video",
            help="Local stack: whether the account may create stream processors (no: as a new "
            "AWS account, which gets only the frames analyzer).",
        ),
    ] = None,
    prefect_database: Annotated[
        PrefectDatabaseChoice | None,
        typer.Option(
            help="The Prefect server's database: sqlite (default) or postgresql (a PostgreSQL "
            "the stack starts, from the Debian package `postgresql`). Kept until changed.",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Start the local stack (AWS endpoint, MQTT broker, Prefect server, served flows)."""
    from cli.output import console, emit_json
    from stack.supervisor import local_stack
    from stack.supervisor.models import PrefectDatabase

    extra: dict[str, object] = {}
    if processor_quota is not None:
        extra["processor_quota"] = processor_quota
    if streaming_video is not None:
        extra["streaming_video"] = streaming_video
    status = local_stack.up(
        current_settings(**extra),
        prefect_database=PrefectDatabase(prefect_database.value) if prefect_database else None,
    )
    if json_output:
        emit_json(status)
        return
    out = console()
    out.print("local stack is up")
    out.print(f"  Prefect UI:    {status.prefect_ui_url} ({status.prefect_database} database)")
    out.print(f"  AWS endpoint:  {status.aws_endpoint}")
    out.print(f"  MQTT (mTLS):   {status.mqtt.host}:{status.mqtt.port}")


@app.command()
@handled
def down(
    wipe: Annotated[bool, typer.Option(help="Also delete the stack's state.")] = False,
) -> None:
    """Stop the local stack (its state survives unless --wipe)."""
    from cli.output import console
    from stack.supervisor import local_stack

    local_stack.down(current_settings(), wipe=wipe)
    console().print("local stack stopped" + (" and wiped" if wipe else ""))


@app.command()
@handled
def status(json_output: JsonOption = False) -> None:
    """The local stack's parts: where each listens and whether it answers.

    For the cameras, see `fleet camera overview` (every camera) and `fleet camera show ID`.
    """
    from cli.output import console, emit_json
    from cli.stack_guard import followed_analyzer
    from stack.supervisor import local_stack

    settings = current_settings()
    current = local_stack.status(settings)
    analyzer = followed_analyzer(settings)
    if json_output:
        emit_json({**current.model_dump(mode="json"), "analyzer": analyzer})
        return
    out = console()
    for part in current.parts:
        mark = "[green]up[/]" if part.healthy else "[red]down[/]"
        out.print(f"{part.name:10} {mark}")
    out.print(f"Prefect UI: {current.prefect_ui_url}")
    if analyzer is not None:
        out.print(f"Fleet {settings.name}: analyzer {analyzer}")


@app.command()
@handled
def init(
    analyzer: Annotated[
        AnalyzerChoice | None,
        typer.Option(
            help="A new fleet's analyzer (FLEET_ANALYZER; default stream-processor). New AWS "
            "accounts get no stream processors: use frames. An existing fleet keeps its own: "
            "switch with `fleet analyzer use`.",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Create the fleet-level resources (bucket, topic, IoT policy, role alias, thing group, and
    the analyzer's)."""
    from cli.control_plane import control_plane
    from cli.output import console, emit_json
    from cloud.fleet import ensure_fleet
    from cloud.models import Analyzer

    settings = current_settings()
    if analyzer is not None:
        settings = settings.model_copy(update={"analyzer": Analyzer(analyzer.value)})
    record = ensure_fleet(control_plane(settings).clients)
    if json_output:
        emit_json(record)
        return
    for key, value in record.model_dump(mode="json").items():
        console().print(f"[bold]{key}[/]: {value}")


@app.command()
@handled
def teardown(
    camera: Annotated[
        list[str] | None,
        typer.Option("--camera", help="Only this camera (repeatable); none: the whole fleet."),
    ] = None,
    dry_run: DryRun = False,
    yes: Yes = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    keep_results: KeepResults = False,
) -> None:
    """Delete the whole fleet (or --camera ...): everything it created, in order; then list
    every service again and report what is left (nothing, or what and why)."""
    from cli.teardown import run_teardown

    run_teardown(
        current_settings(),
        camera or [],
        dry_run=dry_run,
        yes=yes,
        json_output=json_output,
        keep_results=keep_results,
    )


@app.command()
@handled
def demo(
    analyzer: Annotated[
        AnalyzerChoice | None,
        typer.Option(help="The fleet's analyzer (default: its own, else stream-processor)."),
    ] = None,
) -> None:
    """Start the local stack, register demo cameras and show them (what `make demo` runs)."""
    from cli.demo import run_demo
    from cloud.models import Analyzer

    run_demo(current_settings(), Analyzer(analyzer.value) if analyzer else None)


def run() -> None:
    """The `fleet` console script: the app, with the garbage collector set for a short command.

    A command's imports create several hundred thousand long-lived objects (modules, models,
    botocore's service models). Collecting while they are created, and walking them all again at
    exit, is a fifth of a read command's time: collect less often, and not at exit. A long-running
    command (an agent, a service) still collects, every 10,000 new objects instead of 700.
    """
    gc.set_threshold(10_000, 10, 10)
    atexit.register(gc.freeze)  # runs before the interpreter's final collections
    app(prog_name="fleet")
