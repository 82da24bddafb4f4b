"""Event clips through the results consumer, on the local AWS endpoint: a session that ended with a
detection gets a clip job on the results queue, the job becomes an MP4 beside the session's
frames and an outcome in the detections table; a clip that cannot be made is recorded with the
reason and never tried again; making one never holds a notification back. GetClip itself is
replaced by `fetch` here (tests/integration/test_local_endpoint_get_clip.py covers it)."""

# ruff: noqa: F811  # the tests take test_results' `fleet` fixture by its name

from __future__ import annotations

import json
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from cloud import clip_store
from cloud.clients import AwsClients
from cloud.clip_store import ClipState
from cloud.clips import ClipUnavailableError
from services.results_consumer.clip_maker import ClipMaker, FetchClip
from services.results_consumer.service import (
    ConsumerConfig,
    Outcome,
    ResultsConsumer,
    ResultsEndpoints,
)
from tests.integration.test_results import CAMERA, Fleet, fleet  # noqa: F401  # the fixture
from tests.integration.test_results_links import _cli
from tests.support.results_messages import label_detected, processing_complete

MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(100)


def _consumer(
    fleet: Fleet, fetch: FetchClip, workers: int = 0, kept: list[str] | None = None
) -> ResultsConsumer:
    at = ResultsEndpoints.locate(fleet.clients, fleet.names)
    clips = ClipMaker(
        fleet.clients,
        fleet.names,
        at.table,
        at.queue_url,
        workers,
        fetch=fetch,
        kept=None if kept is None else kept.append,
    )
    return ResultsConsumer(
        fleet.clients, fleet.names, at, ConsumerConfig(wait_seconds=1), fleet.events, clips=clips
    )


def _detection(fleet: Fleet, session: str, at_ms: int) -> dict[str, object]:
    return label_detected(
        "camfleet", CAMERA, session, producer_ms=at_ms, bucket=fleet.record.bucket
    )


