"""`fleet analyzer`: the frames analyzer's workers, and the fleet's choice of analyzer."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from cli.errors import handled
from cli.options import AnalyzerChoice, JsonOption
from cli.settings import current_settings

app = typer.Typer(help="The fleet's analyzer: its workers and which analyzer the fleet uses.")


@app.command()
@handled
def run(
    replicas: Annotated[
        int,
        typer.Option(
            min=1, help="Workers the fleet runs: each takes its share of FLEET_FRAMES_DETECT_RATE."
        ),
    ] = 1,
    wait_seconds: Annotated[
        int, typer.Option(min=0, max=20, help="Long-poll duration of each receive, 0 to 20.")
    ] = 20,
    heartbeat_file: Annotated[
        Path | None, typer.Option(help="Rewrite this JSON file every 2 s (liveness checks).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING...")] = "INFO",
) -> None:
    """Run one analysis worker until Ctrl-C or SIGTERM: frames sessions from the fleet's analysis
    queue, analysed with KVS GetImages and Rekognition DetectLabels.

    Run as many as needed (and say how many with --replicas): workers share the queue. Sessions
    at once: FLEET_ANALYZER_SESSIONS. On the local stack `fleet up` already runs one. A fleet
    on stream processors has no analysis queue: the worker waits for one.
    """
    from cli.control_plane import control_plane
    from cli.output import err_console
    from services.analyzer.service import AnalyzerConfig, run_analyzer
    from services.harness.process import stop_on_signals

    logging.getLogger().setLevel(log_level.upper())
    settings = current_settings()
    rt = control_plane(settings)
    err_console().print(f"analysis queue: {rt.names.analysis_queue}")
    config = AnalyzerConfig.from_settings(
        settings, heartbeat_file=heartbeat_file, wait_seconds=wait_seconds, replicas=replicas
    )
    stop = stop_on_signals("analysis worker")
    run_analyzer(settings, config, stop)


@app.command()
@handled
def use(
    analyzer: Annotated[AnalyzerChoice, typer.Argument(help="stream-processor or frames.")],
    json_output: JsonOption = False,
) -> None:
    """Switch the fleet to this analyzer: create what it needs (frames: the analysis queue and
    table; stream-processor: each camera's processor and role, within the quota), record it with
    the fleet, then delete what the other one needed. Settings, regions of interest included,
    carry over. Idempotent; refused while a camera has a session running. Running parts follow
    within seconds (on the local stack the command waits for the bridge)."""
    from cli.control_plane import control_plane
    from cli.output import console, emit_json, err_console
    from cloud.analysis.switch import switch_analyzer
    from cloud.fleet import ensure_fleet
    from cloud.models import Analyzer
    from cloud.registration import RegistrationContext

    rt = control_plane(current_settings().model_copy(update={"analyzer": None}))
    context = RegistrationContext(
        clients=rt.clients,
        names=rt.names,
        fleet=ensure_fleet(rt.clients),
        bundle_root=rt.settings.bundles_dir,
        broker_ca_pem="",  # no bundle is written
    )
    report = switch_analyzer(context, Analyzer(analyzer.value))
    if rt.settings.is_local:
        from cli.stack_guard import await_bridge_analyzer

        if not await_bridge_analyzer(rt.settings, report.analyzer.value):
            err_console().print("warning: the local stack's bridge has not followed the switch")
    if json_output:
        emit_json(report)
        return
    out = console()
    out.print(
        f"fleet {rt.names.fleet}: analyzer {report.analyzer} (was {report.previous}), "
        f"{report.cameras} cameras"
    )
    for line in report.created:
        out.print(f"  ensured  {line}")
    for line in report.deleted:
        out.print(f"  deleted  {line}")
