"""A frames session on fakes: what it publishes and records, in which order, and when it stops."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from cloud.analysis.images import StreamImage
from cloud.analysis.models import FramesSessionRequest
from cloud.analysis.regions import Box
from cloud.errors import AccessDeniedError, RetryableError
from cloud.models import BoundingBox, CameraSpec, Label, ProcessorStatus, RegionOfInterest
from cloud.naming import FleetNames
from cloud.rekognition_messages import (
    LabelDetectedEvent,
    StreamProcessingCompleteEvent,
    parse_notification,
)
from services.analyzer.session import (
    Cancel,
    CancelReason,
    Outcome,
    Session,
    SessionIo,
    SessionReport,
    SessionSettings,
)
from tests.unit.services.analyzer.fakes import (
    STREAM_ARN,
    T0,
    FakeCameras,
    FakeClock,
    FakeLabels,
    FakeResults,
    FakeTable,
    FakeVideo,
    cardboard,
    dog,
    ids,
    person,
    seen_between,
)

NAMES = FleetNames("camfleet", "123456789012", "us-east-1")
CAMERA = "front-door"
# One image a second throughout, unless a test searches more coarsely (`SEARCHING`).
SETTINGS = SessionSettings(
    search_ms=1000, confirm_ms=1000, confirmations=2, grace_ms=10_000, retry_ms=1000
)
SEARCHING = SessionSettings(
    search_ms=3000, confirm_ms=1000, confirmations=2, grace_ms=10_000, retry_ms=1000
)


def request(
    duration_s: int = 20, session_id: str = "s-1", motion_ms: int | None = None
) -> FramesSessionRequest:
    return FramesSessionRequest(
        camera_id=CAMERA,
        session_id=session_id,
        start_ms=T0,
        duration_s=duration_s,
        requested_at_ms=T0,
        motion_ms=motion_ms,
    )


@dataclass
class Rig:
    """A session's fakes; the clock starts at `now` (default: long after the window)."""

    request: FramesSessionRequest
    labels: set[Label] = field(default_factory=lambda: {Label.PERSON})
    scene: object = None
    now: int | None = None
    lag_ms: int = 0
    video_to: int = T0 + 10_000_000
    confirmed: dict[str, str] | None = None
    status: ProcessorStatus = ProcessorStatus.STARTING
    regions: tuple[RegionOfInterest, ...] = ()
    media_error: frozenset[int] = frozenset()
    camera_error: Exception | None = None
    settings: SessionSettings = SETTINGS

    def __post_init__(self) -> None:
        self.log: list[str] = []
        self.clock = FakeClock(self.now if self.now is not None else self.request.end_ms + 60_000)
        self.video = FakeVideo(
            self.clock,
            video_to=self.video_to,
            lag_ms=self.lag_ms,
            media_error=self.media_error,
        )
        scene = self.scene if self.scene is not None else (lambda ts: [])
        self.detector = FakeLabels(self.video, scene)  # type: ignore[arg-type]
        self.table = FakeTable.with_session(
            self.request, self.log, self.status, self.confirmed, self.regions
        )
        self.results = FakeResults(self.log)
        self.cameras = FakeCameras(
            CameraSpec(camera_id=CAMERA, labels=frozenset(self.labels), min_confidence=60),
            self.camera_error,
        )
        self.cancel = Cancel()

    def run(self, last_attempt: bool = False) -> SessionReport:
        io = SessionIo(
            table=self.table,
            cameras=self.cameras,
            images=self.video,
            labels=self.detector,
            results=self.results,
            clock=self.clock,
            new_id=ids(),
        )
        return Session(self.request, io, NAMES, self.settings, self.cancel, last_attempt).run()

    def events(self) -> list[LabelDetectedEvent | StreamProcessingCompleteEvent]:
        return [parse_notification(message).event for message in self.results.published]


def detections(rig: Rig) -> list[LabelDetectedEvent]:
    return [e for e in rig.events() if isinstance(e, LabelDetectedEvent)]


def completion(rig: Rig) -> StreamProcessingCompleteEvent:
    last = rig.events()[-1]
    assert isinstance(last, StreamProcessingCompleteEvent)
    return last


