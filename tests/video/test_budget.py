"""The card-edit budget on a clock the test moves: how many edits pass, in which order, and
that channels do not share a bucket."""

from __future__ import annotations

import asyncio

import pytest

from cogs.video._budget import CHANNEL_EDITS_PER_SECOND, EditBudget, TokenBucket


class Clock:
    """Time that moves only when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def test_the_burst_passes_then_one_token_per_interval() -> None:
    clock = Clock()
    bucket = TokenBucket(5.0, 5.0, clock=clock, sleep=clock.sleep)
    waits = [await bucket.take() for _ in range(8)]
    assert waits[:5] == [0.0] * 5
    assert waits[5:] == pytest.approx([0.2, 0.2, 0.2])
    assert clock.now == pytest.approx(0.6)


async def test_waiters_are_served_in_arrival_order() -> None:
    clock = Clock()
    bucket = TokenBucket(1.0, 1.0, clock=clock, sleep=clock.sleep)
    served: list[int] = []

    async def take(n: int) -> None:
        await bucket.take()
        served.append(n)

    await asyncio.gather(*(take(n) for n in range(6)))
    assert served == list(range(6)) and clock.now == pytest.approx(5.0)


async def test_channels_have_a_bucket_each_and_uploads_one_for_all() -> None:
    clock = Clock()
    budget = EditBudget(2.0, clock=clock, sleep=clock.sleep)
    assert [await budget.channel_edit(1), await budget.channel_edit(2)] == [0.0, 0.0]
    assert await budget.channel_edit(1) == pytest.approx(1 / CHANNEL_EDITS_PER_SECOND)
    started = clock.now
    for _ in range(6):
        await budget.upload()
    assert clock.now - started == pytest.approx(2.0)  # a burst of 2 saved up meanwhile, then 2 a second


async def test_in_any_five_seconds_a_channel_gets_at_most_four_edits() -> None:
    clock = Clock()
    budget = EditBudget(5.0, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(20):
        await budget.channel_edit(7)
        times.append(clock.now)
    assert max(sum(1 for t in times if start <= t < start + 5.0) for start in times) == 4


def test_a_bucket_needs_a_rate_and_room() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0.0, 1.0)
    with pytest.raises(ValueError):
        TokenBucket(1.0, 0.5)
