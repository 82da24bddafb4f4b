"""A camera's detection gallery: its artifact key and the markdown the Prefect UI shows."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.faces.models import FaceMatch, FaceRecognition, FaceStatus
from cloud.gallery import GalleryEntry, gallery_description, gallery_key, render_gallery
from cloud.rekognition_messages import DetectionRecord

NOW = datetime(2026, 5, 2, 18, 30, tzinfo=UTC)
EXPIRES = NOW + timedelta(hours=24)
ARTIFACT_KEY = re.compile(r"^[a-z0-9-]+$")  # Prefect's rule for artifact keys
BOX = (0.1, 0.1, 0.2, 0.2)


def record(
    at: datetime,
    label: str = "PERSON",
    confidence: float | None = 97.6,
    crop: bool = True,
    faces: FaceRecognition | None = None,
    session: str = "s1",
) -> DetectionRecord:
    folder = f"s3://fleet-results/cameras/front-door/front-door/{session}/{label}-1"
    return DetectionRecord(
        camera_id="front-door",
        session_id=session,
        label=label,
        confidence=confidence,
        detected_at=at,
        frame_uri=f"{folder}/frame.jpg",
        crop_uri=f"{folder}/crop.jpg" if crop else None,
        processor="front-door",
        faces=faces,
    )


def entry(rec: DetectionRecord, n: int, **extra: object) -> GalleryEntry:
    base = f"http://127.0.0.1:4566/fleet-results/{n}"
    return GalleryEntry.model_validate(
        {
            "record": rec,
            "thumbnail_url": f"{base}/crop.jpg?X-Amz-Expires=86400&X-Amz-Signature=t{n}",
            "frame_url": f"{base}/frame.jpg?X-Amz-Expires=86400&X-Amz-Signature=f{n}",
            "clip_url": f"{base}/clip.mp4?X-Amz-Expires=86400&X-Amz-Signature=c{n}",
            "links_expire_at": EXPIRES,
            **extra,
        }
    )


class _Table(HTMLParser):
    """The gallery's HTML as a browser reads it: rows of cells, images and links."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.images: list[dict[str, str | None]] = []
        self.links: list[tuple[str | None, str]] = []
        self._href: str | None = None
        self._link_text = ""
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._text = ""
        elif tag == "img":
            self.images.append(dict(attrs))
        elif tag == "a":
            self._href, self._link_text = dict(attrs)["href"], ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self.rows[-1].append(self._text)
        elif tag == "a":
            self.links.append((self._href, self._link_text))
            self._href = None

    def handle_data(self, data: str) -> None:
        self._text += data
        if self._href is not None:
            self._link_text += data


def parsed(markdown: str) -> _Table:
    start, end = markdown.index("<table>"), markdown.index("</table>")
    html = markdown[start : end + len("</table>")]
    assert "\n\n" not in html  # one HTML block: a blank line would end it
    table = _Table()
    table.feed(html)
    return table


@pytest.mark.parametrize(
    ("camera_id", "key"),
    [
        ("front-door", "camera-front-door-detections"),
        ("cam1", "camera-cam1-detections"),
    ],
)
def test_a_camera_id_that_is_a_valid_key_part_is_used_as_it_is(camera_id: str, key: str) -> None:
    assert gallery_key(camera_id) == key


@pytest.mark.parametrize("camera_id", ["front_door", "Front-Door", "front.door", "front:door"])
def test_other_ids_read_alike_but_never_share_a_key(camera_id: str) -> None:
    key = gallery_key(camera_id)
    assert re.fullmatch(r"camera-front-door-[0-9a-f]{8}-detections", key)
    assert key != gallery_key("front-door")
    assert gallery_key(camera_id) == key  # deterministic


def test_ids_that_differ_only_in_what_the_key_cannot_hold_get_different_keys() -> None:
    keys = {gallery_key(c) for c in ["front_door", "front.door", "front:door", "FRONT_DOOR"]}
    assert len(keys) == 4
    assert re.fullmatch(r"camera-[0-9a-f]{8}-detections", gallery_key("___"))


@given(st.text(min_size=1, max_size=64))
def test_every_camera_id_maps_to_a_valid_artifact_key(camera_id: str) -> None:
    key = gallery_key(camera_id)
    assert ARTIFACT_KEY.fullmatch(key)
    assert key.startswith("camera-") and key.endswith("-detections")


