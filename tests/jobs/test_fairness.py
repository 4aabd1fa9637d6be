"""Fair order: round-robin across users, FIFO within a user, priority classes first."""

from __future__ import annotations

from bot.jobs import JobState
from tests.jobs.conftest import Jobs, member, video
from tests.stores import each_engine  # noqa: F401  (the store-using tests run on both engines)

A, B, C, D = 1, 2, 3, 4


async def _enqueue(jobs: Jobs, user: int, count: int, priority: int = 0) -> None:
    for n in range(count):
        await jobs.scheduler.enqueue(member(user), video(f"user {user} clip {n}"), priority)


async def _drain_order(jobs: Jobs, limit: int = 1000) -> list[tuple[int, str]]:
    order = []
    for _ in range(limit):
        job = await jobs.scheduler.claim_next("gpu-a")
        if job is None:
            break
        order.append((job.user_id, job.params["prompt"]))
    return order


async def test_users_alternate_whatever_their_backlog(jobs: Jobs) -> None:
    await _enqueue(jobs, A, 10)
    await _enqueue(jobs, B, 1)
    await _enqueue(jobs, C, 2)
    users = [user for user, _ in await _drain_order(jobs)]
    assert users == [A, B, C, A, C, A, A, A, A, A, A, A, A]


async def test_each_users_jobs_stay_first_in_first_out(jobs: Jobs) -> None:
    await _enqueue(jobs, A, 5)
    await _enqueue(jobs, B, 5)
    order = await _drain_order(jobs)
    for user in (A, B):
        prompts = [prompt for who, prompt in order if who == user]
        assert prompts == [f"user {user} clip {n}" for n in range(5)]


async def test_a_newcomer_is_served_in_the_current_round(jobs: Jobs) -> None:
    await _enqueue(jobs, A, 6)
    await _enqueue(jobs, B, 2)
    first = [user for user, _ in await _drain_order(jobs, limit=4)]
    assert first == [A, B, A, B]
    await _enqueue(jobs, D, 2)  # arrives while A still has four queued
    rest = [user for user, _ in await _drain_order(jobs)]
    assert rest == [D, A, D, A, A, A]  # D enters at the round just served


async def test_a_returning_user_does_not_bank_rounds(jobs: Jobs) -> None:
    await _enqueue(jobs, A, 5)
    await _drain_order(jobs)  # the fair clock is now at A's last round
    await _enqueue(jobs, B, 3)
    await _enqueue(jobs, A, 1)
    users = [user for user, _ in await _drain_order(jobs)]
    assert users == [B, A, B, B]


async def test_priority_class_goes_first_and_is_fair_within(jobs: Jobs) -> None:
    await _enqueue(jobs, A, 3)
    await _enqueue(jobs, B, 2, priority=1)
    await _enqueue(jobs, C, 2, priority=1)
    users = [user for user, _ in await _drain_order(jobs)]
    assert users == [B, C, B, C, A, A, A]


async def test_a_requeued_job_goes_before_later_rounds(jobs: Jobs) -> None:
    await _enqueue(jobs, A, 3)
    await _enqueue(jobs, B, 3)
    lost = await jobs.scheduler.claim_next("gpu-a")
    assert lost is not None and lost.user_id == A
    await jobs.scheduler.claim_next("gpu-b")
    assert await jobs.scheduler.requeue(lost)
    again = await jobs.scheduler.claim_next("gpu-b")
    assert again is not None and again.id == lost.id and again.attempts == 2
    assert again.state is JobState.SUBMITTED


async def test_position_follows_the_fair_order(jobs: Jobs) -> None:
    await _enqueue(jobs, A, 3)
    await _enqueue(jobs, B, 1)
    places = await jobs.scheduler.places(10, B)
    assert [place.ahead for place in places] == [1]  # only A's first job is ahead of B's
    a_places = await jobs.scheduler.places(10, A)
    assert [place.ahead for place in a_places] == [0, 2, 3]
