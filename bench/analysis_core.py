"""The analyzers' benchmark, pure: what was observed (agent runs, messages on the fleet's
Rekognition topic, detection records, requests) turned into per-scene figures, the naive
baseline's, and the targets. No I/O; `bench/analysis.py` gathers the observations.

A session is known by its messages (both analyzers publish Rekognition's): its window
(`startStreamProcessorRequest`), each class's first LABEL_DETECTED arrival (SQS's SentTimestamp
on a queue subscribed to the topic) and its STREAM_PROCESSING_COMPLETE. It belongs to the round
and the agent run of its camera whose time holds its window's start; it was started by a motion
when its window starts one pre-roll before one of the run's motions (else it is a follow-up).

What each scene must give, per session (`expectation`): `person`, one PERSON when the window
holds at least `MIN_VIEW_MS` of the run's video; `late-person`, one PERSON when it holds that much
video after the person walked in (the scene's time 0 is the run's first fragment); `empty`,
none; `storm`, not judged (the person crosses the frame in bursts: shown, not counted as missed).
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bench.ingest_core import Lag, percentiles

DETECT_LABELS_USD = 0.001  # per image, the first million images a month
MIN_VIEW_MS = 3_000  # video with the person in it that a session needs to be expected to find it
PERSON = "PERSON"
LABEL_DETECTED = "LABEL_DETECTED"
STREAM_PROCESSING_COMPLETE = "STREAM_PROCESSING_COMPLETE"


class Expect(StrEnum):
    PERSON = "person"  # one PERSON detection
    NOTHING = "nothing"  # no detection
    UNJUDGED = "unjudged"


# What was observed.


@dataclass(frozen=True)
class AgentRun:
    """One camera agent playing a scene in a round."""

    camera_id: str
    started_ms: int
    stopped_ms: int
    motions: tuple[int, ...]  # producer timestamps (ms) of the motion events it published
    video_from_ms: int | None  # producer time of its first fragment: the scene's time 0
    ingest_lag_ms: int | None = None  # median: a fragment's video ended -> its file closed


@dataclass(frozen=True)
class Round:
    """Cameras playing one scene at once, on one analyzer, until their sessions ended."""

    analyzer: str
    scene: str
    name: str  # "1", "2", ... or "warm-up", "kill"
    started_ms: int
    ended_ms: int
    runs: tuple[AgentRun, ...]
    load: float = 0.0  # the 1-minute load average at its end
    other_cpu_s: float = 0.0  # CPU seconds other processes of the machine used meanwhile

    @property
    def seconds(self) -> float:
        return (self.ended_ms - self.started_ms) / 1000

    def run_of(self, camera_id: str, start_ms: int, preroll_ms: int) -> AgentRun | None:
        for run in self.runs:
            if run.camera_id == camera_id and (
                run.started_ms - preroll_ms - 2_000 <= start_ms <= run.stopped_ms + 1_000
            ):
                return run
        return None


@dataclass(frozen=True)
class Arrival:
    """A message as an SQS queue subscribed to a topic received it."""

    arrived_ms: int  # SQS's SentTimestamp: when SNS delivered it
    body: str  # the SNS envelope


@dataclass
class LabelSeen:
    first_arrived_ms: int
    frame_ms: int | None  # the detection's frame, producer time
    copies: int = 1  # messages for this class of the session (a redelivered session republishes)


@dataclass
class ObservedSession:
    camera_id: str
    session_id: str
    start_ms: int
    duration_s: int
    labels: dict[str, LabelSeen] = field(default_factory=dict)
    completed_ms: int | None = None
    completions: int = 0
    processed_ms: int | None = None
    message: str = ""

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_s * 1000


@dataclass(frozen=True)
class RequestCount:
    get_data_endpoint: int = 0
    get_images: int = 0
    detect_labels: int = 0

    def __add__(self, other: RequestCount) -> RequestCount:
        return RequestCount(
            self.get_data_endpoint + other.get_data_endpoint,
            self.get_images + other.get_images,
            self.detect_labels + other.detect_labels,
        )


@dataclass(frozen=True)
class NaiveSession:
    """The baseline's replay of one frames session's window."""

    camera_id: str
    session_id: str
    requests: RequestCount
    images: int  # images with content that GetImages returned
    person_frame_ms: int | None  # the first image DetectLabels found a person in


def parse_results(
    arrivals: Iterable[Arrival], camera_of: Callable[[str], str]
) -> dict[str, ObservedSession]:
    """Sessions by id from the Rekognition topic's messages (SNS envelopes), oldest first."""
    sessions: dict[str, ObservedSession] = {}
    for arrival in sorted(arrivals, key=lambda a: a.arrived_ms):
        message = json.loads(json.loads(arrival.body)["Message"])
        request = message["startStreamProcessorRequest"]
        session = sessions.setdefault(
            message["sessionId"],
            ObservedSession(
                camera_id=camera_of(request["name"]),
                session_id=message["sessionId"],
                start_ms=int(
                    request["startSelector"]["kvsStreamStartSelector"]["producerTimestamp"]
                ),
                duration_s=int(request["stopSelector"]["maxDurationInSeconds"]),
            ),
        )
        kind = message["eventNamespace"]["type"]
        if kind == LABEL_DETECTED:
            for label in message["labels"]:
                seen = session.labels.get(label["name"])
                if seen is not None:
                    seen.copies += 1
                    continue
                mapping = (label.get("videoMapping") or {}).get("kinesisVideoMapping") or {}
                frame = mapping.get("producerTimestamp")
                if frame is not None:  # a stream processor's is its fragment's, plus the offset
                    frame = int(frame) + int(mapping.get("frameOffsetMillis") or 0)
                session.labels[label["name"]] = LabelSeen(arrival.arrived_ms, frame)
        elif kind == STREAM_PROCESSING_COMPLETE:
            session.completions += 1
            if session.completed_ms is None:
                session.completed_ms = arrival.arrived_ms
                video = message["inputInformation"]["kinesisVideo"]
                session.processed_ms = video.get("processedVideoDurationMillis")
                session.message = (message.get("streamProcessingResults") or {}).get(
                    "message"
                ) or ""
    return sessions


