"""Reads of the queue: positions, a requester's places, recovery, summary, history, purge."""

from __future__ import annotations

from storage import AuditEntry, JobState, QueuePosition, Store
from tests.storage.conftest import T0, new_job, queue, raw_sql


async def test_position_counts_jobs_ordered_before(db: Store) -> None:
    jobs = await queue(
        db,
        new_job(1, round=0, cost=10),
        new_job(2, round=0, cost=20),
        new_job(1, round=1, cost=40),
        new_job(3, round=0, cost=80, priority_class=-1),
    )
    assert await db.jobs.position(jobs[3].id) == QueuePosition(0, 0)
    assert await db.jobs.position(jobs[0].id) == QueuePosition(1, 80)
    assert await db.jobs.position(jobs[1].id) == QueuePosition(2, 90)
    assert await db.jobs.position(jobs[2].id) == QueuePosition(3, 110)


async def test_position_of_a_job_not_queued_is_none(db: Store) -> None:
    (job,) = await queue(db, new_job())
    await db.jobs.claim_next("gpu", "p", T0)
    assert await db.jobs.position(job.id) is None
    assert await db.jobs.position(999) is None


async def test_cancelled_jobs_leave_gaps_not_positions(db: Store) -> None:
    a, b, c = await queue(db, new_job(1), new_job(2), new_job(3))
    await db.jobs.transition(b.id, JobState.QUEUED, JobState.CANCELLED, T0, cancelled_by=2)
    assert (await db.jobs.position(c.id)).ahead == 1  # type: ignore[union-attr]


async def test_queue_places_match_single_positions(db: Store) -> None:
    for round_ in range(6):
        await queue(db, *(new_job(user, round=round_, cost=user) for user in (1, 2, 3)))
    places = await db.jobs.queue_places(10, 2)
    assert [job.round for job, _ in places] == list(range(6))
    for job, position in places:
        assert position == await db.jobs.position(job.id)
    assert await db.jobs.queue_places(10, 99) == []


async def test_counts(db: Store) -> None:
    await queue(db, new_job(1), new_job(1), new_job(2), new_job(1, guild_id=11))
    await db.jobs.claim_next("gpu", "p", T0)
    assert await db.jobs.count_queued() == 3
    assert await db.jobs.count_active(10, 1) == 2
    assert await db.jobs.count_active(11, 1) == 1
    assert [job.state for job in await db.jobs.active_for_user(10, 1)] == [
        JobState.SUBMITTED,
        JobState.QUEUED,
    ]


async def test_round_inputs_are_per_user_and_class(db: Store) -> None:
    await queue(
        db, new_job(1, round=4), new_job(1, round=6), new_job(1, round=9, priority_class=-1)
    )
    assert await db.jobs.round_inputs(1, 0) == (0, 6)
    assert await db.jobs.round_inputs(1, -1) == (0, 9)
    assert await db.jobs.round_inputs(2, 0) == (0, None)
    await db.jobs.claim_next("gpu", "p", T0)
    assert await db.jobs.round_inputs(2, -1) == (9, None)


async def test_unfinished_is_what_recovery_needs(db: Store) -> None:
    jobs = await queue(db, *(new_job(n) for n in range(5)))
    await db.jobs.transition(jobs[0].id, JobState.QUEUED, JobState.CANCELLED, T0)
    await db.jobs.claim_next("gpu", "p1", T0)
    await db.jobs.transition(jobs[1].id, JobState.SUBMITTED, JobState.FETCHED, T0)
    await db.jobs.transition(jobs[1].id, JobState.FETCHED, JobState.DELIVERED, T0)
    await db.jobs.claim_next("gpu", "p2", T0)
    unfinished = await db.jobs.unfinished()
    assert [(job.id, job.state) for job in unfinished] == [
        (jobs[2].id, JobState.SUBMITTED),
        (jobs[3].id, JobState.QUEUED),
        (jobs[4].id, JobState.QUEUED),
    ]
    assert unfinished[0].prompt_id == "p2" and unfinished[0].params["prompt"] == "a cat"


