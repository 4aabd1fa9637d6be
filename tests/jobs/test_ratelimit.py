"""Token bucket: burst, refill, exact retry time, persisted across a restart, give-back."""

from __future__ import annotations


import pytest

from bot.jobs import Limits, ManualClock, RateLimiter, TokenBucket
from bot.store_target import StoreTarget
from storage import open_store
from tests.stores import each_engine  # noqa: F401  (the store-using tests run on both engines)

FIVE_AN_HOUR = Limits(videos_per_hour=5, burst=2)  # one token every 720 s


async def test_burst_then_refill(store_target: StoreTarget, clock: ManualClock) -> None:
    async with await open_store(store_target.location) as db:
        rate = RateLimiter(db.quotas, clock)
        assert (await rate.take(1, 7, FIVE_AN_HOUR)).allowed
        assert (await rate.take(1, 7, FIVE_AN_HOUR)).allowed
        refused = await rate.take(1, 7, FIVE_AN_HOUR)
        assert not refused.allowed
        assert refused.retry_at == pytest.approx(clock.now() + 720)
        clock.advance(719)
        assert not (await rate.take(1, 7, FIVE_AN_HOUR)).allowed
        clock.advance(1)
        assert (await rate.take(1, 7, FIVE_AN_HOUR)).allowed


async def test_retry_at_is_exactly_when_a_token_is_back(store_target: StoreTarget, clock: ManualClock) -> None:
    async with await open_store(store_target.location) as db:
        rate = RateLimiter(db.quotas, clock)
        limits = Limits(videos_per_hour=7, burst=1)
        await rate.take(1, 7, limits)
        clock.advance(100.5)
        refused = await rate.take(1, 7, limits)
        assert refused.retry_at is not None
        clock.set(refused.retry_at)
        assert (await rate.take(1, 7, limits)).allowed


async def test_refill_stops_at_the_burst(store_target: StoreTarget, clock: ManualClock) -> None:
    async with await open_store(store_target.location) as db:
        rate = RateLimiter(db.quotas, clock)
        await rate.take(1, 7, FIVE_AN_HOUR)
        clock.advance(10 * 3600)
        assert (await rate.peek(1, 7, FIVE_AN_HOUR)).tokens == 2


async def test_buckets_survive_a_restart(store_target: StoreTarget, clock: ManualClock) -> None:
    async with await open_store(store_target.location) as db:
        rate = RateLimiter(db.quotas, clock)
        await rate.take(1, 7, FIVE_AN_HOUR)
        await rate.take(1, 7, FIVE_AN_HOUR)
    async with await open_store(store_target.location) as db:
        refused = await RateLimiter(db.quotas, clock).take(1, 7, FIVE_AN_HOUR)
        assert not refused.allowed and refused.retry_at == pytest.approx(clock.now() + 720)


async def test_buckets_are_per_guild_and_user(store_target: StoreTarget, clock: ManualClock) -> None:
    async with await open_store(store_target.location) as db:
        rate = RateLimiter(db.quotas, clock)
        one = Limits(videos_per_hour=1, burst=1)
        assert (await rate.take(1, 7, one)).allowed
        assert (await rate.take(2, 7, one)).allowed
        assert (await rate.take(1, 8, one)).allowed
        assert not (await rate.take(1, 7, one)).allowed


async def test_give_back_is_capped_at_the_burst(store_target: StoreTarget, clock: ManualClock) -> None:
    async with await open_store(store_target.location) as db:
        rate = RateLimiter(db.quotas, clock)
        assert not await rate.give_back(1, 7)  # nothing taken, nothing to give
        await rate.take(1, 7, FIVE_AN_HOUR)
        assert await rate.give_back(1, 7)
        assert await rate.give_back(1, 7)
        assert (await rate.peek(1, 7, FIVE_AN_HOUR)).tokens == 2


async def test_zero_rate_never_promises_a_time(store_target: StoreTarget, clock: ManualClock) -> None:
    async with await open_store(store_target.location) as db:
        refused = await RateLimiter(db.quotas, clock).take(1, 7, Limits(0, 0))
        assert not refused.allowed and refused.retry_at is None


def test_clock_stepping_back_neither_drains_nor_double_refills() -> None:
    bucket = TokenBucket(tokens=0.5, updated_at=1000.0, capacity=2, per_second=0.01)
    back = bucket.refilled(900.0)
    assert (back.tokens, back.updated_at) == (0.5, 1000.0)
    assert bucket.refilled(1050.0).tokens == pytest.approx(1.0)
