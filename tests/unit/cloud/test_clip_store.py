"""Where a session's clip goes and which span of video it covers (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from cloud.clip_store import MAX_SECONDS, ClipJob, clip_job, clip_uri, clip_window
from cloud.rekognition_messages import DetectionRecord, SessionEndRecord
from services.results_consumer.decisions import MakeClip, Reject, triage

END = datetime(2026, 12, 7, 18, 4, 31, tzinfo=UTC)
PREFIX = "s3://camfleet-results/cameras/front-door/camfleet-front-door/s1"


def detection(at: datetime, label: str = "PERSON") -> DetectionRecord:
    return DetectionRecord(
        camera_id="front-door",
        session_id="s1",
        label=label,
        detected_at=at,
        frame_uri=f"{PREFIX}/{label}-1/frame.jpg",
        processor="camfleet-front-door",
    )


def session_end(processed_ms: int | None) -> SessionEndRecord:
    return SessionEndRecord(
        camera_id="front-door",
        session_id="s1",
        processor="camfleet-front-door",
        ended_at=END,
        processed_ms=processed_ms,
    )


def test_the_clip_sits_beside_the_sessions_frames() -> None:
    assert clip_uri(detection(END)) == f"{PREFIX}/clip.mp4"


def test_the_window_is_the_video_the_session_analysed() -> None:
    found = [detection(END - timedelta(seconds=20))]
    assert clip_window(session_end(30_000), found, 2_000) == (END - timedelta(seconds=30), END)


def test_the_window_reaches_back_to_each_detections_preroll() -> None:
    found = [detection(END - timedelta(seconds=9))]
    start, end = clip_window(session_end(5_000), found, 2_000)
    assert (start, end) == (END - timedelta(seconds=11), END)


def test_without_the_video_analysed_the_first_detection_sets_the_start() -> None:
    found = [detection(END - timedelta(seconds=4)), detection(END - timedelta(seconds=6), "PET")]
    assert clip_window(session_end(None), found, 2_000)[0] == END - timedelta(seconds=8)


def test_a_detection_after_the_end_stretches_it() -> None:
    late = END + timedelta(seconds=3)
    assert clip_window(session_end(10_000), [detection(late)], 2_000)[1] == late


def test_a_clip_is_never_longer_than_the_maximum() -> None:
    start, end = clip_window(session_end(3_600_000), [detection(END)], 2_000)
    assert end - start == timedelta(seconds=MAX_SECONDS)


def test_a_clip_job_travels_as_json_the_consumer_recognises() -> None:
    job = clip_job(session_end(30_000), [detection(END - timedelta(seconds=5))], 2_000)
    decided = triage(job.model_dump_json(), None, END)  # type: ignore[arg-type]
    assert decided == MakeClip(job)
    assert job.uri == f"{PREFIX}/clip.mp4"


def test_a_broken_clip_job_is_rejected_with_the_reason() -> None:
    decided = triage('{"kind":"clip-job","camera_id":"front-door"}', None, END)  # type: ignore[arg-type]
    assert isinstance(decided, Reject)
    assert "clip job" in decided.reason


def test_a_clip_job_names_an_mp4_in_a_bucket() -> None:
    with pytest.raises(ValidationError):
        ClipJob(camera_id="front-door", session_id="s1", uri="/tmp/x.mp4", start=END, end=END)
