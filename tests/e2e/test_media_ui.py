"""What a user sees of a camera's detections in the Prefect UI, in Chromium, on the whole local
stack, and its live view in a player.

A camera registered with the CLI, with real video in the stack's fragment store (the `person`
scene, recorded as the agent records it), three detections whose frames and crops are JPEGs in
the results bucket, one of them naming who was seen, and one session's clip made by the results
consumer's `ClipMaker` (KVS GetClip). Its gallery is published as the consumer publishes it.
The UI then shows the gallery with every thumbnail loaded and a clip link that plays; the
fleet-status summary links the camera to it; the weekly report shows its chart and the
camera's detections; and `fleet camera live` gives a URL GStreamer plays while the camera
streams. The pages load the media from the stack's AWS endpoint, which the page is let reach.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from cloud import detections
from cloud.clip_store import ClipJob, ClipState, clip_uri
from cloud.faces.models import FaceMatch, FaceRecognition, FaceStatus
from cloud.gallery import gallery_key
from cloud.rekognition_messages import DetectionRecord, readable_utc
from cloud.settings import FleetSettings
from cloud.shadow import ShadowUpdate, update_reported
from flows import runtime
from flows.fleet_report import ARTIFACT_KEY as REPORT_KEY
from flows.fleet_report import fleet_report_flow
from flows.fleet_status import SUMMARY_KEY, fleet_status_flow
from services.results_consumer.gallery import GalleryPublisher
from services.results_consumer.service import clip_state_reader
from stack.cameras.scenes import write_scene
from stack.supervisor.models import StackStatus
from tests.e2e.cli import fleet, fleet_json
from tests.integration.test_local_endpoint_get_clip import decoded, top_level_boxes
from tests.integration.test_local_endpoint_hls import fetch, frames_played
from tests.support.browser import V2, PrefectUi, follow, wait_for_text
from tests.support.camera_media import (
    FPS,
    VideoFeed,
    detection_jpegs,
    feeding,
    make_clip,
    store_jpeg,
)
from tests.support.scene_fragments import record_fragments
from tests.support.waiting import run_coroutine

Stack = tuple[FleetSettings, StackStatus]
pytestmark = pytest.mark.processors(1)

CAMERA = "media-porch"
SCENE = "person"
SCENE_S = 12
BOX = (0.3, 0.2, 0.25, 0.6)
LINK_S = 3600
CLIP_MS = 8_000  # the clip's window from the video's start: the fragments at 0, 2, 4, 6 and 8 s
_VERSION = re.compile(r"^[0-9a-f]{8}$")


@dataclass(frozen=True)
class CameraMedia:
    settings: FleetSettings
    feed: VideoFeed
    records: list[DetectionRecord]  # the clip's session's two, then another session's


def _at(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def _detection(
    rt: runtime.Runtime, session: str, label: str, at_ms: int, confidence: float
) -> DetectionRecord:
    processor = rt.names.processor(CAMERA)
    folder = f"s3://{rt.names.results_bucket}/cameras/{CAMERA}/{processor}/{session}/{label}-1"
    return DetectionRecord(
        camera_id=CAMERA,
        session_id=session,
        label=label,
        confidence=confidence,
        detected_at=_at(at_ms),
        frame_uri=f"{folder}/frame.jpg",
        crop_uri=f"{folder}/cropped.jpg",
        processor=processor,
        box=BOX,
    )


@pytest.fixture(scope="module")
def media(local_stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> CameraMedia:
    settings, _ = local_stack
    registered = fleet(settings, "camera", "register", CAMERA)
    assert registered.returncode == 0, registered.stderr
    rt = runtime.configure(settings)
    assert rt.fragment_root is not None
    root = tmp_path_factory.mktemp("media-ui")
    scene = write_scene(SCENE, root / f"{SCENE}.avi", seconds=SCENE_S)
    fragments = record_fragments(scene, root / "fragments", 0)
    start_ms = (int(time.time()) - 120) * 1000
    feed = VideoFeed(rt.fragment_root / rt.names.stream(CAMERA), fragments, start_ms)
    feed.place(len(fragments))
    # The motion that started its sessions, as the bridge writes it (fleet status reads the
    # detections of the cameras that moved today).
    update_reported(rt.clients, CAMERA, ShadowUpdate(last_motion_ms=start_ms + 2_000))

    clipped, other = str(uuid.uuid4()), str(uuid.uuid4())
    alice = FaceMatch(name="alice", similarity=99.2, box=(0.4, 0.25, 0.1, 0.12))
    records = [
        _detection(rt, clipped, "PERSON", start_ms + 3_000, 98.7).model_copy(
            update={"faces": FaceRecognition(status=FaceStatus.NAMED, faces=(alice,))}
        ),
        _detection(rt, clipped, "PACKAGE", start_ms + 6_500, 91.2),
        _detection(rt, other, "PET", start_ms + 10_500, 88.0),
    ]
    for record in records:
        offset = record.detected_at - _at(start_ms)
        frame, crop = detection_jpegs(SCENE, offset // timedelta(milliseconds=1), BOX)
        store_jpeg(rt.clients, record.frame_uri, frame)
        assert record.crop_uri is not None
        store_jpeg(rt.clients, record.crop_uri, crop)
        assert detections.put_detection(rt.clients, rt.names.detections_table, record)
    job = ClipJob(
        camera_id=CAMERA,
        session_id=clipped,
        uri=clip_uri(records[0]),
        start=_at(start_ms),
        end=_at(start_ms + CLIP_MS),
    )
    assert make_clip(rt.clients, rt.names, job) is ClipState.MADE

    table = rt.names.detections_table
    publisher = GalleryPublisher(
        rt.clients, table, LINK_S, clip_state=clip_state_reader(rt.clients, table)
    )
    try:
        publisher.publish(CAMERA)
    finally:
        publisher.close()
    return CameraMedia(settings, feed, records)


def _open_latest(page: Page, key: str, heading: str) -> Locator:
    """The artifact `key`'s latest version, once its markdown shows `heading`."""
    page.goto(f"{V2}/artifacts/key/{key}")
    main = page.get_by_role("main")
    follow(main.get_by_role("link", name=_VERSION).first, re.compile(r"/artifacts/artifact/"))
    wait_for_text(main, heading)
    return main


