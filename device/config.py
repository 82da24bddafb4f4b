"""The agent's configuration: `agent.toml` from the registration bundle, overridable from the
environment (`FLEET_AGENT_<SECTION>__<FIELD>`). Written by the cloud side, read by the agent, so
this model is the contract between them. Relative paths are relative to the file's directory.

The environment overlay is done here rather than with pydantic-settings, which the cloud side
uses: on a camera host that would cost megabytes for a twenty-line job. pydantic still validates
everything, and an unknown FLEET_AGENT_ variable is an error, not ignored.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

ENV_PREFIX = "FLEET_AGENT_"
ENV_NESTING = "__"


class AgentConfigError(ValueError):
    """The agent cannot start: the message names the setting and where it came from."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MqttConfig(Section):
    endpoint: str = Field(description="AWS IoT data endpoint (iot:Data-ATS), or the local broker.")
    port: int = Field(8883, ge=1, le=65535)
    client_id: str = Field(description="Must be the thing name: the IoT policy requires it.")
    cert: Path = Path("certificate.pem.crt")
    key: Path = Path("private.pem.key")
    ca: Path = Path("root-ca.pem")
    keep_alive_seconds: int = Field(30, ge=5, le=1200)
    # Bounded, fully jittered reconnect delays: back within 1.5 s of a broker restart (0.75 s on
    # average). For a fleet of thousands, raise the maximum so that an
    # outage's end does not bring every camera back in the same two seconds.
    reconnect_min_seconds: float = Field(0.5, gt=0, le=60)
    reconnect_max_seconds: float = Field(1.5, gt=0, le=600)
    connect_timeout_seconds: float = Field(10, gt=0, le=120)
    motion_queue_limit: int = Field(1000, ge=1, le=100_000)

    @model_validator(mode="after")
    def _delays(self) -> MqttConfig:
        if self.reconnect_max_seconds < self.reconnect_min_seconds:
            raise ValueError("mqtt.reconnect_max_seconds must be >= mqtt.reconnect_min_seconds")
        return self


class AwsConfig(Section):
    region: str
    credentials_endpoint: str = Field(description="AWS IoT credential provider endpoint.")
    role_alias: str


class SourceKind(StrEnum):
    RTSP = "rtsp"
    V4L2 = "v4l2"
    FILE = "file"
    TEST = "test"


# videotestsrc's patterns (GStreamer 1.22), by nick.
# fmt: off
TestPattern = Literal[
    "smpte", "snow", "black", "white", "red", "green", "blue", "checkers-1", "checkers-2",
    "checkers-4", "checkers-8", "circular", "blink", "smpte75", "zone-plate", "gamut",
    "chroma-zone-plate", "solid-color", "ball", "smpte100", "bar", "pinwheel", "spokes",
    "gradient", "colors", "smpte-rp-219",
]
# fmt: on


class SourceConfig(Section):
    kind: SourceKind = SourceKind.TEST
    uri: str | None = Field(None, description="rtsp://host/path, without credentials.")
    credentials_file: Path | None = Field(
        None, description="RTSP `user:password` in a file only its owner can read."
    )
    # From the environment (FLEET_AGENT_SOURCE__USERNAME / __PASSWORD), never from agent.toml's
    # command line: passed to the GStreamer child over a pipe, never in argv or the log.
    username: str | None = None
    password: SecretStr | None = None
    device: Path | None = None
    path: Path | None = None
    width: int = Field(640, ge=16, le=7680)
    height: int = Field(480, ge=16, le=4320)
    fps: int = Field(15, ge=1, le=60)
    bitrate_kbps: int = Field(1000, ge=64, le=50000)
    keyframe_interval: int = Field(30, ge=1, le=600)
    # `test` source only. The default is static (SMPTE bars without the `smpte` pattern's noise
    # corner, which motioncells sees as motion): an idle simulated camera reports no motion.
    pattern: TestPattern = "smpte100"
    # `rtsp` only: rtspsrc's jitter buffer. GStreamer's default (2000 ms) delays every frame.
    rtsp_latency_ms: int = Field(200, ge=0, le=10_000)

    @model_validator(mode="after")
    def _needs(self) -> SourceConfig:
        required = {SourceKind.RTSP: "uri", SourceKind.V4L2: "device", SourceKind.FILE: "path"}
        field = required.get(self.kind)
        if field is not None and getattr(self, field) is None:
            raise ValueError(f"source kind {self.kind.value!r} needs source.{field}")
        if self.uri is not None and "@" in self.uri.split("//", 1)[-1].split("/", 1)[0]:
            raise ValueError("source.uri must not carry credentials; use source.credentials_file")
        return self


class SinkKind(StrEnum):
    KVS = "kvssink"
    LOCAL = "local"