def test_a_person_seen_twice_in_a_row_is_reported_once_then_the_session_stops_early() -> None:
    rig = Rig(request(), scene=seen_between(T0 + 3000, T0 + 9000, person()))
    report = rig.run()

    assert report.outcome is Outcome.ENDED and report.status is ProcessorStatus.STOPPED
    found = detections(rig)
    assert len(found) == 1
    label = found[0].labels[0]
    assert (label.name, label.confidence) == ("PERSON", 97.0)
    detected_at = label.detected_at()
    assert detected_at is not None
    assert int(detected_at.timestamp() * 1000) == T0 + 4000  # the confirming image
    assert found[0].processor == "camfleet-front-door"
    assert found[0].input_information.kinesis_video.stream_arn == STREAM_ARN
    # Frame and crop under the stream processor's keys, the crop a JPEG of its own.
    prefix = f"cameras/{CAMERA}/camfleet-front-door/s-1/PERSON-id-0"
    assert label.frame_image_uri == f"s3://{rig.results.bucket}/{prefix}/frame.jpg"
    assert label.cropped_image_uri == f"s3://{rig.results.bucket}/{prefix}/cropped.jpg"
    assert rig.results.objects[f"{prefix}/cropped.jpg"][:2] == b"\xff\xd8"
    # Stopped at the confirmation: no image after T0 + 4000 was asked for or analysed.
    assert [ts for ts, _, _ in rig.detector.calls] == [T0 + i * 1000 for i in range(5)]
    end = completion(rig)
    assert end.input_information.kinesis_video.processed_video_duration_millis == 5000
    assert rig.table.item is not None and rig.table.item.status is ProcessorStatus.STOPPED
    assert rig.table.item.processed_ms == 5000
    assert rig.table.item.confirmed["PERSON"] == rig.results.published[0]


def test_the_detection_is_recorded_before_it_is_published_and_the_item_ends_last() -> None:
    rig = Rig(request(), scene=seen_between(T0, T0 + 5000, person()))
    rig.run()
    assert rig.log == [
        "renew",
        "put frame.jpg",
        "put cropped.jpg",
        "record PERSON",
        "publish",
        "publish",
        "finish STOPPED",
    ]


def test_a_class_needs_its_images_in_a_row() -> None:
    seen = {T0 + 2000, T0 + 4000, T0 + 6000, T0 + 8000, T0 + 9000}
    rig = Rig(request(), scene=lambda ts: [person()] if ts in seen else [])
    rig.run()
    found = detections(rig)
    assert len(found) == 1
    assert int(found[0].labels[0].detected_at().timestamp() * 1000) == T0 + 9000  # type: ignore[union-attr]


def test_a_gap_in_the_video_breaks_the_row() -> None:
    rig = Rig(
        request(),
        scene=seen_between(T0 + 2000, T0 + 4000, person()),
        media_error=frozenset({T0 + 3000}),
    )
    rig.run()
    assert detections(rig) == []
    assert completion(rig).input_information.kinesis_video.processed_video_duration_millis == 20_000


def test_every_class_asked_for_is_reported_once_and_only_those() -> None:
    scene = seen_between(T0 + 1000, T0 + 15_000, person(), dog(), cardboard())
    rig = Rig(request(), labels={Label.PERSON, Label.PET}, scene=scene)
    rig.run()
    assert sorted(e.labels[0].name for e in detections(rig)) == ["PERSON", "PET"]
    assert {classes for _, classes, _ in rig.detector.calls} == {
        frozenset({Label.PERSON, Label.PET})
    }


def test_all_is_the_three_classes_and_a_package_without_a_box_has_no_crop() -> None:
    scene = seen_between(T0, T0 + 30_000, cardboard())
    rig = Rig(request(), labels={Label.ALL}, scene=scene)
    rig.run()
    (found,) = detections(rig)
    label = found.labels[0]
    assert label.name == "PACKAGE"
    assert label.cropped_image_uri is None and label.bounding_box is None
    assert [k.rsplit("/", 1)[-1] for k in rig.results.objects] == ["frame.jpg"]
    assert rig.detector.calls[0][1] == frozenset({Label.PERSON, Label.PET, Label.PACKAGE})