def test_each_detection_is_a_thumbnail_linked_to_its_frame_newest_first() -> None:
    named = FaceRecognition(
        status=FaceStatus.NAMED,
        faces=(
            FaceMatch(name="alice", similarity=99.4, box=BOX),
            FaceMatch(name=None, similarity=None, box=BOX),
        ),
    )
    newest = record(NOW - timedelta(minutes=1), faces=named)
    older = record(NOW - timedelta(hours=2), label="PET", confidence=None, crop=False, session="s0")
    markdown = render_gallery("front-door", [entry(newest, 1), entry(older, 2)], NOW)

    assert markdown.startswith("# Camera front-door: latest detections\n")
    assert (
        "The latest 2 detections, newest first, as of 2026-05-02 18:30:00 UTC. "
        "The links work until 2026-05-03 18:30:00 UTC" in markdown
    )
    table = parsed(markdown)
    header, first, second = table.rows
    assert header == ["image", "detected", "time (UTC)", "who", "links"]
    assert first[1:4] == ["PERSON 97%", "2026-05-02 18:29:00", "alice 99%, unknown"]
    assert second[1:4] == ["PET", "2026-05-02 16:30:00", ""]
    # The thumbnail, small, with the label as its text; the URLs as signed (& unescaped).
    thumb = table.images[0]
    assert thumb["src"] == entry(newest, 1).thumbnail_url
    assert (thumb["alt"], thumb["width"]) == ("PERSON 97%", "120")
    assert "&amp;X-Amz-Signature=t1" in markdown
    # The image opens the frame; then the frame and the session's clip.
    assert table.links[:3] == [
        (entry(newest, 1).frame_url, ""),
        (entry(newest, 1).frame_url, "frame"),
        (entry(newest, 1).clip_url, "clip"),
    ]
    assert [image["src"] for image in table.images] == [
        entry(newest, 1).thumbnail_url,
        entry(older, 2).thumbnail_url,
    ]


def test_a_camera_without_detections_says_so() -> None:
    markdown = render_gallery("front-door", [], NOW)
    assert markdown == (
        "# Camera front-door: latest detections\n\n"
        "No detections yet (as of 2026-05-02 18:30:00 UTC).\n"
    )
    assert gallery_description("front-door", []) == "Camera front-door: no detections yet"


def test_the_links_work_until_the_first_of_them_expires() -> None:
    entries = [
        entry(record(NOW), 1, links_expire_at=EXPIRES),
        entry(record(NOW, session="s2"), 2, links_expire_at=EXPIRES - timedelta(hours=1)),
    ]
    markdown = render_gallery("front-door", entries, NOW)
    assert "The links work until 2026-05-03 17:30:00 UTC" in markdown


def test_the_clip_link_carries_its_state_when_one_is_given() -> None:
    rec = record(NOW)
    failed = parsed(render_gallery("front-door", [entry(rec, 1)], NOW, lambda r: "failed"))
    assert (entry(rec, 1).clip_url, "clip (failed)") in failed.links
    unknown = parsed(render_gallery("front-door", [entry(rec, 1)], NOW, lambda r: None))
    assert (entry(rec, 1).clip_url, "clip") in unknown.links


def test_media_deleted_by_retention_is_not_shown_as_a_broken_image() -> None:
    gone = entry(record(NOW - timedelta(days=40)), 1, media_expires_at=NOW - timedelta(days=10))
    kept = entry(record(NOW), 2, media_expires_at=NOW + timedelta(days=30))
    table = parsed(render_gallery("front-door", [kept, gone], NOW))
    assert [image["src"] for image in table.images] == [kept.thumbnail_url]
    assert table.rows[2][0] == "deleted 2026-04-22 18:30:00 UTC"
    assert table.rows[2][4] == "media deleted by retention"


def test_text_from_records_cannot_inject_markup() -> None:
    rec = record(NOW)
    hostile = entry(rec, 1, clip_url='http://x/clip.mp4?a="><script>alert(1)</script>')
    markdown = render_gallery("front-door", [hostile], NOW)
    assert "<script>" not in markdown
    assert (hostile.clip_url, "clip") in parsed(markdown).links


def test_the_description_names_the_newest_detection() -> None:
    entries = [entry(record(NOW), 1), entry(record(NOW - timedelta(hours=1), session="s0"), 2)]
    assert gallery_description("front-door", entries) == (
        "Camera front-door: the latest 2 detections; newest PERSON 97% at 2026-05-02 18:30:00 UTC"
    )
