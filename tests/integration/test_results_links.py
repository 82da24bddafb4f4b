"""Snapshot links against the local AWS endpoint: each notification (SNS and webhook) carries a
presigned link to its frame that a plain HTTP GET, without credentials, follows to the stored
JPEG; `fleet camera events` shows the links too."""

# ruff: noqa: F811  # the tests take test_results' `fleet` fixture by its name

from __future__ import annotations

import io
import json
import logging
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image
from typer.testing import CliRunner

from cli import camera as camera_cli
from cloud import detections, iot, links, registry, retention
from cloud.errors import UnavailableError
from cloud.models import CameraSpec
from cloud.rekognition_messages import DetectionRecord
from flows import runtime
from services.results_consumer.service import ConsumerConfig, ResultsConsumer, ResultsEndpoints
from services.results_consumer.webhook import WebhookSender
from tests.integration.test_results import CAMERA, Fleet, fleet  # noqa: F401  # the fixture
from tests.support.results_messages import label_detected


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 40)).save(out, format="JPEG")
    return out.getvalue()


def _store(fleet: Fleet, uri: str, body: bytes) -> None:
    bucket, key = links.bucket_and_key(uri)
    fleet.clients.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="image/jpeg")


def _get(url: str) -> bytes:
    """A browser's GET: no credentials, no AWS headers."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


def _consumer(fleet: Fleet, webhook: WebhookSender | None, seconds: int) -> ResultsConsumer:
    return ResultsConsumer(
        fleet.clients,
        fleet.names,
        ResultsEndpoints.locate(fleet.clients, fleet.names),
        ConsumerConfig(wait_seconds=2, snapshot_link_seconds=seconds),
        fleet.events,
        webhook,
    )


def _hook() -> tuple[WebhookSender, list[dict[str, Any]]]:
    posted: list[dict[str, Any]] = []

    def post(url: str, payload: dict[str, Any], timeout: float) -> None:
        posted.append(json.loads(json.dumps(payload)))  # as it goes on the wire

    return WebhookSender("http://hooks.example/detections", post=post), posted


def test_the_notification_links_to_the_frame_and_the_link_serves_the_jpeg(fleet: Fleet) -> None:
    message = label_detected("camfleet", CAMERA, "s1", bucket=fleet.record.bucket)
    frame_uri = message["labels"][0]["frameImageUri"]
    jpeg = _jpeg()
    _store(fleet, frame_uri, jpeg)
    webhook, posted = _hook()
    signed_after = datetime.now(UTC).replace(microsecond=0)
    fleet.publish(message)
    _consumer(fleet, webhook, seconds=600).poll_once()
    webhook.close()

    (note,) = fleet.messages()
    text, link_line, clip_line = note.splitlines()
    assert text == "PERSON at front-door, 97% — 2022-06-22 20:43:43 UTC"
    url = link_line.removeprefix("Frame: ")
    clip_url = clip_line.removeprefix("Clip (when the event ends): ")
    assert urlsplit(clip_url).path == urlsplit(url).path.rsplit("/", 2)[0] + "/clip.mp4"
    assert url.startswith(f"{fleet.endpoint.url}/{fleet.record.bucket}/cameras/{CAMERA}/")
    assert _get(url) == jpeg

    (payload,) = posted
    assert payload["frame_url"] == url
    assert payload["clip_url"] == clip_url
    expires = datetime.fromisoformat(payload["frame_url_expires_at"])
    assert signed_after + timedelta(seconds=600) <= expires
    assert expires <= datetime.now(UTC) + timedelta(seconds=600)
    # The record keeps the object, not the link, which expires.
    (record,) = fleet.stored()
    assert record.frame_uri == frame_uri
    assert "frame_url" not in record.model_dump()


def test_a_link_that_cannot_be_made_does_not_hold_the_notification_back(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unsigned(*args: object) -> links.MediaLink:
        raise UnavailableError("sign a link: no AWS credentials")

    monkeypatch.setattr(links, "presigned_link", unsigned)
    webhook, posted = _hook()
    fleet.publish(label_detected("camfleet", CAMERA, "s1", bucket=fleet.record.bucket))
    with caplog.at_level(logging.WARNING):
        _consumer(fleet, webhook, seconds=600).poll_once()
    webhook.close()

    assert fleet.messages() == ["PERSON at front-door, 97% — 2022-06-22 20:43:43 UTC"]
    (payload,) = posted
    assert (payload["frame_url"], payload["frame_url_expires_at"]) == (None, None)
    assert "notified without a frame link: sign a link: no AWS credentials" in caplog.text


def test_a_link_to_a_frame_that_is_gone_answers_404(fleet: Fleet) -> None:
    uri = f"s3://{fleet.record.bucket}/cameras/{CAMERA}/gone/frame.jpg"
    with pytest.raises(urllib.error.HTTPError) as refused:
        _get(links.presigned_get(fleet.clients, uri, 60))
    assert refused.value.code == 404


def test_an_expired_link_is_refused(fleet: Fleet) -> None:
    uri = f"s3://{fleet.record.bucket}/cameras/{CAMERA}/s1/frame.jpg"
    _store(fleet, uri, _jpeg())
    url = links.presigned_get(fleet.clients, uri, 1)
    expires = links.link_expires_at(url)
    while datetime.now(UTC) <= expires + timedelta(seconds=1):
        time.sleep(0.2)
    with pytest.raises(urllib.error.HTTPError) as refused:
        _get(url)
    assert refused.value.code == 403
    assert (
        b"<Code>AccessDenied</Code><Message>Request has expired</Message>" in refused.value.read()
    )


def _cli(fleet: Fleet, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    """`fleet camera ARGS` on this endpoint (the endpoint runs in the test, not under `fleet up`)."""
    settings = fleet.clients.settings
    monkeypatch.setattr(camera_cli, "current_settings", lambda: settings)
    monkeypatch.setattr("cli.control_plane.control_plane", runtime.configure)
    return CliRunner().invoke(camera_cli.app, list(args))


def _browser(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URLs `webbrowser.open` is asked to open, instead of opening them."""
    opened: list[str] = []

    def open_url(url: str) -> bool:
        opened.append(url)
        return True

    monkeypatch.setattr("webbrowser.open", open_url)
    return opened


