"""`fleet analyzer`: the frames analyzer's workers, and the fleet's choice of analyzer."""

from __future__ import annotations

import typer

app = typer.Typer(help="The fleet's analyzer: its workers and which analyzer the fleet uses.")
