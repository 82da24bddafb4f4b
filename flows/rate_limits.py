"""Prefect global rate limits, one per AWS API family whose write rate AWS limits per account.

Every registration in every process draws from the same limit on the Prefect server, so many
concurrent registrations stay within what AWS allows instead of discovering it by throttling.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.asyncio import rate_limit
from prefect.exceptions import ObjectAlreadyExists

log = logging.getLogger(__name__)

# Writes per second per account, at or below AWS's published or observed control-plane rates
# (KVS CreateStream is 50 TPS; IoT certificate and IAM role writes are the slowest). Each
# registration draws one slot from every family it writes to. Operators can retune them in the UI.
FAMILY_RATES: dict[str, float] = {
    "kinesisvideo": 50.0,
    "iot": 15.0,
    "iam": 20.0,
    "rekognition": 10.0,
}


BURST_SECONDS = 2  # a limit holds two seconds' worth of slots


def limit_name(family: str) -> str:
    return f"aws-{family}"


def wave_size(families: Sequence[str]) -> int:
    """Registrations admitted per acquisition: one second of the slowest family's rate."""
    return max(1, int(min(FAMILY_RATES[f] for f in families if f in FAMILY_RATES)))


async def ensure_rate_limits() -> None:
    """Create the limits if absent (idempotent); an operator may retune them in the UI."""
    async with get_client() as client:
        for family, rate in FAMILY_RATES.items():
            try:
                await client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(
                        name=limit_name(family),
                        limit=max(1, int(rate * BURST_SECONDS)),
                        slot_decay_per_second=rate,
                        active=True,
                    )
                )
                log.info("created rate limit %s (%s/s)", limit_name(family), rate)
            except ObjectAlreadyExists:
                continue


async def acquire(families: Sequence[str], registrations: int = 1) -> None:
    """Block until every family's rate limit admits `registrations` more registrations.

    An acquisition is a round trip to the Prefect server, and the decaying limits deliver well
    below their configured rate when asked often (every attempt, granted or denied, restarts the
    decay clock). So flows acquire rarely: one acquisition per wave of `wave_size`
    registrations, against limits holding `BURST_SECONDS` of slots.
    """
    names = [limit_name(f) for f in families if f in FAMILY_RATES]
    if names and registrations > 0:
        await rate_limit(names, occupy=registrations, strict=True)


# Waves are spaced a little more than a wave's worth of the slowest rate apart (see `waves`).
PACING_MARGIN = 1.1


async def waves(families: Sequence[str], total: int) -> AsyncIterator[int]:
    """Admit `total` units (cameras) in waves of `wave_size`, yielding each wave's size once
    every family's limit has admitted it.

    Waves after the burst are spaced by a wave's worth of the slowest rate before asking: the
    server decays a limit in whole slots counted from its last update, and every denied request
    updates it and lengthens the next Retry-After, so asking early admits far below the rate.
    """
    size = wave_size(families)
    rate = min(FAMILY_RATES[f] for f in families if f in FAMILY_RATES)
    spacing = size / rate * PACING_MARGIN
    granted = 0.0
    for index, start in enumerate(range(0, total, size)):
        if index >= BURST_SECONDS:
            await asyncio.sleep(max(0.0, granted + spacing - time.monotonic()))
        count = min(size, total - start)
        await acquire(families, count)
        granted = time.monotonic()
        yield count
