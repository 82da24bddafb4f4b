"""Configuration of the local AWS endpoint: one model, read in one place."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class LocalEndpointConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    state_dir: Path
    processor_quota: int = Field(default=10, ge=0)
    mqtt_host: str = "127.0.0.1"
    acl_file: Path | None = None
    broker_pid_file: Path | None = None
    save_delay_seconds: float = Field(default=2.0, gt=0)
    ca_dir: Path | None = None

    @field_validator("host")
    @classmethod
    def _loopback_only(cls, host: str) -> str:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"the local endpoint binds to loopback only, not {host!r}")
        return host

    @property
    def state_file(self) -> Path:
        return self.state_dir / "aws-state.pickle"

    @property
    def ca_directory(self) -> Path:
        return self.ca_dir or self.state_dir / "ca"
