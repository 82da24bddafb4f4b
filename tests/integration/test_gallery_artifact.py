"""A camera's detection gallery, end to end on the local AWS endpoint and a Prefect server (the
test harness'): detections stored with their frames in S3 are published as the markdown artifact
`camera-<id>-detections`, read back from the Prefect API, and every thumbnail in it serves its
JPEG to a plain HTTP GET without credentials. A later detection rewrites the same artifact."""

# ruff: noqa: F811  # the tests take test_results' `fleet` fixture by its name

from __future__ import annotations

import io
import re
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from PIL import Image
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.testing.utilities import prefect_test_harness

from cloud import detections, links
from cloud.faces.models import FaceMatch, FaceRecognition, FaceStatus
from cloud.gallery import gallery_key
from cloud.rekognition_messages import DetectionRecord
from services.results_consumer.gallery import GalleryPublisher
from tests.integration.test_results import CAMERA, Fleet, fleet  # noqa: F401  # the fixture

IMAGE = re.compile(r'<img src="([^"]+)"')
AT = datetime(2026, 5, 2, 18, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    """A Prefect server of its own (SQLite, a subprocess), as PREFECT_API_URL for the module."""
    with prefect_test_harness(server_startup_timeout=60):
        yield


def _jpeg(colour: tuple[int, int, int], size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="JPEG")
    return out.getvalue()


def _put(fleet: Fleet, uri: str, body: bytes) -> None:
    bucket, key = links.bucket_and_key(uri)
    fleet.clients.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="image/jpeg")


def _detection(
    fleet: Fleet, session: str, at: datetime, crop: bool, faces: FaceRecognition | None = None
) -> tuple[DetectionRecord, bytes]:
    """A detection stored with its frame (and crop) in S3; returns it and its thumbnail's bytes."""
    folder = f"s3://{fleet.record.bucket}/cameras/{CAMERA}/{CAMERA}/{session}/PERSON-1"
    record = DetectionRecord(
        camera_id=CAMERA,
        session_id=session,
        label="PERSON",
        confidence=97.0,
        detected_at=at,
        frame_uri=f"{folder}/frame.jpg",
        crop_uri=f"{folder}/crop.jpg" if crop else None,
        processor=CAMERA,
        faces=faces,
    )
    frame = _jpeg((20, 120, 200), (160, 90))
    _put(fleet, record.frame_uri, frame)
    thumbnail = frame
    if record.crop_uri is not None:
        thumbnail = _jpeg((200, 30, 40), (40, 80))
        _put(fleet, record.crop_uri, thumbnail)
    assert detections.put_detection(fleet.clients, fleet.names.detections_table, record)
    return record, thumbnail


def _artifacts(key: str) -> list[tuple[str, str]]:
    """Every version of the key on the Prefect server: (id, markdown)."""
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    return [(str(artifact.id), str(artifact.data)) for artifact in found]


def _get(url: str) -> bytes:
    """A browser's GET: no credentials, no AWS headers."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def test_the_gallery_artifact_shows_thumbnails_that_load_without_credentials(
    fleet: Fleet, prefect_server: None
) -> None:
    named = FaceRecognition(
        status=FaceStatus.NAMED,
        faces=(FaceMatch(name="alice", similarity=99.2, box=(0.1, 0.1, 0.2, 0.2)),),
    )
    _, older = _detection(fleet, "s1", AT - timedelta(hours=1), crop=False)
    _, newer = _detection(fleet, "s2", AT, crop=True, faces=named)

    publisher = GalleryPublisher(fleet.clients, fleet.names.detections_table, 600)
    publisher.submit(CAMERA)
    publisher.close()
    assert publisher.counters.snapshot() == {"updates": 1, "failures": 0, "coalesced": 0}

    ((artifact_id, markdown),) = _artifacts(gallery_key(CAMERA))
    assert markdown.startswith(f"# Camera {CAMERA}: latest detections\n")
    assert "alice 99%" in markdown
    thumbnails = [unescape(url) for url in IMAGE.findall(markdown)]
    assert [_get(url) for url in thumbnails] == [newer, older]  # the crop, else the frame
    assert all(url.startswith(f"{fleet.endpoint.url}/") for url in thumbnails)

    # A later detection rewrites the same artifact: one version, now three detections.
    _, newest = _detection(fleet, "s3", AT + timedelta(minutes=5), crop=True)
    again = GalleryPublisher(fleet.clients, fleet.names.detections_table, 600)
    again.submit(CAMERA)
    again.close()
    ((same_id, rewritten),) = _artifacts(gallery_key(CAMERA))
    assert same_id == artifact_id
    thumbnails = [unescape(url) for url in IMAGE.findall(rewritten)]
    assert [_get(url) for url in thumbnails] == [newest, newer, older]
