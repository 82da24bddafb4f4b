"""The runtime of a command that calls AWS directly (no Prefect): on the local stack, only once
the parts it uses answer."""

from __future__ import annotations

from cli.stack_guard import require_aws_endpoint, require_stack
from cloud.settings import FleetSettings
from flows import runtime


def control_plane(settings: FleetSettings, *, whole_stack: bool = False) -> runtime.Runtime:
    """`whole_stack`: the command also connects to the broker or runs flows (a service, a
    simulated camera); else the AWS endpoint is all it needs."""
    if settings.is_local and whole_stack:
        require_stack(settings)
    elif settings.is_local:
        require_aws_endpoint(settings)
    return runtime.configure(settings)
