"""Paginated listings: every item of every page, in one call."""

from __future__ import annotations

from typing import Any

from cloud.errors import aws_call


def listed(what: str, client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    """The items under `key` of every page of `operation` (a boto3 paginator), its errors
    translated as `aws_call(what)` does."""
    with aws_call(what):
        pages = client.get_paginator(operation).paginate(**kwargs)
        return [item for page in pages for item in page.get(key, [])]
