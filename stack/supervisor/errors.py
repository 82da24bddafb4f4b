"""Errors of the local stack, in the project's hierarchy (the CLI prints them as one line)."""

from __future__ import annotations

from cloud.errors import ConflictError, FleetError


class StackError(FleetError):
    """A part of the local stack could not be started, probed or stopped."""


class PortInUseError(StackError, ConflictError):
    """A port the stack needs is held by a process that is not the stack's part."""

    exit_code = ConflictError.exit_code
