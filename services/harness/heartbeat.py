"""A service's heartbeat file: its schema and its atomic write. The service writes it
(`stats.Reporter`); the local stack's health probe and `fleet status` read it. Nothing else
here, so readers import no service code."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class Heartbeat(BaseModel):
    """What the part last said about itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pid: int
    ready: bool = Field(description="Connected and subscribed: doing its job.")
    detail: str = ""
    updated_at_ms: int
    counters: dict[str, int] = Field(default_factory=dict)
    facts: dict[str, str] = Field(
        default_factory=dict, description="What the part follows, e.g. the fleet's analyzer."
    )


def write_heartbeat(
    path: Path,
    ready: bool,
    detail: str,
    counters: dict[str, int],
    facts: dict[str, str] | None = None,
) -> None:
    """Atomically (temp file + rename): a reader never sees half a heartbeat."""
    beat = Heartbeat(
        pid=os.getpid(),
        ready=ready,
        detail=detail,
        updated_at_ms=time.time_ns() // 1_000_000,
        counters=counters,
        facts=facts or {},
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(beat.model_dump_json())
    tmp.replace(path)
