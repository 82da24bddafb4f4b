"""The bridge's motion path in one process: motion events in; StartStreamProcessor calls, Prefect
events and analyze-motion runs out. Rekognition, IoT, the clock, the events and the flow runs
are fakes; the thread pools, the session watcher and the flow runs' event loop are the module's
own. Time moves only when a test advances the clock."""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from prefect.exceptions import PrefectHTTPStatusError

from cloud.analysis.control import StreamProcessorSessions
from cloud.models import Analyzer, CameraSpec, ProcessorStatus
from cloud.naming import FleetNames
from cloud.registry import thing_attributes
from device.messages import MotionEvent
from flows.analyze import AnalysisRequest
from flows.events import (
    ANALYSIS_COALESCED,
    ANALYSIS_FAILED,
    ANALYSIS_REQUESTED,
    ANALYSIS_SKIPPED,
    CameraEventKind,
    P,
)
from services.bridge.motion_analysis import MotionAnalysis
from services.bridge.motion_gate import GateSettings, MotionGate

TIMEOUT_S = 10.0
QUIET_S = 0.3  # how long a test waits to see that something does not happen
FLEET = "camfleet"
NAMES = FleetNames(FLEET, "123456789012", "us-east-1")
T0_MS = 1_800_000_000_000
# The gate's defaults, spelt out: the times below follow from them.
GATE = GateSettings(preroll_ms=2_000, max_duration_s=30, tail_s=5, cooldown_s=10)
WINDOW_MS = GATE.max_duration_s * 1000
AFTER_WINDOW_AND_COOLDOWN_MS = WINDOW_MS - GATE.preroll_ms + GATE.cooldown_s * 1000
ACTIVE = {ProcessorStatus.STARTING, ProcessorStatus.RUNNING, ProcessorStatus.STOPPING}
COALESCED, SKIPPED, FAILED = ANALYSIS_COALESCED, ANALYSIS_SKIPPED, ANALYSIS_FAILED
REQUESTED = ANALYSIS_REQUESTED


class Activity:
    """One condition every fake notifies when it records something: tests wait on it."""

    def __init__(self) -> None:
        self.changed = threading.Condition()

    def wait_until(self, predicate: Callable[[], bool], timeout: float = TIMEOUT_S) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)


class FakeClock:
    """Monotonic and wall-clock time that pass only when the test advances them; waits and
    sleeps end once they have."""

    def __init__(self) -> None:
        self._elapsed = 0.0
        self._changed = threading.Condition()
        self._waits: list[float] = []  # the deadlines of the threads waiting

    def monotonic(self) -> float:
        with self._changed:
            return 1_000.0 + self._elapsed

    def now_ms(self) -> int:
        with self._changed:
            return T0_MS + round(self._elapsed * 1000)

    def advance(self, seconds: float) -> None:
        with self._changed:
            self._elapsed += seconds
            self._changed.notify_all()

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        with self._changed:
            deadline = self._elapsed + seconds
            self._waits.append(deadline)
            self._changed.notify_all()
            while not stop.is_set() and self._elapsed < deadline:
                self._changed.wait(0.01)  # setting `stop` notifies nobody: look again soon
            self._waits.remove(deadline)
        return stop.is_set()

    def wait_parked(self, threads: int) -> bool:
        """Wait until so many threads wait for a time still to come (they are between rounds)."""

        def parked() -> bool:
            return sum(deadline > self._elapsed for deadline in self._waits) >= threads

        with self._changed:
            return self._changed.wait_for(parked, TIMEOUT_S)

    async def sleep(self, seconds: float) -> None:
        deadline = self.monotonic() + seconds
        while self.monotonic() < deadline:
            await asyncio.sleep(0.005)


def client_error(operation: str, code: str, message: str) -> ClientError:
    """The error botocore raises for an AWS error response."""
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {
                "RequestId": str(uuid.uuid4()),
                "HostId": "",
                "HTTPStatusCode": 400,
                "HTTPHeaders": {"content-type": "application/x-amz-json-1.1"},
                "RetryAttempts": 0,
            },
        },
        operation,
    )


