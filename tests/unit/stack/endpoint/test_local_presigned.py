"""Presigned S3 URLs expire at the local endpoint as on S3."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stack.endpoint.presigned import refusal

SIGNED = datetime(2026, 12, 7, 18, 0, 0, tzinfo=UTC)
QUERY = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261207T180000Z&X-Amz-Expires=60&X-Amz-Signature=ab"


@pytest.mark.parametrize(
    ("after_s", "expected"), [(0, None), (60, None), (61, "Request has expired")]
)
def test_a_link_works_for_its_lifetime_then_is_refused(after_s: int, expected: str | None) -> None:
    assert refusal(QUERY, SIGNED + timedelta(seconds=after_s)) == expected


@pytest.mark.parametrize(
    "query",
    ["", "prefix=cameras/", "X-Amz-Date=20261207T180000Z", "X-Amz-Expires=60"],
)
def test_a_request_that_is_not_presigned_is_left_alone(query: str) -> None:
    assert refusal(query, SIGNED + timedelta(days=30)) is None


@pytest.mark.parametrize(
    ("expires", "reason"),
    [("604801", "less than a week"), ("0", "non-negative"), ("soon", "not valid")],
)
def test_a_lifetime_s3_does_not_accept_is_refused(expires: str, reason: str) -> None:
    query = f"X-Amz-Date=20261207T180000Z&X-Amz-Expires={expires}"
    answer = refusal(query, SIGNED)
    assert answer is not None and reason in answer
