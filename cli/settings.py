"""The CLI's settings: the environment first, then the global options (--aws, --region, ...).

The options are kept as plain values; the settings model is built (and imported) only by a
command that needs it, so `--help` pays nothing for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cloud.settings import FleetSettings

_overrides: dict[str, Any] = {}


def set_overrides(*, aws: bool, region: str | None, profile: str | None) -> None:
    _overrides.clear()
    if aws:
        _overrides["target"] = "aws"
    if region:
        _overrides["region"] = region
    if profile:
        _overrides["aws_profile"] = profile


def current_settings(**extra: Any) -> FleetSettings:
    from cloud.settings import FleetSettings

    return FleetSettings(**{**_overrides, **extra})
