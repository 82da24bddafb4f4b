"""The `fleet-status` flow on the local endpoint: the cameras and their status come from the fleet
index by pages, detections and usage are read only for the cameras that moved today, and the
facts are those of the shadows and the detections table."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloud import detections, shadow
from cloud.clients import AwsClients
from cloud.fleet import ensure_fleet, fleet_names
from cloud.rekognition_messages import DetectionRecord, SessionEndRecord
from cloud.settings import FleetSettings
from device.messages import Presence
from flows.fleet_status_report import Presence as Seen
from stack.endpoint.server import LocalEndpoint
from tests.support.endpoint_admin import last_seq, requests_since


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture
def clients(local_endpoint: LocalEndpoint, tmp_path: Path) -> AwsClients:
    local_endpoint.reset()
    clients = AwsClients(FleetSettings(home=tmp_path, aws_port=local_endpoint.port))
    ensure_fleet(clients)
    return clients


def _register(clients: AwsClients, camera: str, update: shadow.ShadowUpdate | None) -> None:
    names = fleet_names(clients)
    attributes = {"fleet": names.fleet}
    clients.iot.create_thing(thingName=camera, attributePayload={"attributes": attributes})
    clients.iot.add_thing_to_thing_group(thingGroupName=names.thing_group, thingName=camera)
    if update is not None:
        shadow.update_reported(clients, camera, update)


def test_the_flow_reads_the_index_and_only_the_moved_cameras_detections(
    clients: AwsClients, local_endpoint: LocalEndpoint, prefect_server: None
) -> None:
    from flows import runtime
    from flows.fleet_status import fleet_status_flow

    now = datetime.now(UTC)
    names = fleet_names(clients)
    table = names.detections_table
    online = shadow.PresenceReport(presence=Presence.ONLINE, status_at_ms=_ms(now))
    _register(
        clients,
        "moved",
        shadow.ShadowUpdate(presence=online, last_seen_ms=_ms(now), last_motion_ms=_ms(now)),
    )
    _register(
        clients,
        "idle",
        shadow.ShadowUpdate(
            presence=online,
            last_seen_ms=_ms(now),
            last_motion_ms=_ms(now - timedelta(days=2)),
        ),
    )
    gone = shadow.PresenceReport(
        presence=Presence.OFFLINE, reason="connection lost", status_at_ms=_ms(now)
    )
    _register(clients, "gone", shadow.ShadowUpdate(presence=gone))
    _register(clients, "new", None)
    for camera, at in (("moved", now), ("idle", now - timedelta(days=2))):
        record = DetectionRecord(
            camera_id=camera,
            session_id="s1",
            label="PERSON",
            confidence=90.0,
            detected_at=at,
            frame_uri=f"s3://{names.results_bucket}/cameras/{camera}/s1/frame.jpg",
            processor=names.processor(camera),
        )
        assert detections.put_detection(clients, table, record)
    ended = SessionEndRecord(
        camera_id="moved",
        session_id="s1",
        processor=names.processor("moved"),
        ended_at=now,
        processed_ms=90_000,
    )
    assert detections.put_session_end(clients, table, ended)
    runtime.configure(clients.settings)
    since = last_seq(local_endpoint.url)

    status = asyncio.run(fleet_status_flow())

    rows = {row.camera: row for row in status.cameras}
    assert list(rows) == ["gone", "idle", "moved", "new"]
    assert [rows[c].presence for c in rows] == [
        Seen.OFFLINE,
        Seen.ONLINE,
        Seen.ONLINE,
        Seen.NEVER_SEEN,
    ]
    assert rows["moved"].last_detection is not None and rows["moved"].analysed_minutes_today == 1.5
    assert not rows["moved"].idle_today
    assert rows["idle"].idle_today and rows["idle"].last_detection is None
    assert rows["idle"].analysed_minutes_today == 0.0
    assert status.attention[0].startswith("gone: offline for")
    assert status.attention[0].endswith("(connection lost)")
    assert (status.online, status.offline, status.never_seen, status.moved_today) == (2, 1, 1, 1)
    calls = Counter(
        r["operation"] for r in requests_since(local_endpoint.url, since) if r["service"] != "sts"
    )
    assert calls["SearchIndex"] == 1
    assert calls["GetThingShadow"] == calls["ListThingsInThingGroup"] == 0
    assert (calls["Query"], calls["GetItem"]) == (1, 1)  # the moved camera's alone