def test_outside_the_regions_of_interest_nothing_counts() -> None:
    door = RegionOfInterest(box=BoundingBox(left=0.0, top=0.0, width=0.3, height=1.0))
    beyond = person(box=Box(left=0.5, top=0.2, width=0.2, height=0.6))
    rig = Rig(request(), scene=seen_between(T0, T0 + 30_000, beyond), regions=(door,))
    rig.run()
    assert detections(rig) == []

    inside = person(box=Box(left=0.05, top=0.2, width=0.2, height=0.6))
    rig = Rig(request(), scene=seen_between(T0, T0 + 30_000, inside), regions=(door,))
    rig.run()
    assert len(detections(rig)) == 1


def test_below_the_cameras_confidence_nothing_counts() -> None:
    rig = Rig(request(), scene=seen_between(T0, T0 + 30_000, person(confidence=55.0)))
    rig.run()
    assert detections(rig) == []
    assert {confidence for _, _, confidence in rig.detector.calls} == {60.0}


def test_a_redelivered_session_publishes_the_same_message_again_and_looks_no_further() -> None:
    first = Rig(request(), scene=seen_between(T0 + 3000, T0 + 9000, person()))
    first.run()
    recorded = first.table.item.confirmed  # type: ignore[union-attr]

    again = Rig(request(), scene=seen_between(T0, T0 + 30_000, person()), confirmed=recorded)
    report = again.run()

    assert again.results.published[0] == recorded["PERSON"]
    assert len(detections(again)) == 1 and again.results.objects == {}
    assert again.video.calls == [] and again.detector.calls == []
    assert report.republished == 1 and report.confirmed == []
    # The video the first delivery analysed: up to the frame that confirmed the person.
    assert completion(again).input_information.kinesis_video.processed_video_duration_millis == (
        5000
    )
    assert again.table.item.status is ProcessorStatus.STOPPED  # type: ignore[union-attr]


def test_a_redelivered_session_looks_only_for_the_classes_not_yet_published() -> None:
    first = Rig(request(), scene=seen_between(T0, T0 + 30_000, person()))
    first.run()
    recorded = first.table.item.confirmed  # type: ignore[union-attr]

    scene = seen_between(T0, T0 + 30_000, person(), dog())
    again = Rig(request(), labels={Label.ALL}, scene=scene, confirmed=recorded)
    again.run()

    names = [e.labels[0].name for e in detections(again)]
    assert names == ["PERSON", "PET"]  # the person's message once, as recorded
    assert again.results.published[0] == recorded["PERSON"]
    assert {classes for _, classes, _ in again.detector.calls} == {
        frozenset({Label.PET, Label.PACKAGE}),
        frozenset({Label.PACKAGE}),
    }


def test_video_not_ingested_yet_is_asked_for_again_until_it_arrives() -> None:
    # In real time: the clock at the window's start, the video ingested 4 s after it happens.
    rig = Rig(
        request(duration_s=10),
        scene=seen_between(T0 + 7000, T0 + 8000, person()),
        now=T0,
        lag_ms=4000,
        labels={Label.PERSON, Label.PET},
    )
    report = rig.run()

    analysed = [ts for ts, _, _ in rig.detector.calls]
    assert analysed == [T0 + i * 1000 for i in range(11)]  # each image once, in order
    assert len(detections(rig)) == 1
    assert report.processed_ms == 10_000
    assert rig.clock.now >= T0 + 10_000 + 4000  # it waited for the last image to be ingested
    assert rig.clock.now < T0 + 10_000 + SETTINGS.grace_ms  # and not for the whole grace


def test_a_window_without_video_ends_with_a_no_video_message_after_the_grace() -> None:
    rig = Rig(request(duration_s=10), now=T0, video_to=T0 - 1)
    report = rig.run()
    assert report.status is ProcessorStatus.STOPPED and report.processed_ms == 0
    end = completion(rig)
    assert end.stream_processing_results is not None
    assert end.stream_processing_results.message == (
        f"No video in stream {CAMERA} from producer timestamp {T0} for 10 s."
    )
    assert end.input_information.kinesis_video.processed_video_duration_millis == 0
    assert rig.clock.now >= T0 + 10_000 + SETTINGS.grace_ms
    assert rig.detector.calls == []


def test_a_late_session_asks_for_each_image_once() -> None:
    rig = Rig(request(duration_s=60), video_to=T0 + 20_000)
    rig.run()
    asked = [ts for start, end, step in rig.video.calls for ts in range(start, end + 1, step)]
    assert sorted(asked) == [T0 + i * 1000 for i in range(61)]
    assert completion(rig).input_information.kinesis_video.processed_video_duration_millis == (
        21_000
    )


