"""The weekly report against the local AWS endpoint: a simulated week of detections and session
ends, written as the results consumer writes them, read back per camera by key range and counted
per camera, UTC day and label; and the `fleet-report` flow on a Prefect test server, which stores
the chart in the results bucket and links it with a presigned URL that serves the PNG."""

from __future__ import annotations

import asyncio
import io
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from cloud import detections
from cloud.clients import AwsClients
from cloud.errors import NotFoundError
from cloud.fleet import ensure_fleet, fleet_names
from cloud.models import Analyzer
from cloud.naming import FleetNames
from cloud.rekognition_messages import DetectionRecord, SessionEndRecord
from cloud.report import reading, store
from cloud.report.aggregate import FramesSampling, build_report
from cloud.report.chart import CHART_SIZE
from cloud.report.cost import DEFAULT_PRICES
from cloud.report.models import FleetReport
from cloud.report.window import window_ending
from cloud.settings import FleetSettings
from stack.endpoint.server import LocalEndpoint

CAMERAS = ("back-yard", "front-door")
# (days ago, hour, label) per camera; several detections per session, as a stream processor
# reports each class once per session.
WEEK = {
    "front-door": [
        (7, 8, "PERSON"), (7, 8, "PACKAGE"), (6, 18, "PERSON"), (6, 18, "PET"),
        (4, 18, "PERSON"), (3, 7, "PACKAGE"), (2, 18, "PERSON"), (1, 23, "PERSON"),
    ],
    "back-yard": [(5, 2, "PET"), (5, 3, "PET"), (3, 3, "PET"), (3, 3, "PERSON"), (1, 12, "PET")],
}  # fmt: skip
OLD = 10  # days ago: before the window


@dataclass
class Week:
    clients: AwsClients
    names: FleetNames
    now: datetime
    counts: dict[tuple[str, date], Counter[str]]  # what was written inside the window
    usage: dict[tuple[str, date], tuple[int, int]]  # processed ms, sessions


def _record(camera: str, session: str, label: str, at: datetime, bucket: str) -> DetectionRecord:
    return DetectionRecord(
        camera_id=camera,
        session_id=session,
        label=label,
        confidence=91.5,
        detected_at=at,
        frame_uri=f"s3://{bucket}/cameras/{camera}/{session}/{label}/frame.jpg",
        processor=f"camfleet-{camera}",
    )


def _write_week(clients: AwsClients, names: FleetNames, now: datetime) -> Week:
    table, bucket = names.detections_table, names.results_bucket
    counts: dict[tuple[str, date], Counter[str]] = {}
    usage: dict[tuple[str, date], tuple[int, int]] = {}
    for camera, seen in WEEK.items():
        for n, (days_ago, hour, label) in enumerate([*seen, (OLD, 12, "PERSON")]):
            day = now.date() - timedelta(days=days_ago)
            at = datetime(day.year, day.month, day.day, hour, 10 + n, 0, 123_000, tzinfo=UTC)
            session = f"{day.isoformat()}-{hour:02d}"
            assert detections.put_detection(
                clients, table, _record(camera, session, label, at, bucket)
            )
            ended = at + timedelta(seconds=20)
            end = SessionEndRecord(
                camera_id=camera,
                session_id=session,
                processor=f"camfleet-{camera}",
                ended_at=ended,
                processed_ms=15_000,
            )
            # Two detections of one session share its end: it is counted once.
            if detections.put_session_end(clients, table, end) and days_ago != OLD:
                ms, sessions = usage.get((camera, ended.date()), (0, 0))
                usage[(camera, ended.date())] = (ms + 15_000, sessions + 1)
            if days_ago != OLD:
                counts.setdefault((camera, day), Counter())[label] += 1
    return Week(clients, names, now, counts, usage)


@pytest.fixture
def week(local_endpoint: LocalEndpoint, tmp_path: Path) -> Iterator[Week]:
    local_endpoint.reset()
    clients = AwsClients(FleetSettings(home=tmp_path, aws_port=local_endpoint.port))
    ensure_fleet(clients)
    names = fleet_names(clients)
    yield _write_week(clients, names, datetime.now(UTC))


def _assert_matches(report: FleetReport, week: Week) -> None:
    assert [c.camera_id for c in report.cameras] == sorted(CAMERAS)
    for camera in report.cameras:
        assert camera.unread is None
        for day in camera.days:
            key = (camera.camera_id, day.day)
            assert day.detections_by_label == dict(week.counts.get(key, {})), key
            assert (day.processed_ms, day.sessions) == week.usage.get(key, (0, 0)), key
    assert report.detections == sum(len(seen) for seen in WEEK.values())
    assert report.busiest_hours[0].hour == 18 and report.busiest_hours[0].detections == 4


def test_the_report_counts_what_was_written_per_camera_day_and_label(week: Week) -> None:
    window = window_ending(week.now, timedelta(days=7))
    readings = [
        reading.read_camera(week.clients, week.names.detections_table, camera, window)
        for camera in CAMERAS
    ]
    # The older week's detection and usage are outside the key ranges read.
    assert sum(len(r.detections) for r in readings) == sum(len(s) for s in WEEK.values())
    assert all(u.day >= window.days[0] for r in readings for u in r.usage)
    report = build_report(
        week.names.fleet,
        window,
        Analyzer.STREAM_PROCESSOR,
        DEFAULT_PRICES,
        FramesSampling(search_ms=3000, confirmations=2),
        readings,
        {},
        week.now,
    )
    _assert_matches(report, week)
    sessions = sum(s for _, s in week.usage.values())
    assert report.sessions == sessions and report.minutes == pytest.approx(sessions * 0.25)
    assert report.cost_usd == pytest.approx(
        sessions * 0.25 * DEFAULT_PRICES.stream_processor_per_minute
    )


def test_a_camera_without_a_table_is_an_error_for_that_camera(week: Week) -> None:
    window = window_ending(week.now, timedelta(days=1))
    with pytest.raises(NotFoundError):
        reading.read_camera(week.clients, "no-such-table", "front-door", window)


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


def test_the_flow_publishes_the_report_and_a_linked_chart(week: Week, prefect_server: None) -> None:
    from flows import runtime
    from flows.fleet_report import ARTIFACT_KEY, fleet_report_flow

    iot = week.clients.iot
    for camera in CAMERAS:
        iot.create_thing(
            thingName=camera, attributePayload={"attributes": {"fleet": week.names.fleet}}
        )
        iot.add_thing_to_thing_group(thingGroupName=week.names.thing_group, thingName=camera)
    runtime.configure(week.clients.settings)

    report = asyncio.run(fleet_report_flow(since="7d"))

    _assert_matches(report, week)
    assert report.chart is not None and report.chart_error is None
    key = store.chart_key(week.names.fleet, report.report_date)
    assert report.chart.uri == f"s3://{week.names.results_bucket}/{key}"
    head = week.clients.s3.head_object(Bucket=week.names.results_bucket, Key=key)
    assert (head["ContentType"], head["ServerSideEncryption"]) == ("image/png", "AES256")
    assert report.chart.expires_at - datetime.now(UTC) > timedelta(days=6, hours=23)
    with urllib.request.urlopen(report.chart.url, timeout=10) as response:  # no credentials
        png = response.read()
    image = Image.open(io.BytesIO(png))
    assert (image.format, image.size) == ("PNG", CHART_SIZE)

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def artifacts() -> list[str]:
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[ARTIFACT_KEY]))
            )
        return [str(a.data) for a in found]

    published = asyncio.run(artifacts())
    assert len(published) == 1
    assert report.chart.url in published[0]
    assert "| front-door | 8 |" in published[0]
