"""Paginated listings: every item of every page, in one call."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from cloud.errors import aws_call

_Page = TypeVar("_Page")
_Item = TypeVar("_Item")


def listed(
    what: str, pages: Iterable[_Page], items: Callable[[_Page], Iterable[_Item]]
) -> list[_Item]:
    """The `items` of every page of `pages` (a boto3 paginator's `paginate(...)`, which calls AWS
    only as it is read), its errors translated as `aws_call(what)` does."""
    with aws_call(what):
        return [item for page in pages for item in items(page)]
