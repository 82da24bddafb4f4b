"""`fleet results run`: one results consumer in the foreground."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from cli.errors import handled
from cli.settings import current_settings

app = typer.Typer(
    help="The results consumer: Rekognition's notifications into detections and notifications.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command()
@handled
def run(
    cooldown: Annotated[
        float | None,
        typer.Option(help="Seconds between two notifications of one camera (default 60)."),
    ] = None,
    wait_seconds: Annotated[
        int, typer.Option(help="Long-poll duration of each receive, 0 to 20.")
    ] = 20,
    heartbeat_file: Annotated[
        Path | None, typer.Option(help="Rewrite this JSON file every 2 s (liveness checks).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING...")] = "INFO",
) -> None:
    """Ensure the fleet's results wiring, then consume until Ctrl-C or SIGTERM.

    Run as many as needed: consumers share the queue. On the local stack `fleet up` already runs
    one. The webhook is FLEET_WEBHOOK_URL; the cooldown FLEET_NOTIFICATION_COOLDOWN_SECONDS.
    """
    from prefect.settings import temporary_settings

    from cli.control_plane import control_plane
    from cli.output import err_console
    from cli.prefect_context import prefect_settings
    from cloud.fleet import ensure_fleet
    from services.harness.process import stop_on_signals
    from services.results_consumer.service import ConsumerConfig, run_consumer

    logging.getLogger().setLevel(log_level.upper())
    settings = current_settings()
    rt = control_plane(settings, whole_stack=True)
    fleet = ensure_fleet(rt.clients)
    if fleet.results is not None:
        err_console().print(f"results queue: {fleet.results.queue_url}")
        err_console().print(f"notifications: {fleet.results.notifications_topic_arn}")
    overrides: dict[str, object] = {"heartbeat_file": heartbeat_file, "wait_seconds": wait_seconds}
    if cooldown is not None:
        overrides["cooldown_seconds"] = cooldown
    config = ConsumerConfig.from_settings(settings, **overrides)
    stop = stop_on_signals("results consumer")
    with temporary_settings(updates=prefect_settings(settings)):
        run_consumer(settings, config, stop)
