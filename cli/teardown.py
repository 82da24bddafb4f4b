"""`fleet teardown` and `fleet camera remove`: the `teardown-fleet` flow, run in this process.

Without --yes the plan comes first (a dry run: a flow run of its own, its plan an artifact in
the UI), then a question on the terminal; with no terminal to ask in, the command refuses.
Imported by those commands when they run.
"""

from __future__ import annotations

import logging
import sys
from itertools import groupby

import typer
from rich.console import Console
from rich.progress import Progress

from cli.output import console, emit_json, emit_table, err_console
from cli.prefect_context import run_flow
from cloud.errors import InvalidInputError
from cloud.naming import validate_camera_id
from cloud.settings import FleetSettings
from cloud.teardown.models import short_arn
from flows.teardown import TeardownIncomplete, progress_reporter, teardown_fleet_flow
from flows.teardown_report import StepOutcome, TeardownReport, plan_rows, proof_rows, summary_line

_PLAN_COLUMNS = ("#", "resource", "name", "action", "detail")


def run_teardown(
    settings: FleetSettings,
    cameras: list[str],
    *,
    dry_run: bool,
    yes: bool,
    json_output: bool,
    keep_results: bool,
) -> None:
    ids = sorted({validate_camera_id(c) for c in cameras}) or None
    if not (dry_run or yes or sys.stdin.isatty()):
        raise InvalidInputError(
            "a teardown deletes what it plans only once confirmed, and there is no terminal to "
            "ask in: add --yes (or --dry-run to see the plan). Nothing was deleted."
        )
    if dry_run or not yes:
        planned = run_flow(
            settings, teardown_fleet_flow(dry_run=True, cameras=ids, keep_results=keep_results)
        )
        if dry_run or planned.plan.empty:
            _show(planned, json_output)
            return
        show_plan(planned, to=err_console() if json_output else console())
        count = len(planned.plan.steps)
        if not typer.confirm(f"Delete these {count} resources?", err=True):
            err_console().print("nothing was deleted")
            raise typer.Exit(1)
    try:
        report = _run_with_progress(settings, ids, keep_results)
    except TeardownIncomplete as err:
        _show(err.report, json_output)
        raise
    _show(report, json_output)


def _run_with_progress(
    settings: FleetSettings, cameras: list[str] | None, keep_results: bool
) -> TeardownReport:
    with Progress(console=err_console(), transient=True) as progress:
        bar = progress.add_task("tearing down", total=None)

        class Bar:
            def planned(self, steps: int) -> None:
                progress.update(bar, total=steps)

            def finished(self, outcomes: list[StepOutcome]) -> None:
                progress.advance(bar, len(outcomes))  # failures: the run's log says which

        token = progress_reporter.set(Bar())
        engine_log = logging.getLogger("prefect.flow_runs")
        engine_log.addFilter(_no_traceback_when_incomplete)
        try:
            return run_flow(
                settings,
                teardown_fleet_flow(dry_run=False, cameras=cameras, keep_results=keep_results),
            )
        finally:
            engine_log.removeFilter(_no_traceback_when_incomplete)
            progress_reporter.reset(token)


def _no_traceback_when_incomplete(record: logging.LogRecord) -> bool:
    """Prefect logs a failed run's exception with its traceback; a teardown that left something
    is not a crash, and the report below says what and why."""
    if record.exc_info and isinstance(record.exc_info[1], TeardownIncomplete):
        record.exc_info, record.exc_text = None, None
    return True


def show_plan(report: TeardownReport, *, to: Console | None = None) -> None:
    """The plan, a table per camera (in deletion order), then the fleet's, what is kept and
    what is left alone."""
    to = to or console()
    rows = plan_rows(report.plan)
    for camera, group in groupby((r for r in rows if r["#"]), key=lambda r: r["camera"]):
        listed = [{**r, "name": short_arn(r["name"])} for r in group]
        emit_table(
            f"{camera}: {len(listed)} resources to delete, in this order",
            _PLAN_COLUMNS,
            [[r[c] for c in _PLAN_COLUMNS] for r in listed],
            to=to,
        )
    others = [r for r in rows if not r["#"]]
    if others:
        columns = ("camera", "resource", "name", "action", "detail")
        emit_table("not deleted", columns, [[r[c] for c in columns] for r in others], to=to)
    to.print(summary_line(report), markup=False, highlight=False)


def _show(report: TeardownReport, json_output: bool) -> None:
    if json_output:
        emit_json(report)
        return
    if report.dry_run:
        show_plan(report)
        return
    columns = ("service", "fleet resources left", "kept (--keep-results)", "what is left and why")
    rows = proof_rows(report)
    emit_table("every service listed again", columns, [[r[c] for c in columns] for r in rows])
    console().print(summary_line(report), markup=False, highlight=False)
