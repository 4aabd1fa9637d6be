"""Admission under a burst from several processes at once: the global queue cap, the member's
active cap and the rate limit are never overshot, on either engine.

Each `open_db()` is a separate store with its own connections (its own pool on PostgreSQL), and
each gets its own Admission and Scheduler, so their in-process locks do not help: only the
store's atomic admit can keep the caps.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.jobs import AdmissionRefused, Limits, ManualClock, Refusal
from storage import JobState
from tests.jobs.conftest import Jobs, member, video, wire
from tests.storage.conftest import OpenDb
from tests.stores import each_engine  # noqa: F401  (every test runs on both engines)

PROCESSES = 4


async def _processes(open_db: OpenDb, clock: ManualClock, limits: Limits, max_queued: int) -> list[Jobs]:
    return [wire(await open_db(), clock, limits=limits, max_queued=max_queued) for _ in range(PROCESSES)]


async def _burst(processes: list[Jobs], users: list[int]) -> tuple[int, list[Refusal]]:
    """Every request at once, spread over the processes: (admitted, refusal reasons)."""

    async def one(n: int, user: int) -> Refusal | None:
        try:
            await processes[n % len(processes)].admission.submit(member(user), video(f"clip {n}"))
        except AdmissionRefused as refused:
            return refused.reason
        return None

    results = await asyncio.gather(*(one(n, user) for n, user in enumerate(users)))
    refusals = [reason for reason in results if reason is not None]
    return len(results) - len(refusals), refusals


async def test_the_global_queue_cap_is_exact(open_db: OpenDb, clock: ManualClock) -> None:
    generous = Limits(videos_per_hour=1000, burst=1000, max_active=1000)
    processes = await _processes(open_db, clock, generous, max_queued=10)
    admitted, refusals = await _burst(processes, list(range(1, 61)))
    assert admitted == 10 and set(refusals) == {Refusal.QUEUE_FULL}
    assert await processes[0].db.jobs.count_queued() == 10
    assert len(await processes[0].db.jobs.in_states([JobState.QUEUED])) == 10


async def test_a_members_active_cap_is_exact(open_db: OpenDb, clock: ManualClock) -> None:
    one_member = Limits(videos_per_hour=1000, burst=1000, max_active=3)
    processes = await _processes(open_db, clock, one_member, max_queued=1000)
    admitted, refusals = await _burst(processes, [7] * 40)
    assert admitted == 3 and set(refusals) == {Refusal.TOO_MANY_ACTIVE}
    assert await processes[0].db.jobs.count_active(10, 7) == 3


async def test_the_rate_limit_is_exact(open_db: OpenDb, clock: ManualClock) -> None:
    burst_of_four = Limits(videos_per_hour=1, burst=4, max_active=1000)
    processes = await _processes(open_db, clock, burst_of_four, max_queued=1000)
    admitted, refusals = await _burst(processes, [7] * 40)
    assert admitted == 4 and set(refusals) == {Refusal.RATE_LIMITED}
    bucket = await processes[0].db.quotas.get(10, 7)
    assert bucket is not None and bucket.tokens == pytest.approx(0.0)
