"""Options several commands share. Plain types only: building the command line imports nothing
else."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Show the plan; change nothing.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before deleting.")]
KeepResults = Annotated[
    bool, typer.Option("--keep-results", help="Keep the result frames and detection records.")
]


class Scenario(StrEnum):
    """What a simulated camera sees: the local stack's scenes (`stack.cameras.scenes.SceneKind`),
    named here so that the command line is built without loading them."""

    PERSON = "person"
    EMPTY = "empty"
    STORM = "storm"
    VISITOR = "visitor"
    STRANGER = "stranger"


class AnalyzerChoice(StrEnum):
    """The fleet's analyzers (`cloud.models.Analyzer`), named here for the same reason."""

    STREAM_PROCESSOR = "stream-processor"
    FRAMES = "frames"
