"""Claims: the queue order, paused guilds skipped, and no job ever taken twice."""

from __future__ import annotations

import asyncio
from storage import JobState, Store
from tests.storage.conftest import T0, OpenDb, new_job, queue


async def test_claim_takes_the_lowest_class_round_and_id(db: Store) -> None:
    await queue(
        db,
        new_job(1, round=3),
        new_job(2, round=1),
        new_job(3, round=1),
        new_job(4, round=9, priority_class=-1),
    )
    order = []
    while (job := await db.jobs.claim_next("gpu", f"p{len(order)}", T0)) is not None:
        order.append(job.user_id)
    assert order == [4, 2, 3, 1]


async def test_claim_sets_backend_prompt_and_advances_the_fair_clock(db: Store) -> None:
    await queue(db, new_job(1, round=5), new_job(2, round=7, priority_class=-1))
    assert await db.jobs.fair_clock(0) == 0
    first = await db.jobs.claim_next("gpu-a", "p1", T0 + 1)
    assert first is not None and first.state is JobState.SUBMITTED
    assert (first.backend, first.prompt_id, first.submitted_at) == ("gpu-a", "p1", T0 + 1)
    assert await db.jobs.fair_clock(-1) == 7 and await db.jobs.fair_clock(0) == 0
    await db.jobs.claim_next("gpu-a", "p2", T0 + 1)
    assert await db.jobs.fair_clock(0) == 5
    assert (await db.jobs.by_prompt_id("p2")).user_id == 1  # type: ignore[union-attr]


async def test_fair_clock_never_goes_back(db: Store) -> None:
    await queue(db, new_job(1, round=8))
    await db.jobs.claim_next("gpu", "p1", T0)
    await queue(db, new_job(2, round=2))  # e.g. a requeued job keeps its old round
    await db.jobs.claim_next("gpu", "p2", T0)
    assert await db.jobs.fair_clock(0) == 8


async def test_claim_skips_excluded_guilds(db: Store) -> None:
    await queue(db, new_job(1, guild_id=1), new_job(2, guild_id=2))
    job = await db.jobs.claim_next("gpu", "p1", T0, exclude_guilds=[1])
    assert job is not None and job.guild_id == 2
    assert await db.jobs.claim_next("gpu", "p2", T0, exclude_guilds=[1]) is None
    assert (await db.jobs.next_queued()).guild_id == 1  # type: ignore[union-attr]


async def test_empty_queue_claims_nothing(db: Store) -> None:
    assert await db.jobs.claim_next("gpu", "p", T0) is None
    assert await db.jobs.next_queued() is None


async def test_many_concurrent_claimers_never_claim_the_same_job(open_db: OpenDb) -> None:
    """Six stores (six processes, as far as the database can tell) claim 120 jobs at once,
    each with more claims than there are jobs: every job is taken exactly once."""
    stores = [await open_db() for _ in range(6)]
    await queue(stores[0], *(new_job(user % 7) for user in range(120)))

    async def claim(db: Store, name: str, n: int) -> int | None:
        job = await db.jobs.claim_next(name, f"{name}-{n}", T0)
        return None if job is None else job.id

    results = await asyncio.gather(
        *(claim(db, f"b{i}", n) for n in range(30) for i, db in enumerate(stores))
    )
    taken = [job_id for job_id in results if job_id is not None]
    assert len(taken) == 120 and len(set(taken)) == 120
    jobs = await stores[0].jobs.in_states([JobState.SUBMITTED])
    assert len(jobs) == 120 and all(job.attempts == 1 for job in jobs)
    assert len({job.backend for job in jobs}) > 1
    assert await stores[0].jobs.count_queued() == 0


async def test_racing_transitions_only_one_wins(open_db: OpenDb) -> None:
    first, second = await open_db(), await open_db()
    (job,) = await queue(first, new_job())
    results = await asyncio.gather(
        first.jobs.transition(job.id, JobState.QUEUED, JobState.CANCELLED, T0, cancelled_by=1),
        second.jobs.transition(job.id, JobState.QUEUED, JobState.SUBMITTED, T0, backend="b"),
    )
    assert sorted(results) == [False, True]
