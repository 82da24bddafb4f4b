"""The session's I/O on AWS: the protocols of `session.py` over `cloud/`."""

from __future__ import annotations

import threading
import time

from cloud import kvs, registry
from cloud.analysis import frames_table, results
from cloud.analysis.detect import detect_labels
from cloud.analysis.images import ImageFormat, StreamImage, StreamImages
from cloud.analysis.labels import FoundLabel
from cloud.analysis.messages import s3_uri
from cloud.analysis.models import FramesCamera
from cloud.clients import AwsClients
from cloud.errors import NotFoundError
from cloud.models import Label, ProcessorStatus
from cloud.naming import FleetNames
from services.analyzer.rate import RateLimiter
from services.analyzer.session import CameraInfo, Cancel, CancelReason, SessionCancelled


class AnalysisTable:
    def __init__(self, clients: AwsClients, table: str) -> None:
        self._clients = clients
        self._table = table

    def read(self, camera_id: str) -> FramesCamera | None:
        return frames_table.read_camera(self._clients, self._table, camera_id)

    def renew(self, camera_id: str, session_id: str, lease_until_ms: int) -> bool:
        return frames_table.renew(self._clients, self._table, camera_id, session_id, lease_until_ms)

    def record_confirmed(
        self, camera_id: str, session_id: str, label: str, message: str
    ) -> str | None:
        return frames_table.record_confirmed(
            self._clients, self._table, camera_id, session_id, label, message
        )

    def finish(
        self,
        camera_id: str,
        session_id: str,
        status: ProcessorStatus,
        message: str,
        processed_ms: int,
    ) -> bool:
        return frames_table.finish(
            self._clients, self._table, camera_id, session_id, status, message, processed_ms
        )


class FleetCameras:
    """A camera's settings from its thing (read per session: they may change) and its stream's
    ARN (kept `stream_ttl_s`: an ARN changes only when the stream is deleted and made again)."""

    def __init__(self, clients: AwsClients, names: FleetNames, stream_ttl_s: float = 300.0) -> None:
        self._clients = clients
        self._names = names
        self._ttl_s = stream_ttl_s
        self._lock = threading.Lock()
        self._streams: dict[str, tuple[float, str]] = {}

    def camera(self, camera_id: str) -> CameraInfo:
        attributes = registry.member_attributes(self._clients, self._names, camera_id)
        if attributes is None:
            raise NotFoundError(
                f"camera {camera_id} is not registered in fleet {self._names.fleet}"
            )
        spec = registry.spec_from_attributes(camera_id, attributes)
        return CameraInfo(spec=spec, stream_arn=self._stream_arn(camera_id))

    def _stream_arn(self, camera_id: str) -> str:
        now = time.monotonic()
        with self._lock:
            known = self._streams.get(camera_id)
        if known is not None and now - known[0] < self._ttl_s:
            return known[1]
        name = self._names.stream(camera_id)
        stream = kvs.describe_stream(self._clients, name)
        if stream is None:
            raise NotFoundError(f"camera {camera_id}: KVS stream {name} does not exist")
        with self._lock:
            self._streams[camera_id] = (now, stream.arn)
        return stream.arn


class KvsImages:
    def __init__(self, images: StreamImages, image_format: ImageFormat) -> None:
        self._images = images
        self._format = image_format

    def images(
        self, stream_arn: str, start_ms: int, end_ms: int, interval_ms: int
    ) -> list[StreamImage]:
        return self._images.get_images(stream_arn, start_ms, end_ms, interval_ms, self._format)


class RekognitionLabels:
    """DetectLabels within the worker's rate; a worker that stops stops waiting for it."""

    def __init__(self, clients: AwsClients, limiter: RateLimiter, stop: threading.Event) -> None:
        self._clients = clients
        self._limiter = limiter
        self._stop = stop

    def labels(
        self, image: bytes, classes: frozenset[Label], min_confidence: float
    ) -> list[FoundLabel]:
        if not self._limiter.acquire(self._stop):
            raise SessionCancelled(CancelReason.STOPPING)
        return detect_labels(self._clients, image, classes, min_confidence)


class FleetResults:
    """The fleet's results bucket and Rekognition topic; their names embed the account id, read
    at the first write (a worker starts without calling AWS)."""

    def __init__(self, clients: AwsClients, names: FleetNames) -> None:
        self._clients = clients
        self._names = names

    def put_jpeg(self, key: str, body: bytes) -> str:
        bucket = self._names.results_bucket
        results.put_jpeg(self._clients, bucket, key, body)
        return s3_uri(bucket, key)

    def publish(self, message: str) -> None:
        results.publish_message(self._clients, self._names.topic_arn(), message)


class WallClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def wait(self, seconds: float, cancel: Cancel) -> None:
        cancel.wait(seconds)