async def test_summary(db: Store) -> None:
    jobs = await queue(db, new_job(1, cost=5), new_job(1, cost=7), new_job(2, cost=11), now=T0)
    await queue(db, new_job(3, cost=13), now=T0 + 10)
    await db.jobs.claim_next("gpu-a", "p1", T0 + 20)
    await db.jobs.claim_next("gpu-b", "p2", T0 + 20)
    await db.jobs.transition(jobs[1].id, JobState.SUBMITTED, JobState.RUNNING, T0 + 21)
    await db.jobs.transition(jobs[2].id, JobState.QUEUED, JobState.CANCELLED, T0 + 22)
    summary = await db.jobs.summary(since=T0)
    assert summary.by_state[JobState.QUEUED] == 1
    assert summary.by_state[JobState.SUBMITTED] == 1
    assert summary.by_state[JobState.RUNNING] == 1
    assert summary.by_state[JobState.CANCELLED] == 1
    assert summary.by_backend == {"gpu-a": 1, "gpu-b": 1}
    assert [(job.id, job.state, job.backend) for job in summary.in_flight] == [
        (jobs[0].id, JobState.SUBMITTED, "gpu-a"), (jobs[1].id, JobState.RUNNING, "gpu-b")]
    assert (summary.queued_users, summary.queued_cost, summary.oldest_queued_at) == (1, 13, T0 + 10)
    assert (await db.jobs.summary(since=T0 + 30)).by_state[JobState.CANCELLED] == 0


async def test_summary_of_an_empty_queue(db: Store) -> None:
    summary = await db.jobs.summary(since=T0)
    assert set(summary.by_state.values()) == {0} and summary.by_backend == {} and summary.in_flight == ()
    assert (summary.queued_users, summary.queued_cost, summary.oldest_queued_at) == (0, 0, None)


async def test_recent_for_user_is_newest_first(db: Store) -> None:
    jobs = await queue(db, *(new_job(1, prompt=f"clip {n}") for n in range(4)), new_job(2))
    recent = await db.jobs.recent_for_user(10, 1, limit=3)
    assert [job.id for job in recent] == [jobs[3].id, jobs[2].id, jobs[1].id]


async def test_status_message_is_stored(db: Store) -> None:
    (job,) = await queue(db, new_job())
    assert await db.jobs.set_status_message(job.id, 4242)
    assert (await db.jobs.get(job.id)).status_message_id == 4242  # type: ignore[union-attr]
    assert not await db.jobs.set_status_message(999, 1)


async def test_purge_cancels_unfinished_jobs_and_audits(db: Store) -> None:
    jobs = await queue(db, new_job(1), new_job(1), new_job(1), new_job(2))
    await db.jobs.claim_next("gpu", "p1", T0)  # jobs[0] now on a backend
    await db.jobs.transition(jobs[1].id, JobState.QUEUED, JobState.FAILED, T0)
    purged = await db.jobs.purge_user(
        10, 1, by=99, now=T0 + 1, audit=AuditEntry(T0 + 1, 99, "purge", 10, "user:1")
    )
    assert [job.id for job in purged] == [jobs[0].id, jobs[2].id]
    assert all(job.state is JobState.CANCELLED and job.cancelled_by == 99 for job in purged)
    assert purged[0].prompt_id == "p1"  # it was on a backend: the caller interrupts it
    assert (await db.jobs.get(jobs[1].id)).state is JobState.FAILED  # type: ignore[union-attr]
    assert (await db.jobs.get(jobs[3].id)).state is JobState.QUEUED  # type: ignore[union-attr]
    (entry,) = await db.audit.recent(10)
    assert (entry.action, entry.actor_id, entry.target) == ("purge", 99, "user:1")
    assert entry.details["jobs"] == [jobs[0].id, jobs[2].id]


async def test_the_queue_length_counter_matches_a_real_count(db: Store) -> None:
    jobs = await queue(db, *(new_job(n % 3) for n in range(12)))

    async def real_count() -> int:
        (row,) = await raw_sql(db, "SELECT count(*) FROM jobs WHERE state = 'queued'")
        return int(row[0])

    await db.jobs.claim_next("gpu", "p1", T0)
    await db.jobs.claim_next("gpu", "p2", T0)
    await db.jobs.transition(jobs[0].id, JobState.SUBMITTED, JobState.QUEUED, T0)  # requeue
    await db.jobs.transition(jobs[5].id, JobState.QUEUED, JobState.CANCELLED, T0)
    await db.jobs.purge_user(10, 2, 9, T0, AuditEntry(T0, 9, "purge"))
    await raw_sql(db, "DELETE FROM jobs WHERE id = ?", jobs[6].id)
    assert await db.jobs.count_queued() == await real_count() == 6
