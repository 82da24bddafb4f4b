"""The settings every long-running service has: where and how often it reports itself, and how
many warnings of a kind it logs a minute. Each service's own config extends `ServiceConfig`."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class ServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    heartbeat_file: Path | None = Field(
        None, description="Rewritten every `heartbeat_seconds` (`fleet status`, liveness checks)."
    )
    heartbeat_seconds: float = Field(2.0, gt=0, le=60)
    stats_interval_seconds: float = Field(
        60.0, gt=0, le=86400, description="How often the counters are logged."
    )
    warnings_per_minute: int = Field(
        5, ge=0, le=1000, description="Lines per kind of warning and minute; the rest are counted."
    )
