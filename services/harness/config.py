"""The settings every long-running service has: where and how often it reports itself, and how
many warnings of a kind it logs a minute. Each service's own config extends `ServiceConfig`."""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from services.harness.log_limit import LimitedLog, LogLimiter


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

    def limiter(self) -> LogLimiter:
        """A fresh limit of `warnings_per_minute` lines per kind of warning."""
        return LogLimiter(per_window=self.warnings_per_minute)

    def limited_log(self, logger: logging.Logger) -> LimitedLog:
        """`logger`'s warnings, at most `warnings_per_minute` per kind."""
        return LimitedLog(logger, self.limiter())