def test_video_that_gives_no_image_fails_the_session() -> None:
    window = request(duration_s=5)
    rig = Rig(window, media_error=frozenset(T0 + i * 1000 for i in range(6)))
    report = rig.run()
    assert report.outcome is Outcome.ENDED and report.status is ProcessorStatus.FAILED
    assert "could not be decoded" in report.message
    assert completion(rig).stream_processing_results.message == report.message  # type: ignore[union-attr]
    assert rig.table.item.status is ProcessorStatus.FAILED  # type: ignore[union-attr]


@pytest.mark.parametrize("status", [ProcessorStatus.STOPPED, ProcessorStatus.FAILED])
def test_a_session_that_ended_is_a_duplicate(status: ProcessorStatus) -> None:
    rig = Rig(request(), scene=seen_between(T0, T0 + 30_000, person()), status=status)
    report = rig.run()
    assert report.outcome is Outcome.DUPLICATE
    assert rig.log == [] and rig.video.calls == []


def test_another_session_of_the_camera_is_a_duplicate() -> None:
    rig = Rig(request(session_id="s-2"), scene=seen_between(T0, T0 + 30_000, person()))
    rig.table.item = rig.table.item.model_copy(update={"session": request(session_id="s-3")})  # type: ignore[union-attr]
    assert rig.run().outcome is Outcome.DUPLICATE
    assert rig.results.published == []


def test_a_session_superseded_while_it_works_publishes_nothing_more() -> None:
    rig = Rig(request(), scene=seen_between(T0, T0 + 30_000, person()))
    original = rig.table.record_confirmed

    def taken(camera_id: str, session_id: str, label: str, message: str) -> str | None:
        rig.table.item = rig.table.item.model_copy(update={"session": request(session_id="s-9")})  # type: ignore[union-attr]
        return original(camera_id, session_id, label, message)

    rig.table.record_confirmed = taken  # type: ignore[method-assign]
    report = rig.run()
    assert report.outcome is Outcome.DUPLICATE
    assert rig.results.published == []


def test_a_retryable_failure_leaves_the_session_to_another_delivery() -> None:
    rig = Rig(request(), camera_error=RetryableError("describe thing: ThrottlingException"))
    report = rig.run()
    assert report.outcome is Outcome.RETRY
    assert rig.log == ["renew"]  # nothing finished, nothing published


def test_on_the_last_delivery_a_retryable_failure_ends_the_session_failed() -> None:
    rig = Rig(request(), camera_error=RetryableError("describe thing: ThrottlingException"))
    report = rig.run(last_attempt=True)
    assert report.outcome is Outcome.ENDED and report.status is ProcessorStatus.FAILED
    assert rig.table.item.status is ProcessorStatus.FAILED  # type: ignore[union-attr]
    assert "last delivery" in (rig.table.item.message or "")  # type: ignore[union-attr]


def test_an_error_that_cannot_be_mended_ends_the_session_failed_with_its_reason() -> None:
    rig = Rig(request(), scene=seen_between(T0, T0 + 30_000, person()))

    def denied(image: bytes, classes: frozenset[Label], min_confidence: float) -> list[object]:
        raise AccessDeniedError("detect labels: AccessDeniedException: not allowed")

    rig.detector.labels = denied  # type: ignore[method-assign,assignment]
    report = rig.run()
    assert report.outcome is Outcome.ENDED and report.status is ProcessorStatus.FAILED
    end = completion(rig)
    assert "AccessDeniedException" in (end.stream_processing_results.message or "")  # type: ignore[union-attr]
    assert rig.table.item.status is ProcessorStatus.FAILED  # type: ignore[union-attr]


def test_a_cancelled_session_stops_without_finishing_anything() -> None:
    rig = Rig(request(), scene=seen_between(T0, T0 + 30_000, person()))
    original = rig.video.images

    def then_stop(
        stream_arn: str, start_ms: int, end_ms: int, interval_ms: int
    ) -> list[StreamImage]:
        rig.cancel.set(CancelReason.STOPPING)
        return original(stream_arn, start_ms, end_ms, interval_ms)

    rig.video.images = then_stop  # type: ignore[method-assign]
    report = rig.run()
    assert report.outcome is Outcome.ABANDONED
    assert rig.results.published == [] and "finish STOPPED" not in rig.log
    assert rig.table.item.status is ProcessorStatus.RUNNING  # type: ignore[union-attr]


