"""The bridge's fast path: every message sorted, counted and routed; nothing raises."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.messages import (
    MAX_PAYLOAD_BYTES,
    HealthEvent,
    PipelineState,
    Presence,
    StatusEvent,
    TopicKind,
    encode,
)
from services.bridge.intake import (
    CameraEvent,
    Dispatcher,
    Rejected,
    Rejection,
    classify,
)
from services.harness.log_limit import LogLimiter
from tests.support.messages import health_event

CAM = "front-door"
AT = 1_800_000_000_000
ONLINE = encode(StatusEvent(camera_id=CAM, sent_at_ms=AT, presence=Presence.ONLINE))
HEALTH = encode(health_event(camera_id=CAM, sent_at_ms=AT))


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("fleet/front-door", ONLINE, Rejection.TOPIC),
        ("fleet/front-door/commands", ONLINE, Rejection.TOPIC),
        ("other/front-door/status", ONLINE, Rejection.TOPIC),
        ("fleet/front-door/status", b"x" * (MAX_PAYLOAD_BYTES + 1), Rejection.OVERSIZED),
        ("fleet/front-door/status", b"{not json", Rejection.SCHEMA),
        ("fleet/front-door/status", json.dumps({"schema": 2}).encode(), Rejection.SCHEMA),
        ("fleet/front-door/status", ONLINE.replace(b'"schema":1', b'"schema":9'), Rejection.SCHEMA),
        ("fleet/front-door/health", ONLINE, Rejection.MISMATCH),
        ("fleet/garage/status", ONLINE, Rejection.MISMATCH),
    ],
)
def test_rejections_carry_their_reason(topic: str, payload: bytes, reason: Rejection) -> None:
    result = classify(topic, payload)
    assert isinstance(result, Rejected)
    assert result.reason is reason
    assert result.detail


def test_valid_messages_become_events() -> None:
    status = classify("fleet/front-door/status", ONLINE)
    assert isinstance(status, StatusEvent) and status.presence is Presence.ONLINE
    health = classify("fleet/front-door/health", HEALTH)
    assert isinstance(health, HealthEvent) and health.pipeline is PipelineState.RUNNING


@given(topic=st.text(max_size=60), payload=st.binary(max_size=2048))
def test_classify_never_raises(topic: str, payload: bytes) -> None:
    assert classify(topic, payload) is not None


def test_dispatcher_counts_routes_and_survives_a_failing_handler() -> None:
    seen: list[tuple[CameraEvent, int]] = []

    def failing(event: CameraEvent, received_ms: int) -> None:
        raise RuntimeError("boom")

    dispatcher = Dispatcher(
        {TopicKind.STATUS: [lambda e, t: seen.append((e, t))], TopicKind.HEALTH: [failing]}
    )
    dispatcher.handle("fleet/front-door/status", ONLINE, 7)
    dispatcher.handle("fleet/front-door/health", HEALTH, 8)  # the handler raises: contained
    dispatcher.handle("fleet/front-door/status", b"{", 9)
    dispatcher.handle("fleet/front-door/motion", b"x" * (MAX_PAYLOAD_BYTES + 1), 10)

    assert [t for _, t in seen] == [7]
    counters = dispatcher.counters.snapshot()
    assert counters["received"] == 4
    assert counters["valid"] == 2
    assert counters["handler_errors"] == 1
    assert counters["invalid"] == 2
    assert counters["invalid_schema"] == 1
    assert counters["invalid_oversized"] == 1


def test_a_kind_without_handlers_is_counted_and_ignored() -> None:
    dispatcher = Dispatcher({})
    dispatcher.handle("fleet/front-door/status", ONLINE, 1)
    assert dispatcher.counters.valid == 1


def test_a_flood_of_bad_messages_logs_a_bounded_number_of_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = [0.0]
    dispatcher = Dispatcher({}, LogLimiter(per_window=3, window_s=60), clock=lambda: clock[0])
    with caplog.at_level(logging.WARNING, logger="services.bridge.intake"):
        for _ in range(1000):
            dispatcher.handle("fleet/front-door/status", b"{", 1)
        assert len(caplog.records) == 3
        clock[0] = 61.0
        dispatcher.handle("fleet/front-door/status", b"{", 1)
    assert len(caplog.records) == 4
    assert "997 more like it not logged" in caplog.records[-1].getMessage()
    assert dispatcher.counters.invalid[Rejection.SCHEMA] == 1001


def test_log_limiter_keys_are_independent() -> None:
    limiter = LogLimiter(per_window=1, window_s=10)
    assert limiter.allow("a", 0.0) == (True, 0)
    assert limiter.allow("a", 1.0) == (False, 0)
    assert limiter.allow("b", 1.0) == (True, 0)
    assert limiter.allow("a", 10.0) == (True, 1)