class SinkConfig(Section):
    kind: SinkKind = SinkKind.KVS
    stream_name: str
    fragment_dir: Path | None = Field(None, description="Local stack: the local fragment store.")
    fragment_seconds: int = Field(2, ge=1, le=60)
    # The local store prunes itself, as a KVS stream's retention does.
    local_retention_minutes: int = Field(120, ge=1, le=7 * 24 * 60)
    storage_size_mb: int = Field(128, ge=16, le=4096)

    @model_validator(mode="after")
    def _needs(self) -> SinkConfig:
        if self.kind is SinkKind.LOCAL and self.fragment_dir is None:
            raise ValueError("sink kind 'local' needs sink.fragment_dir")
        return self


class MotionConfig(Section):
    """The motion branch: a downscaled copy of the video through `motioncells`."""

    enabled: bool = True
    width: int = Field(320, ge=16, le=1920)
    height: int = Field(240, ge=16, le=1080)
    fps: int = Field(5, ge=1, le=30)
    sensitivity: float = Field(0.5, ge=0, le=1)
    gap_seconds: int = Field(5, ge=1, le=60, description="Quiet time that ends a motion.")
    min_area: float = Field(
        0.01, gt=0, le=1, description="Fraction of the picture's cells that must move."
    )
    min_frames: int = Field(1, ge=1, le=60, description="Motion frames before it counts.")


class PipelineConfig(Section):
    """Supervision of the GStreamer child."""

    gst_launch: str = "gst-launch-1.0"
    gst_inspect: str = "gst-inspect-1.0"
    # Python with GStreamer's bindings (Debian's python3-gi): runs the child when an RTSP
    # password must reach rtspsrc without appearing on a command line.
    gi_python: str = "/usr/bin/python3"
    stall_seconds: float = Field(15, ge=2, le=600, description="No buffers or fragments: stalled.")
    restart_min_seconds: float = Field(1, gt=0, le=60)
    restart_max_seconds: float = Field(60, gt=0, le=3600)
    stop_timeout_seconds: float = Field(10, gt=0, le=120, description="EOS before SIGKILL.")

    @model_validator(mode="after")
    def _delays(self) -> PipelineConfig:
        if self.restart_max_seconds < self.restart_min_seconds:
            raise ValueError("pipeline.restart_max_seconds must be >= pipeline.restart_min_seconds")
        return self


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    camera_id: str
    mqtt: MqttConfig
    aws: AwsConfig
    source: SourceConfig = SourceConfig()
    sink: SinkConfig
    motion: MotionConfig = MotionConfig()
    pipeline: PipelineConfig = PipelineConfig()
    health_interval_seconds: float = Field(30, ge=1, le=3600)
    state_dir: Path = Field(Path("state"), description="The agent's only writable directory.")

    def to_toml_dict(self) -> dict[str, Any]:
        return self.model_dump(
            mode="json", exclude_none=True, exclude={"source": {"username", "password"}}
        )


def load_agent_config(path: Path, environ: Mapping[str, str] | None = None) -> AgentConfig:
    """Read `agent.toml` with environment overrides; resolve paths against its directory."""
    if not path.is_file():
        raise AgentConfigError(f"agent config {path} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise AgentConfigError(f"agent config {path} is not valid TOML: {err}") from err
    overrides = environment_overrides(os.environ if environ is None else environ)
    try:
        config = AgentConfig.model_validate(_merge(data, overrides))
    except ValidationError as err:
        raise AgentConfigError(f"invalid agent config {path}: {_describe(err, overrides)}") from err
    return resolve_paths(config, path.parent)


def environment_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """`FLEET_AGENT_MQTT__PORT=8884` -> {"mqtt": {"port": "8884"}} (pydantic converts the text)."""
    overrides: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.upper().startswith(ENV_PREFIX):
            continue
        *sections, field = name[len(ENV_PREFIX) :].lower().split(ENV_NESTING)
        node = overrides
        for section in sections:
            node = node.setdefault(section, {})
        node[field] = value
    return overrides


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(err: ValidationError, overrides: Mapping[str, Any]) -> str:
    def origin(loc: tuple[int | str, ...]) -> str:
        node: Any = overrides
        for part in loc:
            if not isinstance(node, Mapping) or part not in node:
                return ""
            node = node[part]
        name = ENV_PREFIX + ENV_NESTING.join(str(p).upper() for p in loc)
        return f" (from {name})"

    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'config'}{origin(e['loc'])}: {e['msg']}"
        for e in err.errors()
    )


_MQTT_FILES = ("cert", "key", "ca")


def resolve_paths(config: AgentConfig, base: Path) -> AgentConfig:
    def rel(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else base / p

    mqtt = config.mqtt.model_copy(update={k: rel(getattr(config.mqtt, k)) for k in _MQTT_FILES})
    source = config.source.model_copy(
        update={k: rel(getattr(config.source, k)) for k in ("credentials_file", "path")}
    )
    update: dict[str, Any] = {"mqtt": mqtt, "source": source, "state_dir": rel(config.state_dir)}
    if config.sink.fragment_dir is not None:
        update["sink"] = config.sink.model_copy(
            update={"fragment_dir": rel(config.sink.fragment_dir)}
        )
    return config.model_copy(update=update)