def notification_camera(body: str) -> str | None:
    """The camera a detection notification (an SNS envelope) is about."""
    attributes = json.loads(body).get("MessageAttributes") or {}
    camera = attributes.get("camera") or {}
    value = camera.get("Value")
    return str(value) if value is not None else None


# What each session should have found.


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def expectation(
    scene: str, run: AgentRun | None, start_ms: int, end_ms: int, person_in_view_s: float
) -> tuple[Expect, int | None]:
    """What the session must find, and from when the person is in view (producer ms)."""
    if scene == "empty":
        return Expect.NOTHING, None
    if scene == "storm" or run is None or run.video_from_ms is None:
        return Expect.UNJUDGED, None
    in_view = run.video_from_ms + (round(person_in_view_s * 1000) if scene == "late-person" else 0)
    seen = _overlap((start_ms, end_ms), (in_view, run.stopped_ms))
    return (Expect.PERSON if seen >= MIN_VIEW_MS else Expect.NOTHING), in_view


@dataclass(frozen=True)
class SessionView:
    """One session with what it belongs to and what it should have found."""

    analyzer: str
    scene: str
    round: str
    session: ObservedSession
    motion_ms: int | None  # the motion that started it; None for a follow-up
    expect: Expect
    in_view_ms: int | None
    records: int  # PERSON detection records stored for it
    ingest_lag_ms: int | None  # its camera's (`AgentRun.ingest_lag_ms`)

    @property
    def found(self) -> bool:
        return PERSON in self.session.labels

    @property
    def person_arrived_ms(self) -> int | None:
        seen = self.session.labels.get(PERSON)
        return seen.first_arrived_ms if seen else None


def join_sessions(
    rounds: Sequence[Round],
    sessions: Iterable[ObservedSession],
    records: Mapping[tuple[str, str], int],
    preroll_ms: int,
    person_in_view_s: float,
) -> list[SessionView]:
    """Every observed session that belongs to a round, joined with its round and run."""
    views = []
    for session in sessions:
        for game in rounds:
            run = game.run_of(session.camera_id, session.start_ms, preroll_ms)
            if run is None:
                continue
            motion = session.start_ms + preroll_ms
            expect, in_view = expectation(
                game.scene, run, session.start_ms, session.end_ms, person_in_view_s
            )
            views.append(
                SessionView(
                    analyzer=game.analyzer,
                    scene=game.scene,
                    round=game.name,
                    session=session,
                    motion_ms=motion if motion in run.motions else None,
                    expect=expect,
                    in_view_ms=in_view,
                    records=records.get((session.camera_id, session.session_id), 0),
                    ingest_lag_ms=run.ingest_lag_ms,
                )
            )
            break
    return sorted(views, key=lambda v: v.session.start_ms)


