"""A camera's media on a local stack, as the agent and the stream processor leave them: video
fragments in the stack's fragment store, detection frames and crops in the results bucket.

`VideoFeed` writes the camera's stream as a live camera does (each recorded fragment placed once
at the next producer time); `feeding` keeps it going on a thread, one 2 s fragment every 2 s.
`detection_jpegs` draws a frame of a scene and the crop of a box of it, as real JPEGs;
`make_clip` has the results consumer's `ClipMaker` make a session's clip from a job.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2

from cloud import queues
from cloud.clients import AwsClients
from cloud.clip_store import ClipJob, ClipState
from cloud.links import bucket_and_key
from cloud.naming import FleetNames
from services.results_consumer.clip_maker import ClipMaker
from stack.cameras.scenes import Image, scene_frame, scene_kind

FRAGMENT_MS = 2_000  # the recorded fragments' length, as the agent cuts them
WIDTH, HEIGHT, FPS = 640, 480, 15


class VideoFeed:
    """The camera's folder of the fragment store, filled with `fragments` (recorded from 0 ms,
    named by their offset) over and over, each at the next producer time after the last."""

    def __init__(self, store: Path, fragments: list[Path], start_ms: int) -> None:
        self.store = store
        self._fragments = fragments
        self._placed = 0
        self.next_ms = start_ms  # where the stream's video ends so far
        store.mkdir(parents=True, exist_ok=True)

    def place(self, count: int) -> list[Path]:
        """The next `count` fragments, in producer order."""
        placed = []
        for _ in range(count):
            fragment = self._fragments[self._placed % len(self._fragments)]
            target = self.store / f"{self.next_ms}.mkv"
            shutil.copyfile(fragment, target)
            placed.append(target)
            self._placed += 1
            self.next_ms += FRAGMENT_MS
        return placed


@contextmanager
def feeding(feed: VideoFeed, every_s: float = FRAGMENT_MS / 1000) -> Iterator[VideoFeed]:
    """One fragment now, then one every `every_s` on a thread, until the block ends."""
    stop = threading.Event()
    feed.place(1)

    def run() -> None:
        while not stop.wait(every_s):
            feed.place(1)

    writer = threading.Thread(target=run, name="video-feed", daemon=True)
    writer.start()
    try:
        yield feed
    finally:
        stop.set()
        writer.join(10)


def detection_jpegs(
    scene: str, at_ms: int, box: tuple[float, float, float, float]
) -> tuple[bytes, bytes]:
    """(frame, crop) as JPEGs: the scene's frame at `at_ms` into it, and the part of it inside
    `box` (left, top, width, height as ratios of the frame)."""
    frame = scene_frame(scene_kind(scene), at_ms * FPS // 1000, WIDTH, HEIGHT, FPS)
    left, top, width, height = box
    x, y = round(left * WIDTH), round(top * HEIGHT)
    crop = frame[y : y + max(1, round(height * HEIGHT)), x : x + max(1, round(width * WIDTH))]
    return _jpeg(frame), _jpeg(crop)


def _jpeg(image: Image) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image)
    if not ok:
        raise ValueError("OpenCV could not encode the image as JPEG")
    return encoded.tobytes()


def store_jpeg(clients: AwsClients, uri: str, jpeg: bytes) -> None:
    """Put a JPEG at `s3://bucket/key`, as the stream processor stores its frames."""
    bucket, key = bucket_and_key(uri)
    clients.s3.put_object(Bucket=bucket, Key=key, Body=jpeg, ContentType="image/jpeg")


def make_clip(clients: AwsClients, names: FleetNames, job: ClipJob) -> ClipState | None:
    """The job's clip (GetClip of the camera's stream), stored and its outcome kept as the
    results consumer does, the job received from a queue of its own (the clip maker deletes
    the message; the results queue's consumer must not take it)."""
    url = clients.sqs.create_queue(QueueName=f"{names.fleet}-clip-jobs-{job.session_id[:8]}")[
        "QueueUrl"
    ]
    try:
        queues.send(clients, url, job.model_dump_json(), {})
        (message,) = queues.receive(clients, url, 1, 5, 60)
        maker = ClipMaker(clients, names, names.detections_table, url, workers=0)
        return maker.make(message, ClipJob.model_validate_json(message.body))
    finally:
        clients.sqs.delete_queue(QueueUrl=url)
