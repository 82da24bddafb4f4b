"""`fleet agent run`: the camera-host agent in the foreground (systemd runs it this way).

It imports the agent and nothing else of the product: on a camera host it costs what
`python -m device` costs, plus the command line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="The camera-host agent.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command("run")
def run_agent(
    config: Annotated[Path, typer.Option("--config", help="The registration bundle's agent.toml.")],
) -> None:
    """Connect to IoT Core (or the local broker), run the video pipeline, report motion and health.

    Every setting in agent.toml can be overridden from the environment:
    FLEET_AGENT_<SECTION>__<FIELD>, e.g. FLEET_AGENT_SOURCE__PATTERN=ball.
    """
    from device.agent import run

    root = logging.getLogger()
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)
    raise typer.Exit(run(config))