@dataclass(frozen=True)
class Start:
    processor: str
    producer_timestamp_ms: int
    max_duration_s: int
    session_id: str
    updated_at: datetime


@dataclass
class _Processor:
    status: ProcessorStatus = ProcessorStatus.STOPPED
    session_id: str | None = None
    updated_at: datetime = datetime(2027, 1, 15, tzinfo=UTC)


class _Pages:
    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self._pages = pages

    def paginate(self, **_: Any) -> list[dict[str, Any]]:
        return self._pages


class FakeRekognition:
    """The stream-processor calls the bridge makes, answered as Rekognition answers them: a
    start returns a new SessionId and leaves the processor STARTING (a ConnectedHome session
    never shows RUNNING) until the test ends the session (STOPPED); a start while a session is
    active is refused with ResourceInUseException; an unknown processor is
    ResourceNotFoundException."""

    def __init__(self, activity: Activity, processors: list[str]) -> None:
        self._activity = activity
        self._processors = {name: _Processor() for name in processors}
        self._updates = itertools.count(1)
        self._failures: dict[str, ClientError] = {}
        self._overlap = 0
        self._arrived = 0
        self.starts: list[Start] = []
        self.refused: list[str] = []
        self.describes: list[str] = []
        self.listings = 0
        self.in_flight = 0
        self.most_in_flight = 0

    # The API, with boto3's parameter names.
    def start_stream_processor(
        self,
        Name: str,  # noqa: N803
        StartSelector: dict[str, Any],  # noqa: N803
        StopSelector: dict[str, Any],  # noqa: N803
    ) -> dict[str, Any]:
        with self._activity.changed:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self._arrived += 1
            self._activity.changed.notify_all()
            if self._arrived <= self._overlap:  # held until so many are under way at once
                self._activity.changed.wait_for(self._overlapping, TIMEOUT_S)
            try:
                return self._start(Name, StartSelector, StopSelector)
            finally:
                self.in_flight -= 1
                self._activity.changed.notify_all()

    def _overlapping(self) -> bool:
        return self.most_in_flight >= self._overlap

    def _start(self, name: str, start: dict[str, Any], stop: dict[str, Any]) -> dict[str, Any]:
        processor = self._processors.get(name)
        if processor is None:
            raise client_error("StartStreamProcessor", "ResourceNotFoundException", name)
        if (failure := self._failures.pop(name, None)) is not None:
            raise failure
        if processor.status in ACTIVE:
            self.refused.append(name)
            raise client_error(
                "StartStreamProcessor",
                "ResourceInUseException",
                f"Stream processor {name} is in {processor.status} state.",
            )
        self._begin(processor)
        assert processor.session_id is not None
        self.starts.append(
            Start(
                name,
                start["KVSStreamStartSelector"]["ProducerTimestamp"],
                stop["MaxDurationInSeconds"],
                processor.session_id,
                processor.updated_at,
            )
        )
        return {"SessionId": processor.session_id}

    def _begin(self, processor: _Processor) -> None:
        processor.status = ProcessorStatus.STARTING
        processor.session_id = str(uuid.uuid4())
        processor.updated_at += timedelta(seconds=next(self._updates))

    def describe_stream_processor(self, Name: str) -> dict[str, Any]:  # noqa: N803
        with self._activity.changed:
            processor = self._processors.get(Name)
            if processor is None:
                raise client_error("DescribeStreamProcessor", "ResourceNotFoundException", Name)
            self.describes.append(Name)
            self._activity.changed.notify_all()
            return {
                "Name": Name,
                "StreamProcessorArn": f"arn:aws:rekognition:us-east-1:123456789012:streamprocessor/{Name}",
                "Status": processor.status.value,
                "LastUpdateTimestamp": processor.updated_at,
                "Input": {
                    "KinesisVideoStream": {
                        "Arn": f"arn:aws:kinesisvideo:us-east-1:123456789012:stream/{Name}/1"
                    }
                },
                "Output": {
                    "S3Destination": {"Bucket": "camfleet-results", "KeyPrefix": "cameras/"}
                },
                "NotificationChannel": {
                    "SNSTopicArn": "arn:aws:sns:us-east-1:123456789012:camfleet"
                },
                "RoleArn": f"arn:aws:iam::123456789012:role/{Name}",
                "Settings": {"ConnectedHome": {"Labels": ["PERSON"], "MinConfidence": 50.0}},
            }

    def get_paginator(self, operation: str) -> _Pages:
        assert operation == "list_stream_processors"
        with self._activity.changed:
            self.listings += 1
            self._activity.changed.notify_all()
            listing = [{"Name": n, "Status": p.status.value} for n, p in self._processors.items()]
        return _Pages(
            [{"StreamProcessors": listing[i : i + 100]} for i in range(0, len(listing), 100)]
        )

    # What the test does to the service.
    def end_session(self, name: str) -> str:
        """The session reaches its MaxDurationInSeconds: STOPPED. Its id."""
        with self._activity.changed:
            processor = self._processors[name]
            assert processor.status in ACTIVE and processor.session_id is not None
            processor.status = ProcessorStatus.STOPPED
            processor.updated_at += timedelta(seconds=next(self._updates))
            return processor.session_id

    def start_elsewhere(self, name: str) -> None:
        """A session started by someone else (the analyze-motion flow run from the UI)."""
        with self._activity.changed:
            self._begin(self._processors[name])

    def fail_next_start(self, name: str, code: str, message: str) -> None:
        with self._activity.changed:
            self._failures[name] = client_error("StartStreamProcessor", code, message)

    def hold_starts_until_overlapping(self, count: int) -> None:
        """The first `count` starts answer only once `count` are under way at once."""
        with self._activity.changed:
            self._overlap = count
            self._activity.changed.notify_all()


