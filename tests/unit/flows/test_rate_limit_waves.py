"""Admission in waves: sizes, and the spacing that keeps the server from denying (and so from
restarting its decay clock)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from flows import rate_limits
from flows.rate_limits import BURST_SECONDS, PACING_MARGIN, wave_size, waves

FAMILIES = ("iot", "kinesisvideo", "iam", "rekognition")


def test_waves_admit_everything_in_paced_waves(monkeypatch: pytest.MonkeyPatch) -> None:
    acquired: list[int] = []
    slept: list[float] = []

    async def acquire(families: Sequence[str], registrations: int = 1) -> None:
        assert tuple(families) == FAMILIES
        acquired.append(registrations)

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(rate_limits, "acquire", acquire)
    monkeypatch.setattr(asyncio, "sleep", sleep)

    async def admit() -> list[int]:
        return [count async for count in waves(FAMILIES, 45)]

    size = wave_size(FAMILIES)
    assert asyncio.run(admit()) == acquired == [size] * 4 + [45 - 4 * size]
    # The burst goes at once; then each wave waits a wave's worth of the slowest rate.
    assert len(slept) == len(acquired) - BURST_SECONDS
    spacing = size / rate_limits.FAMILY_RATES["rekognition"] * PACING_MARGIN
    assert all(0 < s <= spacing for s in slept)
