"""`fleet analyzer`: the frames analyzer's workers, and the fleet's choice of analyzer."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from cli.errors import handled
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