def _poll_until(consumer: ResultsConsumer, wanted: Outcome, within_s: float = 20) -> list[Outcome]:
    """Poll until a batch holds `wanted` (a clip job waits `clip_store.DELAY_SECONDS`)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        outcomes = consumer.poll_once(wait_seconds=1)
        if wanted in outcomes:
            return outcomes
    raise AssertionError(f"no {wanted} within {within_s} s")


def _object(fleet: Fleet, uri: str) -> bytes | None:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    try:
        return fleet.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except fleet.clients.s3.exceptions.NoSuchKey:
        return None


def test_a_session_with_a_detection_gets_its_clip_beside_its_frames(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[str, datetime, datetime]] = []

    def fetch(clients: AwsClients, stream: str, start: datetime, end: datetime) -> bytes:
        asked.append((stream, start, end))
        return MP4

    now_ms = int(time.time() * 1000)
    kept: list[str] = []  # whose gallery is brought up to date
    consumer = _consumer(fleet, fetch, kept=kept)
    fleet.publish(_detection(fleet, "s1", now_ms - 5_000))
    assert consumer.poll_once() == [Outcome.STORED]
    fleet.publish(processing_complete("camfleet", CAMERA, "s1", processed_ms=20_000))
    assert consumer.poll_once() == [Outcome.SESSION_ENDED]
    _poll_until(consumer, Outcome.CLIP_QUEUED)

    (detection,) = fleet.stored()
    record = clip_store.get_clip_record(fleet.clients, fleet.names.detections_table, CAMERA, "s1")
    assert record is not None and record.state is ClipState.MADE
    assert record.uri == clip_store.clip_uri(detection)
    assert record.size_bytes == len(MP4)
    assert _object(fleet, record.uri) == MP4
    assert kept == [CAMERA]
    ((stream, start, end),) = asked
    assert stream == CAMERA
    assert (start, end) == (record.start - clip_store.FRAGMENT_LEAD, record.end)
    assert start <= detection.detected_at - timedelta(seconds=2)  # its pre-roll
    assert (end - start).total_seconds() >= 20  # the video the session analysed
    assert fleet.queue_depth(fleet.record.results.queue_url) == (0, 0)  # type: ignore[union-attr]

    # `fleet camera events` links the clip; the link serves it without credentials.
    listed = _cli(fleet, monkeypatch, "events", CAMERA, "--json")
    assert listed.exit_code == 0, listed.output
    (document,) = json.loads(listed.stdout)
    assert (document["clip_state"], document["clip_reason"]) == ("made", None)
    with urllib.request.urlopen(document["clip_url"], timeout=10) as answer:
        assert answer.read() == MP4
    text = _cli(fleet, monkeypatch, "events", CAMERA)
    clip_path = document["clip_url"].split("?")[0]
    assert f"session s1: {clip_path}?" in text.stdout


def test_a_session_without_a_detection_gets_no_clip(fleet: Fleet) -> None:
    consumer = _consumer(fleet, lambda *_: MP4)
    fleet.publish(processing_complete("camfleet", CAMERA, "s2"))
    assert consumer.poll_once() == [Outcome.SESSION_ENDED]
    time.sleep(clip_store.DELAY_SECONDS + 1)
    assert consumer.poll_once(wait_seconds=1) == []
    table = fleet.names.detections_table
    assert clip_store.get_clip_record(fleet.clients, table, CAMERA, "s2") is None


def test_a_detection_after_its_sessions_end_still_gets_the_clip(fleet: Fleet) -> None:
    consumer = _consumer(fleet, lambda *_: MP4)
    fleet.publish(processing_complete("camfleet", CAMERA, "s3"))
    assert consumer.poll_once() == [Outcome.SESSION_ENDED]
    fleet.publish(_detection(fleet, "s3", int(time.time() * 1000) - 3_000))
    assert consumer.poll_once() == [Outcome.STORED]
    _poll_until(consumer, Outcome.CLIP_QUEUED)
    table = fleet.names.detections_table
    record = clip_store.get_clip_record(fleet.clients, table, CAMERA, "s3")
    assert record is not None and record.state is ClipState.MADE


def test_a_clip_that_cannot_be_made_is_recorded_with_the_reason_once(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def fetch(clients: AwsClients, stream: str, start: datetime, end: datetime) -> bytes:
        calls.append(stream)
        raise ClipUnavailableError("clip", "no video in the range", permanent=True)

    consumer = _consumer(fleet, fetch)
    fleet.publish(_detection(fleet, "s4", int(time.time() * 1000) - 4_000))
    fleet.publish(processing_complete("camfleet", CAMERA, "s4"))
    consumer.poll_once()
    consumer.poll_once()
    _poll_until(consumer, Outcome.CLIP_QUEUED)
    table = fleet.names.detections_table
    record = clip_store.get_clip_record(fleet.clients, table, CAMERA, "s4")
    assert record is not None and record.state is ClipState.FAILED
    assert record.reason == "no video in the range"
    assert _object(fleet, record.uri) is None
    assert calls == [CAMERA]
    listed = _cli(fleet, monkeypatch, "events", CAMERA, "--json")
    (document,) = json.loads(listed.stdout)
    assert (document["clip_state"], document["clip_reason"], document["clip_url"]) == (
        "failed",
        "no video in the range",
        None,
    )
    assert fleet.queue_depth(fleet.record.results.queue_url) == (0, 0)  # type: ignore[union-attr]


def test_a_clip_that_keeps_failing_is_given_up_after_its_attempts(fleet: Fleet) -> None:
    def fetch(clients: AwsClients, stream: str, start: datetime, end: datetime) -> bytes:
        raise ClipUnavailableError("clip", "the stream is busy", permanent=False)

    consumer = _consumer(fleet, fetch)
    fleet.publish(_detection(fleet, "s5", int(time.time() * 1000) - 4_000))
    fleet.publish(processing_complete("camfleet", CAMERA, "s5"))
    consumer.poll_once()
    consumer.poll_once()
    time.sleep(clip_store.DELAY_SECONDS)
    (message,) = consumer.receive(wait_seconds=5)
    decided = consumer.clips.make(message, clip_store.ClipJob.model_validate_json(message.body))
    assert decided is None  # given back for later
    last = message.model_copy(update={"receive_count": clip_store.ATTEMPTS})
    job = clip_store.ClipJob.model_validate_json(message.body)
    assert consumer.clips.make(last, job) is ClipState.FAILED
    table = fleet.names.detections_table
    record = clip_store.get_clip_record(fleet.clients, table, CAMERA, "s5")
    assert record is not None
    assert record.reason == f"gave up after {clip_store.ATTEMPTS} attempts: the stream is busy"
    assert consumer.clips.counters.retried == 1


def test_a_clip_being_made_does_not_hold_a_notification_back(fleet: Fleet) -> None:
    release = threading.Event()

    def fetch(clients: AwsClients, stream: str, start: datetime, end: datetime) -> bytes:
        release.wait(30)
        return MP4

    consumer = _consumer(fleet, fetch, workers=1)
    try:
        fleet.publish(_detection(fleet, "s6", int(time.time() * 1000) - 4_000))
        fleet.publish(processing_complete("camfleet", CAMERA, "s6"))
        consumer.poll_once()
        consumer.poll_once()
        fleet.messages()  # the first notification
        _poll_until(consumer, Outcome.CLIP_QUEUED)  # its clip is being made, stuck in `fetch`
        fleet.publish(_detection(fleet, "s7", int(time.time() * 1000)))
        # s6's notification holds the cooldown; s7 is stored and decided while s6's clip waits.
        assert consumer.poll_once() == [Outcome.STORED]
        assert [d.session_id for d in fleet.stored()] == ["s7", "s6"]
    finally:
        release.set()
        consumer.clips.close()
    table = fleet.names.detections_table
    record = clip_store.get_clip_record(fleet.clients, table, CAMERA, "s6")
    assert record is not None and record.state is ClipState.MADE
    assert datetime.now(UTC) > record.at
