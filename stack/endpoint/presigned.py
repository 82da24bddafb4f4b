"""Presigned S3 URLs expire, as on S3: a SigV4 query-string request (`X-Amz-Date`,
`X-Amz-Expires`) after its date plus its lifetime is refused with 403 AccessDenied "Request has
expired" (moto serves it). The signature itself is not checked: moto checks none. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

MAX_EXPIRES_S = 604_800  # SigV4 query-string authentication: at most 7 days


def refusal(query: str, now: datetime) -> str | None:
    """Why S3 refuses the presigned request at `now`; None when it is not one, or still valid."""
    params = {key: values[0] for key, values in parse_qs(query).items() if values}
    signed_at, expires = params.get("X-Amz-Date"), params.get("X-Amz-Expires")
    if signed_at is None or expires is None:
        return None
    try:
        start = datetime.strptime(signed_at, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        seconds = int(expires)
    except ValueError:
        return "X-Amz-Date or X-Amz-Expires is not valid"
    if not 1 <= seconds <= MAX_EXPIRES_S:
        return (
            "X-Amz-Expires must be less than a week (in seconds) that is 604800"
            if seconds > MAX_EXPIRES_S
            else "X-Amz-Expires must be non-negative"
        )
    if now > start + timedelta(seconds=seconds):
        return "Request has expired"
    return None
