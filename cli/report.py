"""`fleet report`: the `fleet-report` flow, run in this process now (it is also served weekly).

`--since` is checked before Prefect is imported, so a mistake costs no start-up.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli.errors import handled
from cli.options import JsonOption
from cli.settings import current_settings

_COLUMNS = ("camera", "detections", "sessions", "minutes analysed", "est. cost")
_FRAMES_COLUMNS = ("camera", "detections", "sessions", "images analysed (est.)", "est. cost")


@handled
def report(
    since: Annotated[
        str, typer.Option(help="The period: a whole number of days or hours (7d, 24h, 30d).")
    ] = "7d",
    json_output: JsonOption = False,
) -> None:
    """Report the fleet's detections per camera, day and label, its analysis sessions, video
    analysed, estimated cost and busiest hours (the `fleet-report` artifact, with a chart)."""
    from cloud.report.window import parse_since

    parse_since(since)
    from cli.output import console, emit_json, emit_table
    from cli.prefect_context import run_flow
    from cloud.models import Analyzer
    from cloud.report.render import summary_line, usd
    from flows.fleet_report import ARTIFACT_KEY, fleet_report_flow

    result = run_flow(current_settings(), fleet_report_flow(since=since))
    if json_output:
        emit_json(result)
        return
    frames = result.analyzer is Analyzer.FRAMES
    rows = [
        [
            camera.camera_id,
            "not read" if camera.unread else camera.detections,
            camera.sessions,
            (camera.images or 0) if frames else f"{camera.minutes:.1f}",
            usd(camera.cost_usd),
        ]
        for camera in result.cameras
    ]
    emit_table(
        f"fleet {result.fleet}: {summary_line(result)}",
        _FRAMES_COLUMNS if frames else _COLUMNS,
        rows,
    )
    out = console()
    out.print(f"artifact: {ARTIFACT_KEY}", markup=False, highlight=False)
    if result.chart is not None:
        out.print(f"chart: {result.chart.url}", markup=False, highlight=False)
    elif result.chart_error:
        out.print(f"chart not stored: {result.chart_error}", markup=False, highlight=False)
