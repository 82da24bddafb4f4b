"""Fakes for a frames session: a clock that moves only when waited on, a camera's video that is
ingested a little after its producer time (GetImages' answers), a DetectLabels that answers per
frame, the analysis table's conditional writes, and results kept in order."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from PIL import Image

from cloud.analysis.images import ImageError, StreamImage
from cloud.analysis.labels import FoundInstance, FoundLabel
from cloud.analysis.models import FramesCamera, FramesSessionRequest
from cloud.analysis.regions import Box
from cloud.errors import NotFoundError
from cloud.models import CameraSpec, Label, ProcessorStatus, RegionOfInterest
from services.analyzer.session import CameraInfo, Cancel

T0 = 1_900_000_000_000  # producer time of the windows, ms
STREAM_ARN = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/front-door/1700000000000"


def jpeg(width: int = 320, height: int = 240) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 150)).save(out, format="JPEG")
    return out.getvalue()


BASE_JPEG = jpeg()


class FakeClock:
    """Wall time in ms; `wait` advances it (a cancelled session's wait returns at once)."""

    def __init__(self, now_ms: int) -> None:
        self.now = now_ms
        self.waited_ms = 0

    def now_ms(self) -> int:
        return self.now

    def wait(self, seconds: float, cancel: Cancel) -> None:
        if cancel.is_set():
            return
        step = max(1, round(seconds * 1000))
        self.now += step
        self.waited_ms += step

    def advance(self, ms: int) -> None:
        self.now += ms


@dataclass
class FakeVideo:
    """A stream with video from `video_from` to `video_to` (producer ms), each moment ingested
    `lag_ms` after it happened; `media_error` timestamps cannot give an image. Answers as
    GetImages does: one image per sampling interval from the start, NO_MEDIA where none."""

    clock: FakeClock
    video_from: int = T0
    video_to: int = T0 + 10_000_000
    lag_ms: int = 0
    media_error: frozenset[int] = frozenset()
    calls: list[tuple[int, int, int]] = field(default_factory=list)
    frames: dict[bytes, int] = field(default_factory=dict)

    def images(
        self, stream_arn: str, start_ms: int, end_ms: int, interval_ms: int
    ) -> list[StreamImage]:
        assert stream_arn == STREAM_ARN
        assert end_ms >= start_ms
        self.calls.append((start_ms, end_ms, interval_ms))
        ingested = self.clock.now - self.lag_ms
        found = []
        for ts in range(start_ms, end_ms + 1, interval_ms):
            if not self.video_from <= ts <= min(self.video_to, ingested):
                found.append(StreamImage(timestamp_ms=ts, error=ImageError.NO_MEDIA))
            elif ts in self.media_error:
                found.append(StreamImage(timestamp_ms=ts, error=ImageError.MEDIA_ERROR))
            else:
                content = BASE_JPEG + ts.to_bytes(8, "big")  # trailing bytes: still a JPEG
                self.frames[content] = ts
                found.append(StreamImage(timestamp_ms=ts, content=content))
        return found


Scene = Callable[[int], list[FoundLabel]]


@dataclass
class FakeLabels:
    """DetectLabels over FakeVideo's frames: `scene(producer ms)` is what is in the frame; the
    answer keeps what the request's classes and confidence allow, as the real filters do."""

    video: FakeVideo
    scene: Scene
    calls: list[tuple[int, frozenset[Label], float]] = field(default_factory=list)

    def labels(
        self, image: bytes, classes: frozenset[Label], min_confidence: float
    ) -> list[FoundLabel]:
        from cloud.analysis.labels import class_of

        ts = self.video.frames[image]
        self.calls.append((ts, classes, min_confidence))
        return [
            found
            for found in self.scene(ts)
            if class_of(found.name, found.aliases) in classes and found.confidence >= min_confidence
        ]


def person(confidence: float = 97.0, box: Box | None = None) -> FoundLabel:
    box = box or Box(left=0.4, top=0.3, width=0.2, height=0.5)
    return FoundLabel(
        name="Person",
        confidence=confidence,
        instances=(FoundInstance(box=box, confidence=confidence),),
    )


def dog(confidence: float = 91.0) -> FoundLabel:
    box = Box(left=0.1, top=0.6, width=0.2, height=0.2)
    return FoundLabel(
        name="Dog",
        confidence=confidence,
        instances=(FoundInstance(box=box, confidence=confidence),),
    )


def cardboard(confidence: float = 88.0) -> FoundLabel:
    return FoundLabel(name="Cardboard", confidence=confidence)


def seen_between(start: int, end: int, *found: FoundLabel) -> Scene:
    return lambda ts: list(found) if start <= ts <= end else []


@dataclass
class FakeTable:
    """The analysis table's item of one camera, with frames_table's conditions."""

    item: FramesCamera | None
    log: list[str]

    @classmethod
    def with_session(
        cls,
        request: FramesSessionRequest,
        log: list[str],
        status: ProcessorStatus = ProcessorStatus.STARTING,
        confirmed: dict[str, str] | None = None,
        regions: tuple[RegionOfInterest, ...] = (),
    ) -> FakeTable:
        item = FramesCamera(
            camera_id=request.camera_id,
            regions_of_interest=regions,
            session=request,
            status=status,
            confirmed=confirmed or {},
        )
        return cls(item, log)

    def _current(self, session_id: str, unfinished: bool = False) -> bool:
        item = self.item
        if item is None or item.session is None or item.session.session_id != session_id:
            return False
        return not (unfinished and item.status in (ProcessorStatus.STOPPED, ProcessorStatus.FAILED))

    def read(self, camera_id: str) -> FramesCamera | None:
        return self.item

    def renew(self, camera_id: str, session_id: str, lease_until_ms: int) -> bool:
        if not self._current(session_id, unfinished=True):
            return False
        assert self.item is not None
        self.item = self.item.model_copy(
            update={"status": ProcessorStatus.RUNNING, "lease_until_ms": lease_until_ms}
        )
        self.log.append("renew")
        return True

    def record_confirmed(
        self, camera_id: str, session_id: str, label: str, message: str
    ) -> str | None:
        """As the table: the first message recorded for the class wins."""
        if not self._current(session_id):
            return None
        assert self.item is not None
        if label in self.item.confirmed:
            return self.item.confirmed[label]
        self.item = self.item.model_copy(
            update={"confirmed": {**self.item.confirmed, label: message}}
        )
        self.log.append(f"record {label}")
        return message

    def finish(
        self,
        camera_id: str,
        session_id: str,
        status: ProcessorStatus,
        message: str,
        processed_ms: int,
    ) -> bool:
        if not self._current(session_id):
            return False
        assert self.item is not None
        self.item = self.item.model_copy(
            update={"status": status, "message": message, "processed_ms": processed_ms}
        )
        self.log.append(f"finish {status.value}")
        return True


@dataclass
class FakeCameras:
    spec: CameraSpec | None
    error: Exception | None = None

    def camera(self, camera_id: str) -> CameraInfo:
        if self.error is not None:
            raise self.error
        if self.spec is None:
            raise NotFoundError(f"camera {camera_id} is not registered")
        return CameraInfo(spec=self.spec, stream_arn=STREAM_ARN)


@dataclass
class FakeResults:
    log: list[str]
    bucket: str = "camfleet-results-123456789012-us-east-1"
    objects: dict[str, bytes] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)

    def put_jpeg(self, key: str, body: bytes) -> str:
        self.objects[key] = body
        self.log.append(f"put {key.rsplit('/', 1)[-1]}")
        return f"s3://{self.bucket}/{key}"

    def publish(self, message: str) -> None:
        self.published.append(message)
        self.log.append("publish")


def ids(prefix: str = "id") -> Callable[[], str]:
    counter = iter(range(1_000_000))
    return lambda: f"{prefix}-{next(counter)}"


def labels_of(classes: Iterable[Label]) -> frozenset[Label]:
    return frozenset(classes)
