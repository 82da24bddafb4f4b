import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device.messages import (
    MAX_PAYLOAD_BYTES,
    SCHEMA_VERSION,
    CameraTopic,
    HealthEvent,
    InvalidMessageError,
    MotionEvent,
    PipelineState,
    Presence,
    StatusEvent,
    TopicKind,
    decode,
    encode,
    subscription,
    topic,
)

NOW_MS = 1_795_000_000_000


def _motion(**overrides: object) -> MotionEvent:
    fields: dict[str, object] = {
        "camera_id": "porch",
        "sent_at_ms": NOW_MS,
        "sequence": 7,
        "producer_timestamp_ms": NOW_MS - 250,
        "score": 0.4,
    }
    fields.update(overrides)
    return MotionEvent.model_validate(fields)


def _raw(**overrides: object) -> bytes:
    """A motion payload with fields changed, without validating it first."""
    fields = json.loads(encode(_motion()))
    fields.update(overrides)
    return json.dumps(fields).encode()


def test_topics() -> None:
    assert topic("porch", TopicKind.MOTION) == "fleet/porch/motion"
    assert subscription(TopicKind.HEALTH) == "fleet/+/health"
    assert CameraTopic.parse("fleet/porch/status") == CameraTopic(
        camera_id="porch", kind=TopicKind.STATUS
    )


@pytest.mark.parametrize(
    "bad",
    ["fleet/porch", "other/porch/motion", "fleet//motion", "fleet/porch/video", "fleet/a/b/c"],
)
def test_bad_topics_are_refused(bad: str) -> None:
    with pytest.raises(InvalidMessageError, match="topic"):
        CameraTopic.parse(bad)


def test_every_event_round_trips_through_its_topic() -> None:
    events: list[MotionEvent | HealthEvent | StatusEvent] = [
        _motion(),
        HealthEvent(
            camera_id="porch",
            sent_at_ms=NOW_MS,
            pipeline=PipelineState.RUNNING,
            uptime_seconds=12.5,
            restarts=1,
            fps=15,
            bitrate_kbps=900,
            dropped_frames=0,
            last_fragment_ms=NOW_MS - 1000,
            motion_count=3,
            agent_cpu_percent=0.4,
            agent_rss_mb=31.2,
            versions={"agent": "0.1.0"},
        ),
        StatusEvent(
            camera_id="porch", sent_at_ms=NOW_MS, presence=Presence.OFFLINE, reason="last will"
        ),
    ]
    for event in events:
        wire = encode(event)
        assert json.loads(wire)["schema"] == SCHEMA_VERSION
        assert decode(topic("porch", TopicKind(event.type)), wire) == event


@pytest.mark.parametrize(
    ("topic_name", "payload", "reason"),
    [
        ("fleet/porch/motion", b"not json", "payload"),
        ("fleet/porch/motion", _raw(schema=2), "schema"),
        (
            "fleet/porch/motion",
            _raw(producer_timestamp_ms=1_795_000_000),
            "producer_timestamp_ms",
        ),
        ("fleet/porch/motion", _raw(score=1.5), "score"),
        ("fleet/porch/health", encode(_motion()), "a motion message on a health topic"),
        ("fleet/garage/motion", encode(_motion()), "names camera 'porch', topic 'garage'"),
        ("fleet/porch/motion", _raw(extra=1), "extra"),
        ("fleet/porch/motion", b"x" * (MAX_PAYLOAD_BYTES + 1), "exceeds"),
    ],
)
def test_bad_messages_are_refused_with_the_reason(
    topic_name: str, payload: bytes, reason: str
) -> None:
    with pytest.raises(InvalidMessageError, match=reason):
        decode(topic_name, payload)


@given(st.binary(max_size=300))
def test_decode_never_raises_anything_but_invalid_message(payload: bytes) -> None:
    with contextlib.suppress(InvalidMessageError):
        decode("fleet/porch/motion", payload)


def test_commands_are_the_cameras_own() -> None:
    from device.messages import Command, command_subscription, command_topic, parse_command

    assert command_subscription("porch") == "fleet/porch/commands/#"
    restart = command_topic("porch", Command.RESTART_PIPELINE)
    assert restart == "fleet/porch/commands/restart-pipeline"
    assert parse_command("porch", restart) is Command.RESTART_PIPELINE
    with pytest.raises(InvalidMessageError, match="unknown command"):
        parse_command("porch", "fleet/porch/commands/format-disk")
    with pytest.raises(InvalidMessageError, match="fleet/porch/commands/"):
        parse_command("porch", "fleet/garage/commands/restart-pipeline")
