"""`fleet-report`: the fleet's detections, analysis and its estimated cost over a period
(a week by default), published as the markdown artifact `fleet-report` with a chart.

A run lists the registered cameras, reads each camera's detections and daily usage for the window
from the detections table (`cloud.report.reading`: two key-range queries per camera, a few cameras
at a time, in one task), builds the report (`cloud.report.aggregate`), draws the chart, stores it
in the results bucket under `reports/<fleet>/<report date>/detections.png` and links it from the
artifact with a presigned link that lasts as long as SigV4 allows (7 days: until the next weekly
report). A camera that cannot be read is reported as such; a chart that cannot be stored leaves
the report without it. Only an unreadable registry fails the run.

Served by `flows.serve` (`deployment`): every Monday at 06:00 UTC, for the 7 days before.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.client.schemas.schedules import CronSchedule
from prefect.deployments.runner import RunnerDeployment

from cloud import links
from cloud.errors import FleetError
from cloud.report import reading, store
from cloud.report.aggregate import FramesSampling, build_report
from cloud.report.chart import report_chart
from cloud.report.cost import DEFAULT_PRICES
from cloud.report.models import CameraReadings, ChartRef, FleetReport, ReportWindow
from cloud.report.render import report_markdown, summary_line
from cloud.report.window import parse_since, window_ending
from flows.fleet_status import Reads, list_cameras, read_each
from flows.retry import AWS_RETRY
from flows.runtime import runtime

ARTIFACT_KEY = "fleet-report"
DEFAULT_SINCE = "7d"
SCHEDULE = "0 6 * * 1"  # Mondays, 06:00 UTC
LINK_SECONDS = links.MAX_SECONDS  # 7 days: the report is weekly


@task(name="read-report-data", **AWS_RETRY)
def read_report_data(camera_ids: list[str], window: ReportWindow) -> Reads[CameraReadings]:
    rt = runtime()
    table = rt.names.detections_table
    return read_each(camera_ids, lambda c: reading.read_camera(rt.clients, table, c, window))


@task(name="store-report-chart", **AWS_RETRY)
def store_chart(fleet: str, report_date: date, png: bytes) -> ChartRef:
    rt = runtime()
    uri = store.put_chart(
        rt.clients, rt.names.results_bucket, store.chart_key(fleet, report_date), png
    )
    link = links.presigned_link(rt.clients, uri, LINK_SECONDS)
    return ChartRef(uri=uri, url=link.url, expires_at=link.expires_at)


@flow(name="fleet-report", flow_run_name="fleet report {since}", log_prints=False)
async def fleet_report_flow(since: str = DEFAULT_SINCE) -> FleetReport:
    """Report the fleet's detections, analysis and estimated cost over `since` (7d, 24h, 30d)
    and publish the `fleet-report` artifact."""
    log = get_run_logger()
    rt = runtime()
    window = window_ending(datetime.now(UTC), parse_since(since))
    camera_ids = list_cameras()
    reads = read_report_data(camera_ids, window)
    settings = rt.settings
    report = build_report(
        rt.names.fleet,
        window,
        rt.analyzer,
        DEFAULT_PRICES,
        FramesSampling(
            search_ms=settings.frames_search_ms, confirmations=settings.frames_confirmations
        ),
        reads.values.values(),
        reads.errors,
        generated_at=datetime.now(UTC),
    )
    for camera_id, why in sorted(reads.errors.items()):
        log.warning("camera %s: not read for the report: %s", camera_id, why)
    try:
        chart = store_chart(report.fleet, report.report_date, report_chart(report))
        report = report.model_copy(update={"chart": chart})
    except FleetError as err:
        log.warning("the report's chart was not stored: %s", err)
        report = report.model_copy(update={"chart_error": str(err)})
    summary = summary_line(report)
    await acreate_markdown_artifact(
        key=ARTIFACT_KEY,
        markdown=report_markdown(report),
        description=f"Fleet {report.fleet}: {summary}",
    )
    log.info("fleet %s: %s", report.fleet, summary)
    return report


def deployment() -> RunnerDeployment:
    """The served `fleet-report` deployment: every Monday at 06:00 UTC, the 7 days before."""
    # An async flow's to_deployment is typed as maybe a coroutine; called from sync code it is not.
    return fleet_report_flow.to_deployment(  # type: ignore[return-value]
        name="fleet-report",
        description=(
            "The fleet's detections per camera, day and label, analysis sessions, video or images "
            "analysed, estimated cost and busiest hours, as the `fleet-report` artifact."
        ),
        schedules=[CronSchedule(cron=SCHEDULE, timezone="UTC")],
        parameters={"since": DEFAULT_SINCE},
        tags=["camera-fleet"],
    )
