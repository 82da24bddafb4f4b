"""The declaration of the fleet's Prefect automations (`infra/prefect/automations.toml`).

A small model, one section per automation, `extra="forbid"` everywhere: a misspelt key or an
out-of-range number fails with the file and the key named, before anything is sent to Prefect.
What each section becomes in Prefect is `flows.automations.rules`.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cloud.errors import InvalidInputError
from cloud.policies import INFRA_DIR
from cloud.settings import FleetSettings

DEFAULT_DECLARATION = INFRA_DIR / "prefect" / "automations.toml"
_WEEK_S = 7 * 86_400
# Prefect refuses a proactive trigger's window under 10 s (EventTrigger's own validator).
MIN_PROACTIVE_S = 10


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="Created disabled when false (visible in the UI).")


class CameraOffline(_Section):
    offline_seconds: int = Field(
        ge=MIN_PROACTIVE_S,
        le=_WEEK_S,
        description="Notify once a camera has been offline this long without coming back.",
    )


class PipelineFailed(_Section):
    cooldown_seconds: int = Field(
        ge=0, le=_WEEK_S, description="At most one notification per camera per this."
    )


class AnalysesFailing(_Section):
    failures: int = Field(ge=1, le=1000, description="This many failed analyses of one camera...")
    within_seconds: int = Field(ge=0, le=_WEEK_S, description="...within this window notify.")

    @model_validator(mode="after")
    def _window_for_repeats(self) -> AnalysesFailing:
        # With no window Prefect counts every failure alone: only 1 failure can ever be reached.
        if self.failures > 1 and self.within_seconds == 0:
            raise ValueError("within_seconds must be more than 0 when failures is more than 1")
        return self


class AutomationsDeclaration(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    camera_offline: CameraOffline
    pipeline_failed: PipelineFailed
    analyses_failing: AnalysesFailing


def declaration_path(settings: FleetSettings) -> Path:
    return settings.automations_file or DEFAULT_DECLARATION


def describe(err: ValidationError) -> str:
    """`camera_offline.offline_seconds: Input should be ...; ...`: every problem, keyed."""
    problems = []
    for problem in err.errors():
        where = ".".join(str(p) for p in problem["loc"]) or "(top level)"
        problems.append(f"{where}: {str(problem['msg']).removeprefix('Value error, ')}")
    return "; ".join(problems)


def parse_declaration(text: str, source: str) -> AutomationsDeclaration:
    """The declaration in `text` (TOML); `source` names it in errors."""
    try:
        return AutomationsDeclaration.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as err:
        raise InvalidInputError(f"automations declaration {source} is not TOML: {err}") from err
    except ValidationError as err:
        raise InvalidInputError(f"automations declaration {source}: {describe(err)}") from err


def load_declaration(path: Path) -> AutomationsDeclaration:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidInputError(f"automations declaration {path} cannot be read: {err}") from err
    return parse_declaration(text, str(path))
