"""Turn the project's errors into one clear line and an exit code: no tracebacks for mistakes."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import NoReturn, ParamSpec, TypeVar

import typer

P = ParamSpec("P")
R = TypeVar("R")


def handled(func: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as err:
            fail_if_ours(err)
            raise

    return wrapper


def fail_if_ours(err: Exception) -> None:
    """Exit with one line for the project's errors and invalid input; return for anything else.

    The error types are imported here, once something failed: a command that can raise them has
    imported them already, and one that cannot does not pay for them.
    """
    from pydantic import ValidationError

    from cli.camera_input import describe_validation
    from cloud.errors import FleetError

    if isinstance(err, ValidationError):
        fail(describe_validation(err, "input"), 2)
    if isinstance(err, FleetError):
        fail(str(err), err.exit_code)


def fail(message: str, code: int = 1) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)