def _loaded_widths(images: Locator) -> list[int]:
    """Each image's natural width once the browser has loaded and decoded it (0: broken)."""
    script = "i => i.decode().then(() => i.complete ? i.naturalWidth : 0, () => 0)"
    return [int(image.evaluate(script)) for image in images.all()]


def test_the_gallery_shows_each_detection_with_its_image_and_a_clip_that_plays(
    media: CameraMedia, prefect_ui: PrefectUi, tmp_path: Path
) -> None:
    page = prefect_ui.page
    main = _open_latest(page, gallery_key(CAMERA), f"Camera {CAMERA}: latest detections")
    rows = main.locator("table tr").filter(has=page.locator("img"))
    expect(rows).to_have_count(3)
    widths = _loaded_widths(main.locator("table img"))
    assert len(widths) == 3 and all(width > 0 for width in widths), widths
    person, package, pet = media.records
    for record, what, who in (
        (person, "PERSON 98%", "alice 99%"),
        (package, "PACKAGE 91%", ""),
        (pet, "PET 88%", ""),
    ):
        row = rows.filter(has_text=what)
        expect(row).to_contain_text(readable_utc(record.detected_at).removesuffix(" UTC"))
        expect(row.get_by_role("cell").nth(3)).to_have_text(who)
    expect(
        rows.filter(has_text="PET 88%").get_by_role("link", name="clip (pending)")
    ).to_be_visible()
    prefect_ui.shot("gallery")

    clip_link = rows.filter(has_text="PERSON 98%").get_by_role("link", name="clip", exact=True)
    href = clip_link.get_attribute("href")
    assert href is not None and href.startswith(f"{media.settings.endpoint_url}/")
    video = fetch(href)  # a plain GET, no credentials
    assert top_level_boxes(video)[0] == b"ftyp"
    frames, _ = decoded(video, tmp_path / "clip.mp4")
    assert frames == (CLIP_MS // 2_000 + 1) * 2 * FPS  # the five 2 s fragments starting in it


def test_the_fleet_status_links_the_camera_to_its_gallery(
    media: CameraMedia, prefect_ui: PrefectUi
) -> None:
    async def run() -> bool:
        state = await fleet_status_flow(return_state=True)
        return state.is_completed()

    assert run_coroutine(run()), "the fleet-status run did not complete"
    page = prefect_ui.page
    main = _open_latest(page, SUMMARY_KEY, "Latest detections per camera")
    link = main.get_by_role("link", name=CAMERA, exact=True)
    key = gallery_key(CAMERA)
    assert (link.get_attribute("href") or "").endswith(f"{V2}/artifacts/key/{key}")
    prefect_ui.shot("fleet status summary")
    follow(link, re.compile(rf"/artifacts/key/{key}$"))
    expect(main.get_by_role("link", name=_VERSION)).to_have_count(1)  # written in place
    wait_for_text(main, f"Camera {CAMERA}: the latest 3 detections")  # its description
    prefect_ui.shot("gallery key")


def test_the_weekly_report_shows_its_chart_and_the_cameras_detections(
    media: CameraMedia, prefect_ui: PrefectUi
) -> None:
    async def run() -> bool:
        state = await fleet_report_flow(since="7d", return_state=True)
        return state.is_completed()

    assert run_coroutine(run()), "the fleet-report run did not complete"
    page = prefect_ui.page
    main = _open_latest(page, REPORT_KEY, "Busiest hours (UTC)")
    chart = main.get_by_role("img", name="Detections per day by label")
    expect(chart).to_have_count(1)
    assert _loaded_widths(chart) != [0]
    cameras = main.get_by_role("table").first
    expect(cameras.get_by_role("columnheader").first).to_have_text("camera")
    row = cameras.get_by_role("row").filter(has=page.get_by_role("cell", name=CAMERA, exact=True))
    expect(row).to_have_count(1)
    assert row.get_by_role("cell").all_inner_texts()[:2] == [CAMERA, "3"]
    prefect_ui.shot("weekly report")


def test_the_live_view_plays_while_the_camera_streams(media: CameraMedia) -> None:
    with feeding(media.feed):
        url = fleet_json(media.settings, "camera", "live", CAMERA)["url"]
        assert frames_played(url, most=2 * FPS) == 2 * FPS