# Figures per analyzer and scene.


def _mean(total: float, count: int, digits: int = 2) -> float | None:
    return round(total / count, digits) if count else None


def detections(views: Sequence[SessionView]) -> dict[str, int]:
    """Found, expected, missed and unexpected PERSON detections of these sessions."""
    return {
        "found": sum(v.found for v in views),
        "expected": sum(v.expect is Expect.PERSON for v in views),
        "missed": sum(v.expect is Expect.PERSON and not v.found for v in views),
        "unexpected": sum(v.expect is Expect.NOTHING and v.found for v in views),
        "unjudged": sum(v.expect is Expect.UNJUDGED for v in views),
    }


def scene_figures(
    analyzer: str,
    views: Sequence[SessionView],
    requests: RequestCount,
    price_per_minute: float | None,
) -> dict[str, Any]:
    """One analyzer on one scene: latency, work and cost per session, detections. The frames
    analyzer costs its DetectLabels calls; a stream processor its minutes of video, at
    `price_per_minute` (None: unknown)."""
    n = len(views)
    timed = [
        Lag(v.person_arrived_ms - v.motion_ms)
        for v in views
        if v.motion_ms is not None and v.person_arrived_ms is not None
    ]
    in_view = [
        Lag(v.person_arrived_ms - max(v.in_view_ms, v.session.start_ms))
        for v in views
        if v.in_view_ms is not None and v.person_arrived_ms is not None
    ]
    after_frame = [
        Lag(seen.first_arrived_ms - seen.frame_ms)
        for v in views
        if (seen := v.session.labels.get(PERSON)) is not None and seen.frame_ms is not None
    ]
    lags = [v.ingest_lag_ms for v in views if v.ingest_lag_ms is not None]
    processed = [v.session.processed_ms or 0 for v in views]
    minutes = _mean(sum(processed) / 60_000, n, 4)
    frames = analyzer == "frames"
    cost = (
        _mean(requests.detect_labels * DETECT_LABELS_USD, n, 5)
        if frames
        else (None if price_per_minute is None or minutes is None else minutes * price_per_minute)
    )
    return {
        "sessions": n,
        "motion_started": sum(v.motion_ms is not None for v in views),
        "incomplete": sum(v.session.completed_ms is None for v in views),
        "motion_to_label": percentiles(timed, (50, 95)),
        "in_view_to_label": percentiles(in_view, (50, 95)),
        "frame_to_label": percentiles(after_frame, (50, 95)),
        "ingest_lag_ms": round(statistics.median(lags)) if lags else None,
        "video_s_per_session": _mean(sum(processed) / 1000, n),
        # The frames analyzer sends every image it analyses to DetectLabels; the local stream
        # processor analyses 2 frames a second of the video it processes.
        "images_per_session": _mean(requests.detect_labels if frames else sum(processed) / 500, n),
        "minutes_per_session": minutes,
        "requests": vars(requests),
        "get_images_per_session": _mean(requests.get_images, n),
        "detect_labels_per_session": _mean(requests.detect_labels, n),
        "cost_usd_per_session": None if cost is None else round(cost, 5),
        "label_copies_beyond_first": sum(
            seen.copies - 1 for v in views for seen in v.session.labels.values()
        ),
        "duplicate_records": sum(max(0, v.records - 1) for v in views),
        "found_without_record": sum(v.found and v.records == 0 for v in views),
        **detections(views),
    }


def naive_figures(
    naive: Sequence[NaiveSession], views: Mapping[str, SessionView]
) -> dict[str, Any]:
    """The baseline on one scene: the same windows as the frames sessions, replayed."""
    n = len(naive)
    total = sum((s.requests for s in naive), RequestCount())
    found = {s.session_id for s in naive if s.person_frame_ms is not None}
    judged = [views[s.session_id] for s in naive]
    frames_missed_naive_found = sum(
        1 for v in judged if v.session.session_id in found and not v.found
    )
    return {
        "sessions": n,
        "requests": vars(total),
        "images_per_session": _mean(sum(s.images for s in naive), n),
        "get_images_per_session": _mean(total.get_images, n),
        "detect_labels_per_session": _mean(total.detect_labels, n),
        "cost_usd_per_session": _mean(total.detect_labels * DETECT_LABELS_USD, n, 5),
        "found": len(found),
        "expected": sum(v.expect is Expect.PERSON for v in judged),
        "missed": sum(
            v.expect is Expect.PERSON and v.session.session_id not in found for v in judged
        ),
        "unexpected": sum(
            v.expect is Expect.NOTHING and v.session.session_id in found for v in judged
        ),
        "unjudged": sum(v.expect is Expect.UNJUDGED for v in judged),
        "frames_missed_where_naive_found": frames_missed_naive_found,
    }


