"""The MQTT contract between camera hosts and the cloud side: topics and message schemas.

Defined once, here; the cloud side imports it. Every payload carries `schema` so a cloud side
can refuse (and count) messages of a version it does not understand, instead of misreading them.
Pure (the clock aside): no I/O, no boto3, no prefect.
"""

from __future__ import annotations

import functools
import time
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

SCHEMA_VERSION = 1
TOPIC_ROOT = "fleet"
MAX_PAYLOAD_BYTES = 16 * 1024
# Producer timestamps are milliseconds since the epoch; anything below this is seconds by mistake.
MIN_MILLISECONDS = 100_000_000_000


def now_ms() -> int:
    """Wall-clock milliseconds: the unit of every timestamp in the contract."""
    return time.time_ns() // 1_000_000


class InvalidMessageError(ValueError):
    """A message that does not fit the contract; the reason names what is wrong."""


class TopicKind(StrEnum):
    MOTION = "motion"
    HEALTH = "health"
    STATUS = "status"


class CameraTopic(BaseModel):
    model_config = ConfigDict(frozen=True)

    camera_id: str
    kind: TopicKind

    def __str__(self) -> str:
        return f"{TOPIC_ROOT}/{self.camera_id}/{self.kind.value}"

    @classmethod
    def parse(cls, topic: str) -> CameraTopic:
        parts = topic.split("/")
        if len(parts) != 3 or parts[0] != TOPIC_ROOT or not parts[1]:
            raise InvalidMessageError(f"topic {topic!r} is not {TOPIC_ROOT}/<camera>/<kind>")
        try:
            return cls(camera_id=parts[1], kind=TopicKind(parts[2]))
        except ValueError as err:
            raise InvalidMessageError(f"topic {topic!r}: unknown kind {parts[2]!r}") from err


def topic(camera_id: str, kind: TopicKind) -> str:
    return str(CameraTopic(camera_id=camera_id, kind=kind))


def subscription(kind: TopicKind) -> str:
    """The filter for one kind across the fleet."""
    return f"{TOPIC_ROOT}/+/{kind.value}"


class Command(StrEnum):
    """What the cloud may ask of a camera, on `fleet/<camera>/commands/<command>`."""

    REPORT_HEALTH = "report-health"
    RESTART_PIPELINE = "restart-pipeline"


def command_topic(camera_id: str, command: Command) -> str:
    return f"{TOPIC_ROOT}/{camera_id}/commands/{command.value}"


def command_subscription(camera_id: str) -> str:
    """The camera's own command filter: the IoT policy allows `fleet/<thing>/commands/*`."""
    return f"{TOPIC_ROOT}/{camera_id}/commands/#"


def parse_command(camera_id: str, topic_name: str) -> Command:
    prefix = f"{TOPIC_ROOT}/{camera_id}/commands/"
    if not topic_name.startswith(prefix):
        raise InvalidMessageError(f"topic {topic_name!r} is not one of {prefix}<command>")
    try:
        return Command(topic_name.removeprefix(prefix))
    except ValueError as err:
        known = ", ".join(c.value for c in Command)
        raise InvalidMessageError(f"{topic_name}: unknown command (known: {known})") from err


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = Field(1, alias="schema")  # SCHEMA_VERSION
    camera_id: str = Field(min_length=1, max_length=128)
    sent_at_ms: int = Field(ge=MIN_MILLISECONDS)


class MotionEvent(Message):
    """Published at the start of motion. The producer timestamp matches the video fragments."""

    type: Literal["motion"] = "motion"
    sequence: int = Field(ge=0)
    producer_timestamp_ms: int = Field(ge=MIN_MILLISECONDS)
    score: float = Field(ge=0, le=1)


class PipelineState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    STALLED = "stalled"
    FAILED = "failed"
    STOPPED = "stopped"


class HealthEvent(Message):
    type: Literal["health"] = "health"
    pipeline: PipelineState
    pipeline_error: str | None = Field(None, max_length=1024)
    uptime_seconds: float = Field(ge=0)
    restarts: int = Field(ge=0)
    fps: float = Field(ge=0)
    bitrate_kbps: float = Field(ge=0)
    dropped_frames: int = Field(ge=0)
    last_fragment_ms: int | None = Field(None, ge=MIN_MILLISECONDS)
    motion_count: int = Field(ge=0)
    agent_cpu_percent: float = Field(ge=0)
    agent_rss_mb: float = Field(ge=0)
    temperature_c: float | None = None
    versions: dict[str, str] = Field(default_factory=dict)


class Presence(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class StatusEvent(Message):
    """Retained on fleet/<camera>/status; the Last Will carries `offline`."""

    type: Literal["status"] = "status"
    presence: Presence
    reason: str | None = Field(None, max_length=256)


CameraEvent = Annotated[MotionEvent | HealthEvent | StatusEvent, Field(discriminator="type")]


@functools.cache
def _event_adapter() -> TypeAdapter[MotionEvent | HealthEvent | StatusEvent]:
    """Built on first use: a camera host only encodes, and the schema costs memory there."""
    return TypeAdapter(CameraEvent)


_KIND_TYPE = {TopicKind.MOTION: "motion", TopicKind.HEALTH: "health", TopicKind.STATUS: "status"}


def encode(event: MotionEvent | HealthEvent | StatusEvent) -> bytes:
    return event.model_dump_json(by_alias=True, exclude_none=True).encode()


def decode(topic_name: str, payload: bytes) -> MotionEvent | HealthEvent | StatusEvent:
    """Validate a message against its topic: size, schema, and that the camera is the topic's."""
    where = CameraTopic.parse(topic_name)
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise InvalidMessageError(
            f"{topic_name}: payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}"
        )
    try:
        event = _event_adapter().validate_json(payload)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "payload"
        raise InvalidMessageError(f"{topic_name}: {field}: {first['msg']}") from err
    if event.type != _KIND_TYPE[where.kind]:
        raise InvalidMessageError(f"{topic_name}: a {event.type} message on a {where.kind} topic")
    if event.camera_id != where.camera_id:
        raise InvalidMessageError(
            f"{topic_name}: message names camera {event.camera_id!r}, topic {where.camera_id!r}"
        )
    return event
