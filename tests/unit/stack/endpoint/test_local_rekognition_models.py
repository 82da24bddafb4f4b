"""Stream processor state without HTTP: pagination, sessions, restore."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from stack.endpoint.exceptions import (
    InvalidPaginationTokenException,
    LimitExceededException,
    ResourceInUseException,
)
from stack.endpoint.rekognition.models import ProcessorStatus, RekognitionState
from stack.endpoint.rekognition.sessions import (
    SessionContext,
    SessionEndCallback,
    SessionEndStatus,
    SessionOutcome,
)

ACCOUNT, REGION = "123456789012", "us-east-1"
STREAM = f"arn:aws:kinesisvideo:{REGION}:{ACCOUNT}:stream/cam/1"


class ManualRunner:
    """A session runner the test ends by hand."""

    def __init__(self) -> None:
        self.started: dict[str, SessionEndCallback] = {}
        self.stopped: list[str] = []
        self.contexts: list[SessionContext] = []

    def start(self, context: SessionContext, on_end: SessionEndCallback) -> None:
        self.contexts.append(context)
        self.started[context.session_id] = on_end

    def stop(self, session_id: str) -> None:
        self.stopped.append(session_id)

    def stop_all(self) -> None:
        self.stopped.extend(self.started)


def request(name: str) -> dict[str, Any]:
    return {
        "Name": name,
        "Input": {"KinesisVideoStream": {"Arn": STREAM}},
        "Output": {"S3Destination": {"Bucket": "frames", "KeyPrefix": "p"}},
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/r",
        "Settings": {"ConnectedHome": {"Labels": ["ALL"]}},
        "NotificationChannel": {"SNSTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:t"},
    }


SELECTORS = (
    {"KVSStreamStartSelector": {"ProducerTimestamp": 1_767_225_600_000}},
    {"MaxDurationInSeconds": 10},
)


def test_pagination_covers_everything_once() -> None:
    state = RekognitionState(lambda arn: True, processor_quota=100)
    names = [f"p{i:02d}" for i in range(7)]
    for name in names:
        state.create_processor(ACCOUNT, REGION, request(name))
    seen, token = [], None
    while True:
        page, token = state.list_processors(ACCOUNT, REGION, token, 3)
        seen += [item["Name"] for item in page]
        if token is None:
            break
    assert seen == names
    assert state.list_processors(ACCOUNT, "eu-west-1", None, 3) == ([], None)
    with pytest.raises(InvalidPaginationTokenException):
        state.list_processors(ACCOUNT, REGION, "garbage", 3)


def test_runner_ends_session_and_late_callbacks_are_ignored() -> None:
    runner = ManualRunner()
    state = RekognitionState(lambda arn: True, runner=runner)
    state.create_processor(ACCOUNT, REGION, request("cam"))
    first = state.start_processor(ACCOUNT, REGION, "cam", *SELECTORS)
    assert runner.contexts[0].producer_timestamp_ms == 1_767_225_600_000
    with pytest.raises(ResourceInUseException):
        state.start_processor(ACCOUNT, REGION, "cam", *SELECTORS)
    state.stop_processor(ACCOUNT, REGION, "cam")
    assert runner.stopped == [first]
    second = state.start_processor(ACCOUNT, REGION, "cam", *SELECTORS)
    assert first is not None and second is not None
    runner.started[first](first, SessionOutcome())  # stale: ignored
    assert state.describe_processor(ACCOUNT, REGION, "cam")["Status"] == "STARTING"
    runner.started[second](second, SessionOutcome(SessionEndStatus.FAILED, "no video"))
    described = state.describe_processor(ACCOUNT, REGION, "cam")
    assert (described["Status"], described["StatusMessage"]) == ("FAILED", "no video")


def test_restore_brings_active_sessions_back_stopped() -> None:
    state = RekognitionState(lambda arn: True, runner=ManualRunner())
    state.create_processor(ACCOUNT, REGION, request("cam"))
    state.start_processor(ACCOUNT, REGION, "cam", *SELECTORS)
    snapshot = state.snapshot()
    restored = RekognitionState(lambda arn: True, runner=ManualRunner())
    restored.restore(snapshot)
    processor = restored.backend(ACCOUNT, REGION).processors["cam"]
    assert (processor.status, processor.session_id) == (ProcessorStatus.STOPPED, None)


def test_quota_holds_under_concurrent_creates() -> None:
    state = RekognitionState(lambda arn: True, processor_quota=5)
    errors: list[Exception] = []

    def create(index: int) -> None:
        try:
            state.create_processor(ACCOUNT, REGION, request(f"c{index}"))
        except LimitExceededException as err:
            errors.append(err)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert state.processor_count(ACCOUNT, REGION) == 5
    assert len(errors) == 7