# The killed worker.


def kill_figures(
    views: Sequence[SessionView], runs: Sequence[AgentRun], notifications: Counter[str]
) -> dict[str, Any]:
    """Every camera's motion of the kill round must end as exactly one PERSON record and one
    notification: lost = cameras without, duplicates = beyond one."""
    by_camera = Counter(v.session.camera_id for v in views if v.records > 0)
    records = Counter[str]()
    for view in views:
        records[view.session.camera_id] += view.records
    cameras = [run.camera_id for run in runs if run.motions]
    return {
        "cameras": len(cameras),
        "sessions": len(views),
        "sessions_completed": sum(v.session.completed_ms is not None for v in views),
        "label_detected_messages": sum(
            seen.copies for v in views for seen in v.session.labels.values()
        ),
        "records": sum(records.values()),
        "notifications": sum(notifications[c] for c in cameras),
        "lost_records": sum(1 for c in cameras if by_camera[c] == 0),
        "duplicate_records": sum(max(0, records[c] - 1) for c in cameras),
        "lost_notifications": sum(1 for c in cameras if notifications[c] == 0),
        "duplicate_notifications": sum(max(0, notifications[c] - 1) for c in cameras),
    }


# Targets.


def targets(
    figures: Mapping[str, Mapping[str, Mapping[str, Any]]],
    naive: Mapping[str, Mapping[str, Any]],
    kill: Mapping[str, Any] | None,
) -> list[dict[str, Any]]:
    """Each target with what was measured and whether it was met."""
    out = []
    sp = figures.get("stream-processor", {}).get("person", {}).get("motion_to_label", {})
    fr = figures.get("frames", {}).get("person", {}).get("motion_to_label", {})
    sp50, fr50 = sp.get("p50_ms"), fr.get("p50_ms")
    gap = None if sp50 is None or fr50 is None else fr50 - sp50
    out.append(
        {
            "target": "frames motion->LABEL_DETECTED p50 within 1 s of the stream processor's "
            "(person)",
            "measured": None if gap is None else f"{fr50:.0f} ms vs {sp50:.0f} ms ({gap:+.0f} ms)",
            "met": gap is not None and gap <= 1000,
        }
    )
    frames = figures.get("frames", {})
    naive_calls = sum(n["requests"]["detect_labels"] for n in naive.values())
    frames_calls = sum(frames[s]["requests"]["detect_labels"] for s in naive if s in frames)
    missed = sum(f["missed"] + f["unexpected"] for f in frames.values())
    missed += sum(n["frames_missed_where_naive_found"] for s, n in naive.items() if s != "storm")
    ratio = naive_calls / frames_calls if frames_calls else math.inf
    per_scene = ", ".join(
        f"{s} {n['requests']['detect_labels'] / max(1, frames[s]['requests']['detect_labels']):.1f}x"
        for s, n in naive.items()
        if s in frames
    )
    out.append(
        {
            "target": ">= 3x fewer DetectLabels calls than the naive baseline, no detection missed",
            "measured": f"{naive_calls} vs {frames_calls} calls: {ratio:.2f}x ({per_scene}); "
            f"missed or unexpected: {missed}",
            "met": ratio >= 3 and missed == 0,
        }
    )
    if kill is not None:
        bad = (
            kill["lost_records"]
            + kill["duplicate_records"]
            + kill["lost_notifications"]
            + kill["duplicate_notifications"]
        )
        out.append(
            {
                "target": "0 lost, 0 duplicate detections with a worker killed (SIGKILL) mid-session",
                "measured": f"lost {kill['lost_records']} records / {kill['lost_notifications']} "
                f"notifications, duplicates {kill['duplicate_records']} / "
                f"{kill['duplicate_notifications']}",
                "met": bad == 0 and kill["cameras"] > 0,
            }
        )
    return out
