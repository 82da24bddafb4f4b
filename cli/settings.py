"""The CLI's composition root for settings: environment first, then the global options."""

from __future__ import annotations

from typing import Any

from cloud.settings import FleetSettings, Target

_overrides: dict[str, Any] = {}


def set_overrides(*, aws: bool, region: str | None, profile: str | None) -> None:
    _overrides.clear()
    if aws:
        _overrides["target"] = Target.AWS
    if region:
        _overrides["region"] = region
    if profile:
        _overrides["aws_profile"] = profile


def current_settings(**extra: Any) -> FleetSettings:
    return FleetSettings(**{**_overrides, **extra})
