"""Turn the project's errors into one clear line and an exit code: no tracebacks for mistakes."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import NoReturn, ParamSpec, TypeVar

import typer
from pydantic import ValidationError

from cli.camera_input import describe_validation
from cloud.errors import FleetError

P = ParamSpec("P")
R = TypeVar("R")


def handled(func: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ValidationError as err:
            fail(describe_validation(err, "input"), 2)
        except FleetError as err:
            fail(str(err), err.exit_code)

    return wrapper


def fail(message: str, code: int = 1) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)