class FakeIot:
    """The fleet's things: ListThings by attribute (the settings refresh) and DescribeThing."""

    def __init__(self, things: dict[str, dict[str, str]], unlisted: frozenset[str] = frozenset()):
        self._things = things
        self._unlisted = unlisted  # registered since the listing: DescribeThing finds them

    def get_paginator(self, operation: str) -> _Pages:
        assert operation == "list_things"
        things = [
            {"thingName": name, "attributes": attributes}
            for name, attributes in self._things.items()
            if name not in self._unlisted
        ]
        return _Pages([{"things": things}])

    def describe_thing(self, thingName: str) -> dict[str, Any]:  # noqa: N803
        if thingName not in self._things:
            raise client_error("DescribeThing", "ResourceNotFoundException", thingName)
        return {
            "thingName": thingName,
            "thingArn": f"arn:aws:iot:us-east-1:123456789012:thing/{thingName}",
            "attributes": self._things[thingName],
            "version": 1,
        }

    def list_thing_principals(self, thingName: str) -> dict[str, Any]:  # noqa: N803
        return {"principals": []}


class FakeClients:
    def __init__(self, rekognition: FakeRekognition, iot: FakeIot) -> None:
        self.rekognition = rekognition
        self.iot = iot


class FakeRuntime:
    """A stream-processor fleet's runtime, its calls made through the fake clients."""

    analyzer = Analyzer.STREAM_PROCESSOR

    def __init__(self, clients: FakeClients) -> None:
        self.clients = clients
        self.names = NAMES
        self._sessions = StreamProcessorSessions(clients, NAMES)  # type: ignore[arg-type]

    def sessions(self, max_age_s: float = 5.0) -> StreamProcessorSessions:
        return self._sessions

    @property
    def known_analyzer(self) -> Analyzer:
        return self.analyzer


class Events:
    """The Prefect events emitted, as (name, camera, payload on the wire)."""

    def __init__(self, activity: Activity) -> None:
        self._activity = activity
        self.emitted: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, kind: CameraEventKind[P], camera_id: str, payload: P) -> None:
        with self._activity.changed:
            self.emitted.append((kind.name, camera_id, payload.wire()))
            self._activity.changed.notify_all()

    def named(self, kind: CameraEventKind[Any]) -> list[tuple[str, dict[str, Any]]]:
        return [(camera, payload) for name, camera, payload in self.emitted if name == kind.name]


