"""Reading a rendered IAM policy document in the policy tests."""

from __future__ import annotations

from typing import Any


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def grants(statements: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Action -> the resources it is allowed on."""
    granted: dict[str, list[str]] = {}
    for statement in statements:
        for action in as_list(statement["Action"]):
            granted.setdefault(action, []).extend(as_list(statement["Resource"]))
    return granted
