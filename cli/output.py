"""What the CLI prints: JSON for machines, a rich table for people."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

console = Console()
# Progress and notes go to stderr, so `--json` output on stdout stays machine-readable.
err_console = Console(stderr=True)


def emit_json(
    value: BaseModel | dict[str, Any] | Sequence[BaseModel] | Sequence[dict[str, Any]],
) -> None:
    if isinstance(value, BaseModel):
        data: Any = value.model_dump(mode="json")
    elif isinstance(value, dict):
        data = value
    else:
        data = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value]
    print(json.dumps(data, indent=2, sort_keys=True))


def emit_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    to: Console = console,
) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    to.print(table)