def _service_unavailable() -> PrefectHTTPStatusError:
    request = httpx.Request("POST", "http://127.0.0.1:4200/api/flow_runs/")
    response = httpx.Response(503, request=request)
    return PrefectHTTPStatusError.from_httpx_error(
        httpx.HTTPStatusError("503 Service Unavailable", request=request, response=response)
    )


class FlowRuns:
    """The analyze-motion runs created; each follows its session until the test ends it."""

    def __init__(self, activity: Activity) -> None:
        self._activity = activity
        self.created: list[AnalysisRequest] = []
        self.finished: list[str] = []
        self.unavailable: list[AnalysisRequest] = []
        self._running: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}
        self._to_refuse = 0

    async def __call__(self, request: AnalysisRequest) -> None:
        assert request.session_id is not None
        ended = asyncio.Event()
        with self._activity.changed:
            if self._to_refuse:
                self._to_refuse -= 1
                self.unavailable.append(request)
                self._activity.changed.notify_all()
                raise _service_unavailable()
            self.created.append(request)
            self._running[request.session_id] = (asyncio.get_running_loop(), ended)
            self._activity.changed.notify_all()
        await ended.wait()
        with self._activity.changed:
            self.finished.append(request.session_id)
            self._activity.changed.notify_all()

    def refuse(self, count: int) -> None:
        """The server answers the next `count` creations with 503 (a busy server does)."""
        with self._activity.changed:
            self._to_refuse = count

    def end(self, session_id: str) -> None:
        with self._activity.changed:
            loop, ended = self._running.pop(session_id)
        loop.call_soon_threadsafe(ended.set)

    def end_all(self) -> None:
        with self._activity.changed:
            running = list(self._running)
        for session_id in running:
            self.end(session_id)


@dataclass
class Bridge:
    analysis: MotionAnalysis
    clock: FakeClock
    rekognition: FakeRekognition
    events: Events
    runs: FlowRuns
    activity: Activity

    def motion(self, camera: str, sequence: int, at_ms: int) -> None:
        event = MotionEvent(
            camera_id=camera,
            sent_at_ms=at_ms,
            sequence=sequence,
            producer_timestamp_ms=at_ms,
            score=0.4,
        )
        self.analysis(event, self.clock.now_ms())

    def wait_until(self, predicate: Callable[[], bool], what: str) -> None:
        assert self.activity.wait_until(predicate), f"timed out waiting for {what}"

    def idle(self) -> None:
        """The session watcher and the settings refresh wait for time to pass."""
        assert self.clock.wait_parked(2), "the background threads never settled"

    def stays_false(self, predicate: Callable[[], bool]) -> bool:
        return not self.activity.wait_until(predicate, QUIET_S)

    def advance_until(self, predicate: Callable[[], bool], what: str) -> None:
        """Let time pass a second at a time (the watcher's period) until `predicate` holds."""
        for _ in range(int(TIMEOUT_S / 0.05)):
            self.clock.advance(1.0)
            if self.activity.wait_until(predicate, 0.05):
                return
        raise AssertionError(f"time passed, but never {what}")

    def settle(self) -> None:
        """Let time pass, ending each flow run once it is created, until every session's run
        has ended: nothing is left on the flow runs' event loop."""

        def settled() -> bool:
            finished, starts = len(self.runs.finished), len(self.rekognition.starts)
            return self.rekognition.in_flight == 0 and finished == starts

        for _ in range(int(TIMEOUT_S / 0.05)):
            self.runs.end_all()
            if self.activity.wait_until(settled, 0.05):
                return
            self.clock.advance(1.0)
        raise AssertionError("the flow runs never all ended")


def cameras(count: int) -> list[str]:
    return [f"cam-{n:03d}" for n in range(count)]


