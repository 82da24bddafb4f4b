"""The local stack's records: what `up` resolved (stack.json) and what `status` observed."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stack.supervisor.layout import PartName

STACK_RECORD_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrefectDatabase(StrEnum):
    """Where the local stack's Prefect server keeps its data."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


class MqttEndpoint(_Model):
    host: str
    port: int = Field(ge=1, le=65535)
    ca_file: Path


class StackRecord(_Model):
    """`<stack_dir>/stack.json`: the ports and paths `up` resolved, for other processes."""

    version: int = STACK_RECORD_VERSION
    host: str
    aws_port: int = Field(ge=1, le=65535)
    mqtt_port: int = Field(ge=1, le=65535)
    prefect_port: int = Field(ge=1, le=65535)
    processor_quota: int = Field(ge=1)
    streaming_video: bool = True
    stack_dir: Path
    ca_file: Path
    prefect_database: PrefectDatabase = PrefectDatabase.SQLITE
    postgres_port: int | None = Field(None, ge=1, le=65535)

    @model_validator(mode="after")
    def _postgres_has_its_port(self) -> StackRecord:
        if (self.prefect_database is PrefectDatabase.POSTGRESQL) != (
            self.postgres_port is not None
        ):
            raise ValueError("postgres_port is set exactly when prefect_database is postgresql")
        return self

    @property
    def uses_postgres(self) -> bool:
        return self.prefect_database is PrefectDatabase.POSTGRESQL

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def prefect_ui_url(self) -> str:
        return f"http://{self.host}:{self.prefect_port}"

    @property
    def prefect_api_url(self) -> str:
        return f"{self.prefect_ui_url}/api"

    @property
    def mqtt(self) -> MqttEndpoint:
        return MqttEndpoint(host=self.host, port=self.mqtt_port, ca_file=self.ca_file)

    def ports(self) -> dict[PartName, int]:
        ports = {
            PartName.AWS: self.aws_port,
            PartName.MOSQUITTO: self.mqtt_port,
            PartName.PREFECT: self.prefect_port,
        }
        if self.postgres_port is not None:
            ports[PartName.POSTGRES] = self.postgres_port
        return ports


class PartStatus(_Model):
    name: PartName
    healthy: bool
    running: bool
    pid: int | None = None
    log_file: Path
    skipped: bool = Field(False, description="Not part of the stack for this target.")
    detail: str = Field("", description="Why the part is not healthy, or why it was skipped.")


class StackStatus(_Model):
    """What `fleet status --json` prints."""

    aws_endpoint: str
    mqtt: MqttEndpoint
    prefect_api_url: str
    prefect_ui_url: str
    prefect_database: PrefectDatabase = PrefectDatabase.SQLITE
    stack_dir: Path
    parts: list[PartStatus]

    @property
    def healthy(self) -> bool:
        return all(part.healthy for part in self.parts if not part.skipped)

    def part(self, name: PartName) -> PartStatus:
        for part in self.parts:
            if part.name is name:
                return part
        raise KeyError(name)
