"""The gallery publisher: a camera marked while its gallery is written is written once more, with
what the table holds by then; failures are counted and logged, never raised; `close` writes what
is marked, then stops. The detections table is a dict here; links are signed for real (locally)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloud import detections
from cloud.clients import AwsClients
from cloud.errors import RetryableError
from cloud.gallery import gallery_key
from cloud.rekognition_messages import DetectionRecord
from cloud.settings import FleetSettings
from services.results_consumer.gallery import GalleryPublisher

NOW = datetime(2026, 5, 2, 18, 30, tzinfo=UTC)
WAIT_S = 10.0  # a guard against hanging, not a timing assertion


def record(camera: str, minutes_ago: int, label: str = "PERSON") -> DetectionRecord:
    folder = f"s3://fleet-results/cameras/{camera}/{camera}/s{minutes_ago}/{label}-1"
    return DetectionRecord(
        camera_id=camera,
        session_id=f"s{minutes_ago}",
        label=label,
        confidence=90.0,
        detected_at=NOW - timedelta(minutes=minutes_ago),
        frame_uri=f"{folder}/frame.jpg",
        processor=camera,
    )


@dataclass
class Writer:
    """Records what is written; `hold` keeps the first write waiting until `release`."""

    fail_for: set[str] = field(default_factory=set)
    written: list[tuple[str, str, str]] = field(default_factory=list)
    hold: bool = False
    started: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    closed: bool = False

    def write(self, key: str, markdown: str, description: str) -> None:
        self.started.set()
        if self.hold:
            assert self.release.wait(WAIT_S)
            self.hold = False
        if key in self.fail_for:
            raise RetryableError(f"{key}: the Prefect API answered 503")
        self.written.append((key, markdown, description))

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[DetectionRecord]]:
    """Each camera's detections, newest first, as `list_detections` reads them."""
    stored: dict[str, list[DetectionRecord]] = {}

    def listed(
        clients: AwsClients, table: str, camera_id: str, limit: int
    ) -> list[DetectionRecord]:
        if camera_id == "unreadable":
            raise RetryableError("camera unreadable: list detections: throttled")
        return stored.get(camera_id, [])[:limit]

    monkeypatch.setattr(detections, "list_detections", listed)
    return stored


@pytest.fixture
def clients(tmp_path: Path) -> AwsClients:
    return AwsClients(FleetSettings(home=tmp_path, aws_port=4566))  # signs only: no request


@pytest.fixture
def made(clients: AwsClients) -> Iterator[list[GalleryPublisher]]:
    publishers: list[GalleryPublisher] = []
    yield publishers
    for publisher in publishers:
        publisher.close()


def publisher(
    clients: AwsClients, writer: Writer, made: list[GalleryPublisher], size: int = 12
) -> GalleryPublisher:
    made.append(GalleryPublisher(clients, "fleet-detections", 600, writer, size=size))
    return made[-1]


def test_marks_while_a_gallery_is_written_coalesce_into_one_more_write_with_the_latest(
    clients: AwsClients,
    table: dict[str, list[DetectionRecord]],
    made: list[GalleryPublisher],
) -> None:
    table["front-door"] = [record("front-door", 10)]
    table["garage"] = [record("garage", 5, "PET")]
    writer = Writer(hold=True)
    gallery = publisher(clients, writer, made)

    gallery.submit("front-door")
    assert writer.started.wait(WAIT_S)  # its first write is under way, and held
    table["front-door"] = [record("front-door", 1, "PACKAGE"), *table["front-door"]]
    for _ in range(3):
        gallery.submit("front-door")
    gallery.submit("garage")
    gallery.submit("garage")
    writer.release.set()
    gallery.close()

    keys = [key for key, _, _ in writer.written]
    assert keys == [gallery_key("front-door"), gallery_key("front-door"), gallery_key("garage")]
    first, again = writer.written[0][1], writer.written[1][1]
    assert "PACKAGE" not in first and "PACKAGE 90%" in again  # the rewrite reads the table anew
    assert again.index("PACKAGE 90%") < again.index("PERSON 90%")  # newest first
    snapshot = gallery.counters.snapshot("gallery_")
    assert snapshot == {"gallery_updates": 3, "gallery_failures": 0, "gallery_coalesced": 3}


def test_the_gallery_holds_the_latest_detections_with_signed_links(
    clients: AwsClients, table: dict[str, list[DetectionRecord]], made: list[GalleryPublisher]
) -> None:
    table["front-door"] = [record("front-door", minutes) for minutes in range(1, 6)]
    writer = Writer()
    gallery = publisher(clients, writer, made, size=3)
    gallery.submit("front-door")
    gallery.close()

    ((key, markdown, description),) = writer.written
    assert key == "camera-front-door-detections"
    assert markdown.count("<img ") == 3
    assert "/cameras/front-door/front-door/s1/PERSON-1/frame.jpg?" in markdown
    assert "/cameras/front-door/front-door/s1/clip.mp4?" in markdown
    assert "X-Amz-Expires=600" in markdown
    assert description.startswith("Camera front-door: the latest 3 detections; newest PERSON")


def test_failures_are_counted_and_logged_never_raised_and_others_go_on(
    clients: AwsClients,
    table: dict[str, list[DetectionRecord]],
    made: list[GalleryPublisher],
    caplog: pytest.LogCaptureFixture,
) -> None:
    table["garage"] = [record("garage", 2)]
    writer = Writer(fail_for={gallery_key("front-door")})
    gallery = publisher(clients, writer, made)
    with caplog.at_level(logging.WARNING):
        for camera in ("front-door", "unreadable", "garage"):
            gallery.submit(camera)
        gallery.close()

    assert [key for key, _, _ in writer.written] == [gallery_key("garage")]
    assert gallery.counters.failures == 2 and gallery.counters.updates == 1
    assert "camera front-door: detection gallery not written: " in caplog.text
    assert "the Prefect API answered 503" in caplog.text
    assert "camera unreadable: detection gallery not written: " in caplog.text


def test_a_camera_without_detections_gets_the_empty_gallery(
    clients: AwsClients, table: dict[str, list[DetectionRecord]], made: list[GalleryPublisher]
) -> None:
    writer = Writer()
    gallery = publisher(clients, writer, made)
    gallery.submit("front-door")
    gallery.close()
    ((_, markdown, description),) = writer.written
    assert "No detections yet" in markdown
    assert description == "Camera front-door: no detections yet"


def test_close_writes_what_is_marked_then_stops_and_closes_the_writer(
    clients: AwsClients, table: dict[str, list[DetectionRecord]], made: list[GalleryPublisher]
) -> None:
    writer = Writer(hold=True)
    gallery = publisher(clients, writer, made)
    gallery.submit("a")
    assert writer.started.wait(WAIT_S)
    for camera in ("b", "c"):
        gallery.submit(camera)
    closing = threading.Thread(target=gallery.close)
    closing.start()
    writer.release.set()
    closing.join(WAIT_S)

    assert [key for key, _, _ in writer.written] == [gallery_key(c) for c in ("a", "b", "c")]
    assert writer.closed
    gallery.submit("d")  # after close: ignored, nothing runs to write it
    gallery.close()
    assert len(writer.written) == 3
