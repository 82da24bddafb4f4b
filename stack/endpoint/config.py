"""Configuration of the local AWS endpoint: one model, read in one place."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from stack.broker.control import BrokerAdmin
from stack.endpoint.ca import CA_CERT_FILE

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
    # The broker's admin identity (its dynamic-security plugin guards shared subscriptions).
    broker_port: int | None = Field(default=None, ge=1, le=65535)
    broker_admin_cert: Path | None = None
    broker_admin_key: Path | None = None
    save_delay_seconds: float = Field(default=2.0, gt=0)
    ca_dir: Path | None = None
    # The local fragment store (`<fragment_root>/<camera>/<producer ms>.mkv`): with it, stream
    # processor sessions analyse the cameras' video; without it, they only last their duration.
    fragment_root: Path | None = None
    # Whether Rekognition Streaming Video is open to this endpoint's accounts; closed, it plays
    # an account AWS no longer lets create stream processors.
    streaming_video: bool = True

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

    @property
    def broker_admin(self) -> BrokerAdmin | None:
        if self.broker_port is None or not (self.broker_admin_cert and self.broker_admin_key):
            return None
        return BrokerAdmin(
            host=self.mqtt_host,
            port=self.broker_port,
            ca_file=self.ca_directory / CA_CERT_FILE,
            cert_file=self.broker_admin_cert,
            key_file=self.broker_admin_key,
        )
