"""The analyzers' benchmark's pure logic (bench/analysis_core.py): sessions read from the
analyzers' own messages, what each scene must find, the kill round's books, the targets."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from bench.analysis_core import (
    AgentRun,
    Arrival,
    Expect,
    ObservedSession,
    RequestCount,
    Round,
    expectation,
    join_sessions,
    kill_figures,
    parse_results,
    scene_figures,
    targets,
)
from cloud.analysis import messages

PROCESSOR = "camfleet-porch"


def camera_of(processor: str) -> str:
    return processor.removeprefix("camfleet-")


def envelope(message: dict[str, Any]) -> str:
    return json.dumps({"Type": "Notification", "Message": json.dumps(message)})


def ref(session: str, start_ms: int = 1_800_000_000_000) -> messages.SessionRef:
    return messages.SessionRef(
        processor=PROCESSOR,
        session_id=session,
        stream_arn="arn:kvs",
        start_ms=start_ms,
        duration_s=10,
    )


def detected(session: str, frame_ms: int, start_ms: int = 1_800_000_000_000) -> dict[str, Any]:
    detection = messages.Detection(
        label_id="l1", name="PERSON", confidence=90, producer_ms=frame_ms, frame_uri="s3://b/k"
    )
    return messages.label_detected(ref(session, start_ms), "e1", detection)


def test_a_session_is_read_from_its_messages_with_repeats_counted() -> None:
    start = 1_800_000_000_000
    found = parse_results(
        [
            Arrival(start + 3000, envelope(detected("s1", start + 2000))),
            Arrival(start + 65_000, envelope(detected("s1", start + 2000))),  # republished
            Arrival(
                start + 9000, envelope(messages.processing_complete(ref("s1"), "c", 2000, "ok"))
            ),
        ],
        camera_of,
    )
    session = found["s1"]
    assert (session.camera_id, session.start_ms, session.duration_s) == ("porch", start, 10)
    assert session.labels["PERSON"].first_arrived_ms == start + 3000
    assert session.labels["PERSON"].copies == 2
    assert (session.completed_ms, session.processed_ms, session.completions) == (
        start + 9000,
        2000,
        1,
    )


def test_a_stream_processors_frame_time_is_its_fragment_plus_the_offset() -> None:
    message = detected("s1", 1_800_000_002_000)
    mapping = message["labels"][0]["videoMapping"]["kinesisVideoMapping"]
    mapping["frameOffsetMillis"] = 500
    found = parse_results([Arrival(1, envelope(message))], camera_of)
    assert found["s1"].labels["PERSON"].frame_ms == 1_800_000_002_500


def run(video_from: int = 10_000, stopped: int = 40_000) -> AgentRun:
    return AgentRun("porch", video_from - 500, stopped, (video_from + 200,), video_from)


def test_what_each_scene_must_find() -> None:
    assert expectation("empty", run(), 0, 99_000, 11.5) == (Expect.NOTHING, None)
    assert expectation("storm", run(), 0, 99_000, 11.5)[0] is Expect.UNJUDGED
    assert expectation("person", run(), 8_200, 18_200, 11.5) == (Expect.PERSON, 10_000)
    # late-person: the person is in view 11.5 s into the scene, i.e. from 21,500
    assert expectation("late-person", run(), 8_200, 30_200, 11.5) == (Expect.PERSON, 21_500)
    assert expectation("late-person", run(), 8_200, 18_200, 11.5)[0] is Expect.NOTHING
    # less than 3 s of the person on video before the camera stopped
    assert expectation("late-person", run(stopped=23_000), 8_200, 30_200, 11.5)[0] is Expect.NOTHING


def observed(session: str, start: int, found: bool) -> ObservedSession:
    parsed = parse_results(
        [Arrival(start + 3000, envelope(detected(session, start + 2500, start)))] if found else [],
        camera_of,
    )
    return parsed.get(session) or ObservedSession("porch", session, start, 10)


def test_sessions_join_their_round_and_motion_and_are_judged() -> None:
    camera = run()
    game = Round("frames", "person", "1", 9_000, 60_000, (camera,))
    motion_started = observed("a", camera.motions[0] - 2000, found=True)
    follow_up = observed("b", motion_started.end_ms, found=False)
    elsewhere = observed("c", 500_000, found=True)
    views = join_sessions(
        [game], [follow_up, motion_started, elsewhere], {("porch", "a"): 1}, 2000, 11.5
    )
    assert [v.session.session_id for v in views] == ["a", "b"]
    first, second = views
    assert first.motion_ms == camera.motions[0] and second.motion_ms is None
    figures = scene_figures("frames", views, RequestCount(2, 6, 4), None)
    assert figures["motion_to_label"]["p50_ms"] == 3000 - 2000
    assert (figures["found"], figures["expected"], figures["missed"]) == (1, 2, 1)
    assert figures["detect_labels_per_session"] == 2 and figures["cost_usd_per_session"] == 0.002


def test_the_stream_processor_costs_its_minutes_when_a_price_is_given() -> None:
    session = observed("a", 9_800, found=True)
    session.processed_ms = 30_000
    views = join_sessions(
        [Round("stream-processor", "person", "1", 9_000, 60_000, (run(),))],
        [session],
        {},
        2000,
        11.5,
    )
    assert (
        scene_figures("stream-processor", views, RequestCount(), None)["cost_usd_per_session"]
        is None
    )
    assert (
        scene_figures("stream-processor", views, RequestCount(), 0.1)["cost_usd_per_session"]
        == 0.05
    )


def test_the_kill_round_counts_lost_and_duplicate_detections_per_camera() -> None:
    runs = [AgentRun(c, 0, 1, (5,), 0) for c in ("a", "b", "c")]
    views = join_sessions(
        [Round("frames", "person", "kill", 0, 99, tuple(runs))],
        [ObservedSession(c, f"s-{c}", 3, 10) for c in ("a", "b", "c")],
        {("a", "s-a"): 1, ("b", "s-b"): 2},
        2000,
        11.5,
    )
    books = kill_figures(views, runs, Counter({"a": 1, "b": 1, "c": 2}))
    assert (books["lost_records"], books["duplicate_records"]) == (1, 1)
    assert (books["lost_notifications"], books["duplicate_notifications"]) == (0, 1)


def test_targets_are_met_or_missed_on_what_was_measured() -> None:
    def scene(p50: float | None, calls: int, missed: int = 0) -> dict[str, Any]:
        return {
            "motion_to_label": {"p50_ms": p50},
            "requests": {"detect_labels": calls},
            "missed": missed,
            "unexpected": 0,
        }

    figures = {
        "stream-processor": {"person": scene(2700, 0)},
        "frames": {"person": scene(3500, 10), "empty": scene(None, 40)},
    }
    naive = {
        "person": {"requests": {"detect_labels": 90}, "frames_missed_where_naive_found": 0},
        "empty": {"requests": {"detect_labels": 60}, "frames_missed_where_naive_found": 0},
    }
    kill = {
        "cameras": 5,
        "lost_records": 0,
        "duplicate_records": 0,
        "lost_notifications": 0,
        "duplicate_notifications": 0,
    }
    latency, calls, killed = targets(figures, naive, kill)
    assert latency["met"] is True  # +800 ms
    assert calls["met"] is True  # 150 vs 50: 3x
    assert killed["met"] is True
    figures["frames"]["person"]["missed"] = 1
    figures["frames"]["person"]["motion_to_label"]["p50_ms"] = 3800
    latency, calls, _ = targets(figures, naive, kill)
    assert latency["met"] is False and calls["met"] is False