def test_the_end_message_is_the_same_whichever_delivery_sends_it() -> None:
    ends = []
    for _ in range(2):
        rig = Rig(request(), scene=seen_between(T0, T0 + 30_000, dog()), labels={Label.PET})
        rig.run()
        ends.append(json.loads(rig.results.published[-1]))
    assert ends[0] == ends[1]
    assert ends[0]["eventNamespace"]["type"] == "STREAM_PROCESSING_COMPLETE"


# Searching every 3 s from the motion's moment, confirming every second (`SEARCHING`).


def analysed(rig: Rig) -> list[int]:
    return [ts - T0 for ts, _, _ in rig.detector.calls]


def test_a_quiet_window_is_searched_every_search_interval_from_the_motion() -> None:
    rig = Rig(request(duration_s=20, motion_ms=T0 + 2000), settings=SEARCHING)
    report = rig.run()
    assert analysed(rig) == [2000, 5000, 8000, 11_000, 14_000, 17_000, 20_000]
    assert detections(rig) == [] and report.status is ProcessorStatus.STOPPED
    assert {step for _, _, step in rig.video.calls} == {3000}


def test_a_sighting_is_confirmed_at_the_confirmation_interval() -> None:
    scene = seen_between(T0 + 9500, T0 + 30_000, person())
    rig = Rig(request(duration_s=20, motion_ms=T0 + 2000), scene=scene, settings=SEARCHING)
    report = rig.run()
    assert analysed(rig) == [2000, 5000, 8000, 11_000, 12_000]
    found = detections(rig)
    assert len(found) == 1
    assert int(found[0].labels[0].detected_at().timestamp() * 1000) == T0 + 12_000  # type: ignore[union-attr]
    assert report.processed_ms == 11_000  # from the first analysed image through the last


def test_a_broken_row_goes_back_to_searching_from_where_it_broke() -> None:
    scene = seen_between(T0 + 10_500, T0 + 11_500, person())
    rig = Rig(request(duration_s=20, motion_ms=T0 + 2000), scene=scene, settings=SEARCHING)
    rig.run()
    assert analysed(rig) == [2000, 5000, 8000, 11_000, 12_000, 15_000, 18_000]
    assert detections(rig) == []


def test_without_a_motion_moment_the_search_starts_at_the_window() -> None:
    rig = Rig(request(duration_s=10), settings=SEARCHING)
    rig.run()
    assert analysed(rig) == [0, 3000, 6000, 9000]


def test_a_late_session_drops_the_rest_of_a_page_when_it_starts_confirming() -> None:
    # Long after the window: GetImages answers a page at 3 s; a sighting at 8 s resamples at 1 s.
    scene = seen_between(T0 + 7000, T0 + 30_000, person())
    rig = Rig(request(duration_s=30, motion_ms=T0 + 2000), scene=scene, settings=SEARCHING)
    rig.run()
    assert analysed(rig) == [2000, 5000, 8000, 9000]
    assert rig.video.calls[1][0] == T0 + 9000 and rig.video.calls[1][2] == 1000


@pytest.mark.parametrize("arrives", range(0, 3000, 250))
def test_a_visit_as_long_as_a_search_and_the_confirmations_is_always_detected(
    arrives: int,
) -> None:
    # 3 s to be seen once, then one more image 1 s later: a 4 s visit, whatever its phase.
    start = T0 + 4000 + arrives
    rig = Rig(
        request(duration_s=20, motion_ms=T0 + 2000),
        scene=seen_between(start, start + 4000, person()),
        settings=SEARCHING,
    )
    rig.run()
    assert len(detections(rig)) == 1


def test_a_visit_shorter_than_a_search_may_be_missed() -> None:
    # The price of searching every 3 s: a 2 s visit between two searches is not seen.
    rig = Rig(
        request(duration_s=20, motion_ms=T0 + 2000),
        scene=seen_between(T0 + 5500, T0 + 7500, person()),
        settings=SEARCHING,
    )
    rig.run()
    assert detections(rig) == [] and analysed(rig)[:3] == [2000, 5000, 8000]
