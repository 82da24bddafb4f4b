"""`fleet template`: the fleet-level resources as a CloudFormation template (JSON).

It makes no AWS call: deploy the file with `aws cloudformation deploy` (infra/cloudformation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.errors import handled
from cli.options import AnalyzerChoice
from cli.settings import current_settings


@handled
def template(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the template here (default: standard output)."),
    ] = None,
    analyzer: Annotated[
        AnalyzerChoice | None,
        typer.Option(
            help="The Analyzer parameter's default (FLEET_ANALYZER; default stream-processor)."
        ),
    ] = None,
) -> None:
    """Print the CloudFormation template of the fleet-level resources (`fleet init` makes the
    same): bucket, topics, queues, tables, thing group, KVS producer role, role alias and camera
    IoT policy, named as the product names them, policies from infra/policies. Its parameters'
    defaults (Fleet, MediaRetentionDays, Analyzer) come from the fleet's settings."""
    from cli.output import err_console
    from cloud.fleet_template import fleet_template, to_json
    from cloud.models import Analyzer

    settings = current_settings()
    if analyzer is not None:
        settings = settings.model_copy(update={"analyzer": Analyzer(analyzer.value)})
    text = to_json(fleet_template(settings))
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text)
    err_console().print(f"wrote {output}", markup=False, highlight=False)