@pytest.fixture
def make_bridge() -> Iterator[Callable[..., Bridge]]:
    made: list[Bridge] = []

    def make(
        camera_ids: list[str],
        *,
        max_duration_s: int = GATE.max_duration_s,
        unlisted: frozenset[str] = frozenset(),
    ) -> Bridge:
        activity = Activity()
        rekognition = FakeRekognition(activity, [NAMES.processor(c) for c in camera_ids])
        spec = {c: CameraSpec(camera_id=c, max_duration_seconds=max_duration_s) for c in camera_ids}
        iot = FakeIot({c: thing_attributes(spec[c], FLEET) for c in camera_ids}, unlisted)
        clock, events, runs = FakeClock(), Events(activity), FlowRuns(activity)
        analysis = MotionAnalysis(
            FakeRuntime(FakeClients(rekognition, iot)),  # type: ignore[arg-type]
            MotionGate(GATE),
            clock=clock,
            emit=events,
            run_analysis=runs,
        )
        made.append(Bridge(analysis, clock, rekognition, events, runs, activity))
        return made[-1]

    yield make
    for bridge in made:
        bridge.rekognition.hold_starts_until_overlapping(0)
        bridge.settle()
        bridge.analysis.close()


def test_a_storm_starts_each_camera_once_and_coalesces_the_rest(
    make_bridge: Callable[..., Bridge],
) -> None:
    fleet, per_camera = cameras(40), 10
    bridge = make_bridge(fleet)

    def deliver(share: list[str]) -> None:  # cameras interleaved, each camera's motion in order
        for sequence in range(per_camera):
            for camera in share:
                bridge.motion(camera, sequence, T0_MS + sequence * 500)

    senders = [threading.Thread(target=deliver, args=(fleet[i::4],)) for i in range(4)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(TIMEOUT_S)
        assert not sender.is_alive()
    coalesced = len(fleet) * (per_camera - 1)
    bridge.wait_until(lambda: len(bridge.events.named(COALESCED)) == coalesced, "the coalesced")
    bridge.wait_until(lambda: len(bridge.rekognition.starts) == len(fleet), "the starts")

    starts = bridge.rekognition.starts
    assert sorted(s.processor for s in starts) == sorted(NAMES.processor(c) for c in fleet)
    assert {(s.producer_timestamp_ms, s.max_duration_s) for s in starts} == {
        (T0_MS - GATE.preroll_ms, GATE.max_duration_s)
    }
    assert bridge.rekognition.refused == []
    reported = bridge.events.named(COALESCED)
    assert Counter(camera for camera, _ in reported) == dict.fromkeys(fleet, per_camera - 1)
    assert {payload["reason"] for _, payload in reported} == {"coalesced"}
    assert bridge.events.named(SKIPPED) == [] and bridge.events.named(FAILED) == []

    bridge.settle()  # each session gets its flow run (a few at once: ended as they come)
    by_session = {s.session_id: s for s in starts}
    assert sorted(r.session_id or "" for r in bridge.runs.created) == sorted(by_session)
    for run in bridge.runs.created:
        assert run.session_id is not None
        start = by_session[run.session_id]
        assert NAMES.processor(run.camera_id) == start.processor and not run.follow_up
        assert run.session_updated_at == start.updated_at
        assert run.started_at_ms is not None and T0_MS <= run.started_at_ms <= bridge.clock.now_ms()


def test_a_burst_starts_every_camera_once_with_the_starts_under_way_together(
    make_bridge: Callable[..., Bridge],
) -> None:
    fleet = cameras(64)
    bridge = make_bridge(fleet)
    # No start answers before 16 are under way: starts that queued behind each other never get
    # there and the test times out.
    bridge.rekognition.hold_starts_until_overlapping(16)
    ready = threading.Barrier(8)

    def deliver(share: list[str]) -> None:
        ready.wait(TIMEOUT_S)
        for camera in share:
            bridge.motion(camera, 0, T0_MS)

    senders = [threading.Thread(target=deliver, args=(fleet[i::8],)) for i in range(8)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(TIMEOUT_S)
        assert not sender.is_alive()
    bridge.wait_until(lambda: len(bridge.rekognition.starts) == len(fleet), "every start")

    assert Counter(s.processor for s in bridge.rekognition.starts) == {
        NAMES.processor(c): 1 for c in fleet
    }
    assert bridge.rekognition.most_in_flight >= 16
    assert bridge.rekognition.refused == []
    # Each start is told at once, naming its motion; nothing else is.
    bridge.wait_until(lambda: len(bridge.events.emitted) >= len(fleet), "each start's event")
    requested = bridge.events.named(REQUESTED)
    assert sorted(camera for camera, _ in requested) == sorted(fleet)
    assert {(p["sequence"], p["producer_timestamp_ms"]) for _, p in requested} == {(0, T0_MS)}
    assert len(bridge.events.emitted) == len(fleet)
    # The flow runs wait until the starts pause, however long the clock stands still.
    bridge.wait_until(lambda: len(bridge.rekognition.describes) == len(fleet), "the describes")
    assert bridge.stays_false(lambda: bool(bridge.runs.created))
    bridge.advance_until(lambda: bool(bridge.runs.created), "a flow run was created")


@pytest.mark.parametrize("first", ["watcher", "flow run"])
def test_motion_during_a_session_gets_one_follow_up_whoever_reports_the_end_first(
    make_bridge: Callable[..., Bridge], first: str
) -> None:
    bridge = make_bridge(["porch"])
    rekognition, runs = bridge.rekognition, bridge.runs
    processor = NAMES.processor("porch")
    end_ms = T0_MS - GATE.preroll_ms + WINDOW_MS
    bridge.motion("porch", 0, T0_MS)
    bridge.wait_until(lambda: len(rekognition.starts) == 1, "the start")
    bridge.motion("porch", 1, T0_MS + 5_000)  # inside the window: coalesced
    late = end_ms - GATE.tail_s * 1000
    bridge.motion("porch", 2, late)  # in its tail: a follow-up is wanted
    bridge.motion("porch", 3, late + 1_000)  # still one follow-up
    bridge.wait_until(lambda: len(bridge.events.named(COALESCED)) == 3, "the verdicts")
    assert [p["reason"] for _, p in bridge.events.named(COALESCED)] == [
        "coalesced",
        "follow-up",
        "follow-up",
    ]
    bridge.advance_until(lambda: len(runs.created) == 1, "the session's flow run was created")
    bridge.idle()
    listings = rekognition.listings

    first_session = rekognition.end_session(processor)
    if first == "watcher":
        bridge.advance_until(lambda: len(rekognition.starts) == 2, "the follow-up started")
    else:
        runs.end(first_session)
        bridge.wait_until(lambda: len(rekognition.starts) == 2, "the follow-up")
        assert rekognition.listings == listings  # the watcher had no part in it
    follow_up = rekognition.starts[1]
    assert (follow_up.producer_timestamp_ms, follow_up.max_duration_s) == (end_ms, 30)

    # The other one reports the same end: it is ignored.
    if first == "watcher":
        runs.end(first_session)
        assert bridge.stays_false(lambda: len(rekognition.starts) > 2)
    else:
        seen = rekognition.listings
        bridge.advance_until(lambda: rekognition.listings >= seen + 2, "two more listings")
    bridge.advance_until(lambda: len(runs.created) == 2, "the follow-up's flow run was created")
    run = runs.created[1]
    assert run.follow_up and run.session_id == follow_up.session_id and run.start_ms == end_ms
    # The follow-up is the camera's session: motion inside it is coalesced, not started.
    bridge.motion("porch", 4, end_ms + 1_000)
    bridge.wait_until(lambda: len(bridge.events.named(COALESCED)) == 4, "the verdict")
    assert bridge.events.named(COALESCED)[-1][1]["reason"] == "coalesced"
    assert len(rekognition.starts) == 2 and rekognition.refused == []


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "AccessDeniedException",
            "User is not authorized to perform: rekognition:StartStreamProcessor",
        ),
        ("ThrottlingException", "Rate exceeded"),  # what is left once botocore's retries are spent
    ],
)
def test_a_failed_start_is_reported_and_the_next_motion_starts_again(
    make_bridge: Callable[..., Bridge], code: str, message: str
) -> None:
    bridge = make_bridge(["porch"])
    processor = NAMES.processor("porch")
    bridge.rekognition.fail_next_start(processor, code, message)
    bridge.motion("porch", 0, T0_MS)
    bridge.wait_until(lambda: bool(bridge.events.named(FAILED)), "the failure")
    ((camera, payload),) = bridge.events.named(FAILED)
    assert camera == "porch" and code in payload["message"] and processor in payload["message"]
    assert bridge.rekognition.starts == []

    # Freed: the next motion (past the failed window and the cooldown) starts a session.
    bridge.motion("porch", 1, T0_MS + AFTER_WINDOW_AND_COOLDOWN_MS)
    bridge.wait_until(lambda: len(bridge.rekognition.starts) == 1, "the next start")
    assert bridge.events.named(FAILED) == [(camera, payload)]
    bridge.advance_until(lambda: len(bridge.runs.created) == 1, "its flow run was created")


