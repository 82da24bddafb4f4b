"""Prefect global rate limits, one per AWS API family whose write rate AWS limits per account.

Every registration in every process draws from the same limit on the Prefect server, so many
concurrent registrations stay within what AWS allows instead of discovering it by throttling.
"""

from __future__ import annotations

import logging

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import rate_limit
from prefect.exceptions import ObjectAlreadyExists

log = logging.getLogger(__name__)

# Slots per second, below the documented control-plane write rates (KVS CreateStream is 50 TPS;
# IAM and IoT registry writes and Rekognition processor APIs are lower).
FAMILY_RATES: dict[str, float] = {
    "kinesisvideo": 40.0,
    "iam": 10.0,
    "iot": 20.0,
    "rekognition": 5.0,
}


def limit_name(family: str) -> str:
    return f"aws-{family}"


async def ensure_rate_limits() -> None:
    """Create the limits if absent (idempotent); an operator may retune them in the UI."""
    async with get_client() as client:
        for family, rate in FAMILY_RATES.items():
            try:
                await client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(
                        name=limit_name(family),
                        limit=max(1, int(rate)),
                        slot_decay_per_second=rate,
                        active=True,
                    )
                )
                log.info("created rate limit %s (%s/s)", limit_name(family), rate)
            except ObjectAlreadyExists:
                continue


def acquire(family: str) -> None:
    """Block until the family's rate limit lets one more write through."""
    if family in FAMILY_RATES:
        rate_limit(limit_name(family), occupy=1, strict=True)
