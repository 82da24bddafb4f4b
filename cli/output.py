"""What the CLI prints: JSON for machines, a rich table for people.

rich is imported by the first table or console, not by importing this module: `--json` output
and `--help` do without it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.console import Console


@cache
def console() -> Console:
    from rich.console import Console

    return Console()


@cache
def err_console() -> Console:
    """Progress and notes go to stderr, so `--json` output on stdout stays machine-readable."""
    from rich.console import Console

    return Console(stderr=True)


def emit_json(
    value: BaseModel | dict[str, Any] | Sequence[BaseModel] | Sequence[dict[str, Any]],
) -> None:
    from pydantic import BaseModel

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
    to: Console | None = None,
) -> None:
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    (to or console()).print(table)