def test_a_session_started_elsewhere_is_coalesced_and_the_camera_freed(
    make_bridge: Callable[..., Bridge],
) -> None:
    bridge = make_bridge(["porch"])
    processor = NAMES.processor("porch")
    bridge.rekognition.start_elsewhere(processor)
    bridge.motion("porch", 0, T0_MS)
    bridge.wait_until(lambda: bool(bridge.events.named(COALESCED)), "the verdict")
    # The motion is named, so that it is accounted for (another replica may hold the session).
    assert bridge.events.named(COALESCED) == [
        (
            "porch",
            {"reason": "session already running", "sequence": 0, "producer_timestamp_ms": T0_MS},
        )
    ]
    assert bridge.rekognition.refused == [processor] and bridge.rekognition.starts == []

    bridge.rekognition.end_session(processor)
    bridge.motion("porch", 1, T0_MS + AFTER_WINDOW_AND_COOLDOWN_MS)
    bridge.wait_until(lambda: len(bridge.rekognition.starts) == 1, "the next start")


def test_a_camera_registered_since_the_settings_were_read_gets_its_own_session_length(
    make_bridge: Callable[..., Bridge],
) -> None:
    bridge = make_bridge(["porch"], max_duration_s=10, unlisted=frozenset({"porch"}))
    bridge.motion("porch", 0, T0_MS)
    bridge.wait_until(lambda: len(bridge.rekognition.starts) == 1, "the start")
    assert bridge.rekognition.starts[0].max_duration_s == 10
    # The gate knows the shorter window: motion in its tail asks for a follow-up, as long.
    end_ms = T0_MS - GATE.preroll_ms + 10_000
    bridge.motion("porch", 1, end_ms - 1_000)
    bridge.wait_until(lambda: bool(bridge.events.named(COALESCED)), "the verdict")
    assert bridge.events.named(COALESCED)[0][1]["reason"] == "follow-up"
    bridge.rekognition.end_session(NAMES.processor("porch"))
    bridge.advance_until(lambda: len(bridge.rekognition.starts) == 2, "the follow-up started")
    follow_up = bridge.rekognition.starts[1]
    assert (follow_up.producer_timestamp_ms, follow_up.max_duration_s) == (end_ms, 10)


def test_a_flow_run_the_server_could_not_create_is_created_later(
    make_bridge: Callable[..., Bridge],
) -> None:
    bridge = make_bridge(["porch"])
    bridge.runs.refuse(1)
    bridge.motion("porch", 0, T0_MS)
    bridge.advance_until(lambda: len(bridge.runs.unavailable) == 1, "a creation was refused")
    bridge.advance_until(lambda: len(bridge.runs.created) == 1, "the run was created")
    (start,) = bridge.rekognition.starts
    assert bridge.runs.created[0].session_id == start.session_id
