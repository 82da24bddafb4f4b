"""`fleet bridge run`: one replica of the MQTT bridge in the foreground."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from cli.errors import handled
from cli.settings import current_settings

app = typer.Typer(
    help="The MQTT bridge: camera status and health into each camera's shadow.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command()
@handled
def run(
    flush_interval: Annotated[
        float, typer.Option(help="Seconds between non-urgent shadow writes of one camera.")
    ] = 15.0,
    replica: Annotated[
        str | None, typer.Option(help="This replica's name in its client id (default: random).")
    ] = None,
    heartbeat_file: Annotated[
        Path | None, typer.Option(help="Rewrite this JSON file every 2 s (liveness checks).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING...")] = "INFO",
) -> None:
    """Ensure the bridge's own IoT identity, then run one replica until Ctrl-C or SIGTERM.

    Run it on as many hosts as needed: replicas share the work through an MQTT shared
    subscription. On the local stack `fleet up` already runs one.
    """
    from cli.control_plane import control_plane
    from cli.output import err_console
    from cloud.bridge_identity import ensure_bridge_identity
    from services.bridge.service import BridgeConfig, run_bridge
    from services.harness.process import stop_on_signals

    logging.getLogger().setLevel(log_level.upper())
    settings = current_settings()
    rt = control_plane(settings, whole_stack=True)
    identity = ensure_bridge_identity(
        rt.clients, rt.names, settings.bridge_dir, rt.broker_ca_file.read_text()
    )
    for change in identity.changed:
        err_console().print(f"bridge identity: {change}")
    err_console().print(f"bridge bundle: {identity.bundle_dir}")
    extra = {} if replica is None else {"replica": replica}
    config = BridgeConfig(
        flush_interval_seconds=flush_interval, heartbeat_file=heartbeat_file, **extra
    )
    stop = stop_on_signals("bridge")
    run_bridge(settings, config, stop)
