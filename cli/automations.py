"""`fleet automations sync`: the fleet's Prefect automations as declared, created or updated."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.errors import handled
from cli.options import JsonOption
from cli.settings import current_settings

app = typer.Typer(
    help="The fleet's Prefect automations (camera offline, pipeline failed, analyses failing).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command()
@handled
def sync(
    file: Annotated[
        Path | None,
        typer.Option(help="The declaration (default FLEET_AUTOMATIONS_FILE, else infra's)."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Create or update the declared automations by name; `fleet up` does it by itself.

    An automation whose declaration did not change is left as it is, UI edits included.
    """
    import asyncio

    from prefect.settings import temporary_settings

    from cli.output import emit_json, emit_table
    from cli.prefect_context import prefect_settings
    from flows.automations.declaration import declaration_path, load_declaration
    from flows.automations.sync import source_text, sync_declared

    settings = current_settings()
    path = file or declaration_path(settings)
    declaration = load_declaration(path)  # a malformed one fails before Prefect is asked
    with temporary_settings(updates=prefect_settings(settings)):
        synced = asyncio.run(sync_declared(declaration, settings.name, source_text(path)))
    if json_output:
        emit_json(synced)
        return
    emit_table(
        f"automations of {settings.name} ({path})",
        ["automation", "action", "id"],
        [(r.name, r.action.value, r.automation_id) for r in synced],
    )
