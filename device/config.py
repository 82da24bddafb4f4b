"""The agent's configuration: `agent.toml` from the registration bundle, overridable from the
environment (`FLEET_AGENT_<SECTION>__<FIELD>`). Written by the cloud side, read by the agent, so
this model is the contract between them. Relative paths are relative to the file's directory.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


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


class AwsConfig(Section):
    region: str
    credentials_endpoint: str = Field(description="AWS IoT credential provider endpoint.")
    role_alias: str


class SourceKind(StrEnum):
    RTSP = "rtsp"
    V4L2 = "v4l2"
    FILE = "file"
    TEST = "test"


class SourceConfig(Section):
    kind: SourceKind = SourceKind.TEST
    uri: str | None = Field(None, description="rtsp://host/path, without credentials.")
    credentials_file: Path | None = Field(None, description="user:password for RTSP, mode 0600.")
    device: Path | None = None
    path: Path | None = None
    width: int = Field(640, ge=16, le=7680)
    height: int = Field(480, ge=16, le=4320)
    fps: int = Field(15, ge=1, le=60)
    bitrate_kbps: int = Field(1000, ge=64, le=50000)
    keyframe_interval: int = Field(30, ge=1, le=600)

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
    storage_size_mb: int = Field(128, ge=16, le=4096)

    @model_validator(mode="after")
    def _needs(self) -> SinkConfig:
        if self.kind is SinkKind.LOCAL and self.fragment_dir is None:
            raise ValueError("sink kind 'local' needs sink.fragment_dir")
        return self


class AgentConfig(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FLEET_AGENT_", env_nested_delimiter="__", extra="forbid"
    )

    camera_id: str
    mqtt: MqttConfig
    aws: AwsConfig
    source: SourceConfig = SourceConfig()
    sink: SinkConfig
    health_interval_seconds: int = Field(30, ge=1, le=3600)

    toml_file: ClassVar[Path | None] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        if cls.toml_file is not None:
            sources += (TomlConfigSettingsSource(settings_cls, toml_file=cls.toml_file),)
        return sources

    def to_toml_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def load_agent_config(path: Path) -> AgentConfig:
    """Read `agent.toml` with environment overrides; resolve paths against its directory."""

    if not path.is_file():
        raise FileNotFoundError(f"agent config {path} does not exist")
    bound = type("AgentConfigFromFile", (AgentConfig,), {"toml_file": path})
    return resolve_paths(bound(), path.parent)


_MQTT_FILES = ("cert", "key", "ca")


def resolve_paths(config: AgentConfig, base: Path) -> AgentConfig:
    def rel(p: Path | None) -> Path | None:
        return None if p is None or p.is_absolute() else base / p

    mqtt = config.mqtt.model_copy(
        update={k: rel(getattr(config.mqtt, k)) or getattr(config.mqtt, k) for k in _MQTT_FILES}
    )
    update: dict[str, Any] = {"mqtt": mqtt}
    if config.sink.fragment_dir is not None:
        update["sink"] = config.sink.model_copy(
            update={"fragment_dir": rel(config.sink.fragment_dir) or config.sink.fragment_dir}
        )
    return config.model_copy(update=update)
