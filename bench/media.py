"""Benchmark: what a detection's media cost on the local stack: the notification with its links,
the session's clip, and the live and on-demand HLS streams.

    .venv/bin/python -m bench.media [--sessions 10] [--show]

(As a module: run as a script, `bench/` comes first on the import path and `bench/cli.py` hides
the `cli` package.)

The local AWS endpoint runs as its own process with a fragment store, a fleet of the benchmark's
own (`ensure_fleet`), one camera's KVS stream, and the results consumer (`ConsumerRunner`, its
clip maker on two threads, GetClip against the endpoint). The camera's video is the `person`
scene recorded as the agent records it (H.264 in Matroska, 2 s fragments), placed in the store
for the last `SESSION_S` seconds before each session ends, as a live camera's would be.

- **Baseline** (the notification as it was before clips): `--sessions` LABEL_DETECTED messages,
  each on its own session that never ends, so no clip is ever made; from each publish to the
  fleet's Rekognition topic to the notification's arrival on a queue subscribed to the
  notification topic.
- **With clips**: `--sessions` sessions, each a LABEL_DETECTED then its STREAM_PROCESSING_COMPLETE;
  the next session's detection is published while the previous clip is being made. Timed: the
  notification as above; the session's end to its clip stored (the object exists in S3); the
  clip's bytes per second of video.
- **HLS**: per session, GetHLSStreamingSessionURL ON_DEMAND for its window, then the master
  playlist, the media playlist, the init segment and the first media segment, as a player
  fetches them: the time to the first segment; and LIVE once per session, right after its video
  is placed.

Prints tables and writes bench/results/media.json; details: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import shutil
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from rich.console import Console
from rich.table import Table

from bench.faces import commit_id
from bench.faces_core import stats
from bench.faces_observe import endpoint_process
from bench.local_aws import local_settings
from cloud import clip_store, kvs
from cloud.clients import AwsClients
from cloud.fleet import ensure_fleet, fleet_names
from cloud.live import live_url, on_demand_url
from cloud.naming import FleetNames
from cloud.tags import fleet_tags
from services.results_consumer.service import ConsumerConfig, ConsumerRunner
from stack.cameras.scenes import write_scene
from tests.support.camera_media import FRAGMENT_MS, VideoFeed, detection_jpegs
from tests.support.results_messages import label_detected, processing_complete
from tests.support.scene_fragments import record_fragments

RESULTS = Path(__file__).resolve().parent / "results"
CAMERA = "bench-door"
SESSION_S = 30  # the video a session covers, its pre-roll included
DETECTION_AT_S = 12  # the detection's moment, seconds into the session's video
GAP_S = clip_store.DELAY_SECONDS + 0.5  # the next detection comes while the clip is made
NOTIFY_TARGET_MS = 100  # the notification's p95 with clips, at most this above the baseline's
CLIP_TARGET_S = 10  # a session's clip stored within this of its end
HLS_EXPIRES_S = 300
WARM_UP = 2  # baseline detections not counted: the consumer's first calls


def _progress(text: str) -> None:
    print(f"[media] {text}", flush=True)


@dataclass(frozen=True)
class Fleet:
    clients: AwsClients
    names: FleetNames
    store: Path  # the camera's folder of the fragment store
    observer_url: str


class Inbox:
    """Notifications as they arrive (long-polled on a thread), by detection key."""

    def __init__(self, clients: AwsClients, url: str) -> None:
        self._clients, self._url = clients, url
        self.arrived: queue.Queue[tuple[float, str]] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            answer = self._clients.sqs.receive_message(
                QueueUrl=self._url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            for message in answer.get("Messages", []):
                now = time.perf_counter()
                text = json.loads(message["Body"])["Message"]
                self.arrived.put((now, text))
                self._clients.sqs.delete_message(
                    QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"]
                )

    def wait(self, timeout_s: float = 30) -> tuple[float, str]:
        return self.arrived.get(timeout=timeout_s)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


def _observer(clients: AwsClients, names: FleetNames) -> str:
    url = clients.sqs.create_queue(QueueName="bench-media-observer")["QueueUrl"]
    arn = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    clients.sns.subscribe(
        TopicArn=names.user_notifications_topic_arn(), Protocol="sqs", Endpoint=arn
    )
    return url


def _publish(fleet: Fleet, message: dict[str, Any]) -> float:
    started = time.perf_counter()
    fleet.clients.sns.publish(
        TopicArn=fleet.names.topic_arn(),
        Subject="Rekognition Stream Processing Event",
        Message=json.dumps(message),
    )
    return started


def _store_frame(fleet: Fleet, message: dict[str, Any], jpeg: bytes) -> None:
    bucket, _, key = message["labels"][0]["frameImageUri"].removeprefix("s3://").partition("/")
    fleet.clients.s3.put_object(Bucket=bucket, Key=key, Body=jpeg, ContentType="image/jpeg")


def _links(text: str) -> tuple[bool, bool]:
    lines = text.splitlines()
    return (
        any(line.startswith("Frame: http") for line in lines),
        any(line.startswith("Clip (when the event ends): http") for line in lines),
    )


def _clip_stored(fleet: Fleet, uri: str, timeout_s: float = 60) -> float:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            fleet.clients.s3.head_object(Bucket=bucket, Key=key)
            return time.perf_counter()
        except fleet.clients.s3.exceptions.ClientError:
            time.sleep(0.05)
    raise RuntimeError(f"no clip at {uri} within {timeout_s:g} s")


def _video_seconds(fleet: Fleet, uri: str) -> float:
    """How much video an MP4 in the bucket holds (its frames over its frame rate)."""
    import cv2  # the local extra's

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    with tempfile.NamedTemporaryFile(suffix=".mp4") as saved:
        saved.write(fleet.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        saved.flush()
        capture = cv2.VideoCapture(saved.name)
        frames, fps = capture.get(cv2.CAP_PROP_FRAME_COUNT), capture.get(cv2.CAP_PROP_FPS)
        capture.release()
    return float(frames / fps) if fps > 0 else 0.0


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as answer:
        data: bytes = answer.read()
        return data


def _first_uri(playlist: str) -> str:
    return next(line for line in playlist.splitlines() if line and not line.startswith("#"))


def _hls_first_segment_ms(url: str) -> float:
    """From the session URL to the first media segment in hand, as a player fetches them."""
    started = time.perf_counter()
    master = _get(url).decode()
    media_url = urljoin(url, _first_uri(master))
    media = _get(media_url).decode()
    for line in media.splitlines():
        if line.startswith("#EXT-X-MAP:URI="):
            _get(urljoin(media_url, line.split("=", 1)[1].strip('"')))
    segment = _get(urljoin(media_url, _first_uri(media)))
    if not segment:
        raise RuntimeError(f"an empty first segment from {url}")
    return (time.perf_counter() - started) * 1000


def _baseline(fleet: Fleet, inbox: Inbox, jpeg: bytes, sessions: int) -> list[float]:
    timed = []
    for n in range(sessions + WARM_UP):
        message = label_detected(
            fleet.names.fleet,
            CAMERA,
            f"baseline-{n}",
            producer_ms=int(time.time() * 1000),
            bucket=fleet.names.results_bucket,
        )
        _store_frame(fleet, message, jpeg)
        sent = _publish(fleet, message)
        arrived, text = inbox.wait()
        if n >= WARM_UP:
            timed.append((arrived - sent) * 1000)
        if not _links(text)[0]:
            raise RuntimeError(f"a notification without its frame link: {text}")
    return timed


@dataclass
class Session:
    notify_ms: float
    clip_s: float
    clip_bytes: int
    clip_seconds: float  # the video in the clip, decoded
    window_seconds: float  # the session's window it was asked for
    hls_on_demand_ms: float
    hls_live_ms: float
    links: tuple[bool, bool]


def _with_clips(
    fleet: Fleet, inbox: Inbox, jpeg: bytes, fragments: list[Path], sessions: int
) -> list[Session]:
    feed: VideoFeed | None = None
    done: list[Session] = []
    pending: tuple[int, str, float, dict[str, Any]] | None = None  # a session waiting for its clip
    for n in range(sessions + 1):
        end_ms = int(time.time() * 1000)
        start_ms = end_ms - SESSION_S * 1000
        if feed is None:
            feed = VideoFeed(fleet.store, fragments, start_ms)
        feed.place(math.ceil((end_ms - feed.next_ms) / FRAGMENT_MS))  # the video up to now
        live_ms = _hls_first_segment_ms(live_url(fleet.clients, CAMERA, HLS_EXPIRES_S).url)
        message = label_detected(
            fleet.names.fleet,
            CAMERA,
            f"clips-{n}",
            producer_ms=start_ms + DETECTION_AT_S * 1000,
            bucket=fleet.names.results_bucket,
        )
        _store_frame(fleet, message, jpeg)
        sent = _publish(fleet, message)
        arrived, text = inbox.wait()
        frame = message["labels"][0]["frameImageUri"]
        uri = frame.rsplit("/", 2)[0] + "/" + clip_store.CLIP_NAME
        if pending is not None:
            done.append(_finish(fleet, *pending))
        ended = _publish(
            fleet,
            processing_complete(
                fleet.names.fleet, CAMERA, f"clips-{n}", processed_ms=SESSION_S * 1000
            ),
        )
        facts = {
            "notify_ms": (arrived - sent) * 1000,
            "live_ms": live_ms,
            "links": _links(text),
            "start_ms": start_ms,
            "end_ms": end_ms,
            "warm_up": n == 0,
        }
        pending = (n, uri, ended, facts)
        time.sleep(GAP_S)
    if pending is not None:
        done.append(_finish(fleet, *pending))
    return [s for s in done if s is not None]


def _finish(fleet: Fleet, n: int, uri: str, ended: float, facts: dict[str, Any]) -> Session:
    stored = _clip_stored(fleet, uri)
    record = clip_store.get_clip_record(
        fleet.clients, fleet.names.detections_table, CAMERA, f"clips-{n}"
    )
    if record is None or record.state is not clip_store.ClipState.MADE:
        raise RuntimeError(f"session clips-{n}: clip {record}")
    start = datetime.fromtimestamp(facts["start_ms"] / 1000, UTC)
    on_demand = on_demand_url(
        fleet.clients, CAMERA, start, start + timedelta(seconds=SESSION_S), HLS_EXPIRES_S
    )
    return Session(
        notify_ms=facts["notify_ms"],
        clip_s=stored - ended,
        clip_bytes=record.size_bytes or 0,
        clip_seconds=_video_seconds(fleet, uri),
        window_seconds=(record.end - record.start).total_seconds(),
        hls_on_demand_ms=_hls_first_segment_ms(on_demand.url),
        hls_live_ms=facts["live_ms"],
        links=facts["links"],
    )


@contextmanager
def _consumer(clients: AwsClients, names: FleetNames) -> Iterator[None]:
    settings = clients.settings
    config = ConsumerConfig.from_settings(settings, wait_seconds=1, cooldown_seconds=0)

    class NoEvents:
        def detection(self, fleet: str, record: object) -> None:
            """The events go to Prefect in production; not timed here."""

    stop = threading.Event()
    runner = ConsumerRunner(clients, names, config, NoEvents())
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)


def run(sessions: int) -> dict[str, Any]:
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="bench-media-"))
    settings = local_settings(workdir / "home")
    loads = [os.getloadavg()[0]]
    recordings = workdir / "recordings"
    fragments = record_fragments(
        write_scene("person", recordings / "person.avi", seconds=SESSION_S),
        recordings / "person",
        0,
    )
    frame_bytes, _ = detection_jpegs("person", DETECTION_AT_S * 1000, (0.3, 0.2, 0.25, 0.6))
    _progress(f"{len(fragments)} fragments recorded: {time.monotonic() - began:.0f} s")
    root = workdir / "fragments"
    try:
        with endpoint_process(settings.aws_port, workdir, fragment_root=root) as _endpoint:
            clients = AwsClients(settings)
            ensure_fleet(clients)
            names = fleet_names(clients)
            kvs.ensure_stream(clients, CAMERA, 24, fleet_tags(names.fleet))
            store = root / CAMERA
            store.mkdir(parents=True, exist_ok=True)
            fleet = Fleet(clients, names, store, _observer(clients, names))
            inbox = Inbox(clients, fleet.observer_url)
            try:
                with _consumer(clients, names):
                    baseline = _baseline(fleet, inbox, frame_bytes, sessions)
                    loads.append(os.getloadavg()[0])
                    _progress(f"baseline: {time.monotonic() - began:.0f} s")
                    timed = _with_clips(fleet, inbox, frame_bytes, fragments, sessions)
                    loads.append(os.getloadavg()[0])
                    _progress(f"{sessions} sessions with clips: {time.monotonic() - began:.0f} s")
            finally:
                inbox.close()
    except BaseException:
        _progress(f"failed; the endpoint's log: {workdir / 'endpoint.log'}")
        raise
    shutil.rmtree(workdir, ignore_errors=True)
    counted = timed[1:]  # the first session warms the clip maker up
    return {
        "settings": {
            "sessions": sessions,
            "session_s": SESSION_S,
            "clip_delay_s": clip_store.DELAY_SECONDS,
            "cpus": os.cpu_count(),
            "commit": commit_id(),
        },
        "load_averages": [round(load, 2) for load in loads],
        "figures": figures(baseline, counted),
        "sessions": [vars(s) for s in counted],
        "seconds": round(time.monotonic() - began, 1),
    }


def figures(baseline: list[float], timed: list[Session]) -> dict[str, Any]:
    notify = stats([s.notify_ms for s in timed])
    base = stats(baseline)
    clip_ms = [s.clip_s * 1000 for s in timed]
    rates = [s.clip_bytes / s.clip_seconds for s in timed if s.clip_seconds > 0]
    worst_clip_s = max((s.clip_s for s in timed), default=0.0)
    over = (notify["p95_ms"] or 0) - (base["p95_ms"] or 0)
    return {
        "notification_baseline": base,
        "notification_with_clips": notify,
        "clip_stored_after_session_end": stats(clip_ms),
        "clip_bytes_per_video_second": round(sum(rates) / len(rates)) if rates else None,
        "clip_seconds": round(sum(s.clip_seconds for s in timed) / max(1, len(timed)), 1),
        "window_seconds": round(sum(s.window_seconds for s in timed) / max(1, len(timed)), 1),
        "hls_on_demand_first_segment": stats([s.hls_on_demand_ms for s in timed]),
        "hls_live_first_segment": stats([s.hls_live_ms for s in timed]),
        "links_in_every_notification": all(s.links == (True, True) for s in timed),
        "targets": [
            {
                "target": f"notification p95 within {NOTIFY_TARGET_MS} ms of the baseline's",
                "measured": f"{notify['p95_ms']} vs {base['p95_ms']} ms ({over:+.1f} ms)",
                "met": over <= NOTIFY_TARGET_MS,
            },
            {
                "target": f"clip stored within {CLIP_TARGET_S} s of the session's end",
                "measured": f"at most {worst_clip_s:.1f} s",
                "met": worst_clip_s <= CLIP_TARGET_S,
            },
        ],
    }


def tables(result: dict[str, Any]) -> list[Table]:
    f = result["figures"]
    latency = Table(title="media latency (ms)")
    for column in ("path", "samples", "p50", "p95", "max"):
        latency.add_column(column)
    for name, key in (
        ("LABEL_DETECTED → notification, no clips (baseline)", "notification_baseline"),
        ("LABEL_DETECTED → notification, clips being made", "notification_with_clips"),
        ("session end → clip stored", "clip_stored_after_session_end"),
        ("HLS on demand: URL → first segment", "hls_on_demand_first_segment"),
        ("HLS live: URL → first segment", "hls_live_first_segment"),
    ):
        s = f[key]
        latency.add_row(
            name, str(s["samples"]), str(s["p50_ms"]), str(s["p95_ms"]), str(s["max_ms"])
        )
    clips = Table(title="clips")
    clips.add_column("session window (s)")
    clips.add_column("video per clip (s)")
    clips.add_column("bytes per second of video")
    clips.add_column("frame and clip link in every notification")
    clips.add_row(
        str(f["window_seconds"]),
        str(f["clip_seconds"]),
        str(f["clip_bytes_per_video_second"]),
        str(f["links_in_every_notification"]),
    )
    return [latency, clips]


def _sessions(text: str) -> int:
    value = int(text)
    if not 10 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{value} is not within 10 to 100")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=_sessions, default=10, help="10 to 100")
    parser.add_argument("--show", action="store_true", help="print the last run's JSON tables")
    args = parser.parse_args()
    if args.show:
        result = json.loads((RESULTS / "media.json").read_text())
    else:
        result = run(args.sessions)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "media.json").write_text(json.dumps(result, indent=2) + "\n")
    console = Console(width=200)
    for table in tables(result):
        console.print(table)
    for target in result["figures"]["targets"]:
        console.print(
            f"{'met' if target['met'] else 'MISSED'}: {target['target']}: {target['measured']}"
        )
    s = result["settings"]
    console.print(
        f"commit {s['commit']}, {s['cpus']} CPUs, load {min(result['load_averages']):.1f} to "
        f"{max(result['load_averages']):.1f}; run took {result['seconds']:.0f} s"
    )


if __name__ == "__main__":
    main()