def _detection(fleet: Fleet, session: str, at: datetime, jpeg: bytes) -> DetectionRecord:
    record = DetectionRecord(
        camera_id=CAMERA,
        session_id=session,
        label="PERSON",
        confidence=91.0,
        detected_at=at,
        frame_uri=f"s3://{fleet.record.bucket}/cameras/{CAMERA}/{session}/frame.jpg",
        processor=f"camfleet-{CAMERA}",
    )
    _store(fleet, record.frame_uri, jpeg)
    detections.put_detection(fleet.clients, fleet.names.detections_table, record)
    return record


def test_camera_events_shows_each_frames_link_and_opens_the_latest(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = _jpeg(), b"\xff\xd8 a newer frame"
    _detection(fleet, "s1", datetime(2030, 1, 1, 12, 0, tzinfo=UTC), old)
    _detection(fleet, "s2", datetime(2030, 1, 1, 12, 5, tzinfo=UTC), new)

    listed = _cli(fleet, monkeypatch, "events", CAMERA, "--json")
    assert listed.exit_code == 0, listed.output
    documents = json.loads(listed.stdout)
    assert [d["session_id"] for d in documents] == ["s2", "s1"]
    assert [_get(d["frame_url"]) for d in documents] == [new, old]
    lifetime = fleet.clients.settings.snapshot_link_seconds
    for document in documents:
        expires = datetime.fromisoformat(document["frame_url_expires_at"])
        assert expires - datetime.now(UTC) <= timedelta(seconds=lifetime)

    table = _cli(fleet, monkeypatch, "events", CAMERA)
    assert table.exit_code == 0, table.output
    # Below the table, each link whole on a line of its own (signed again: compared unsigned).
    shown = [
        line.split("PERSON: ", 1)[1] for line in table.stdout.splitlines() if "PERSON: " in line
    ]
    assert [_get(url) for url in shown] == [new, old]
    assert [u.split("?")[0] for u in shown] == [d["frame_url"].split("?")[0] for d in documents]

    opened = _browser(monkeypatch)
    shown = _cli(fleet, monkeypatch, "events", CAMERA, "--open", "--json")
    assert shown.exit_code == 0, shown.output
    (url,) = opened
    assert _get(url) == new


def test_camera_events_open_without_detections_is_not_found(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = CameraSpec(camera_id="back-yard")
    attributes = registry.thing_attributes(spec, fleet.names.fleet)
    iot.ensure_thing(fleet.clients, fleet.names.thing("back-yard"), attributes)
    opened = _browser(monkeypatch)
    result = _cli(fleet, monkeypatch, "events", "back-yard", "--open")
    assert result.exit_code == 3, result.output
    assert "camera back-yard has no detections yet" in result.output
    assert opened == []


def test_a_detection_whose_media_expired_says_so_and_gets_no_link(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    days = fleet.clients.settings.media_retention_days
    long_ago = datetime.now(UTC) - timedelta(days=days + 2)
    record = DetectionRecord(
        camera_id="side-gate",
        session_id="s-old",
        label="PERSON",
        detected_at=long_ago,
        frame_uri=f"s3://{fleet.record.bucket}/cameras/side-gate/s-old/frame.jpg",
        processor="camfleet-side-gate",
    )
    detections.put_detection(fleet.clients, fleet.names.detections_table, record)

    listed = _cli(fleet, monkeypatch, "events", "side-gate", "--json")
    assert listed.exit_code == 0, listed.output
    (document,) = json.loads(listed.stdout)
    assert document["media_expired"] is True and document["frame_url"] is None
    expired_on = retention.media_expires_at(long_ago, days)
    assert datetime.fromisoformat(document["media_expires_at"]) == expired_on
    opened = _browser(monkeypatch)
    refused = _cli(fleet, monkeypatch, "events", "side-gate", "--open")
    assert refused.exit_code != 0 and "its media expired" in refused.output and opened == []
