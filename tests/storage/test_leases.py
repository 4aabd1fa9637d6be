"""Several processes on one queue, through the store's contract: a claim is held under the
claimer's lease, a backend's slots are counted by every claim whoever holds the jobs, only the
owner moves an owned job, the heartbeat renews in one statement, and a job whose lease ran out
is adopted by exactly one process. Every test runs on both engines; several stores on one
database are several processes, as far as the database can tell."""

from __future__ import annotations

import asyncio

import pytest

from storage import ChangeKind, JobState, Lease, Store
from tests.storage.conftest import T0, OpenDb, new_job, queue

LEASE = 15.0


def lease(owner: str, now: float = T0) -> Lease:
    return Lease(owner, now + LEASE)


async def _claim(db: Store, owner: str, n: int, *, backend: str = "gpu", capacity: int | None = 2,
                 now: float = T0, prefer: str | None = None) -> int | None:
    job = await db.jobs.claim_next(backend, f"{owner}-{n}", now, lease=lease(owner, now), capacity=capacity,
                                   prefer=prefer, window=4 if prefer else 0)
    return None if job is None else job.id


async def test_a_claim_is_held_under_the_claimers_lease(db: Store) -> None:
    await queue(db, new_job())
    job = await db.jobs.claim_next("gpu", "p1", T0, lease=Lease("process-a", T0 + 15))
    assert job is not None
    assert (job.owner, job.lease_until, job.claimed_by) == ("process-a", T0 + 15, "process-a")
    assert await db.jobs.get(job.id) == job


async def test_a_full_backend_takes_nothing_until_a_job_leaves_it(db: Store) -> None:
    await queue(db, *(new_job(user) for user in range(5)))
    first, second = await _claim(db, "a", 1), await _claim(db, "b", 2)
    assert first is not None and second is not None
    assert await _claim(db, "a", 3) is None  # running + prefetched, whoever holds them
    assert (await db.jobs.in_flight("gpu"), await db.jobs.in_flight("other-gpu")) == (2, 0)
    assert await _claim(db, "c", 4, backend="other-gpu") is not None  # slots are per backend
    assert await db.jobs.transition(first, JobState.SUBMITTED, JobState.FETCHED, T0, owner="a", output_path="x")
    assert await _claim(db, "b", 5) is not None  # fetched: off the GPU, the slot is free


@pytest.mark.parametrize("prefer", [None, "wan-native-14b"], ids=["plain", "affinity"])
async def test_concurrent_claims_of_many_processes_never_overfill_a_backend(open_db: OpenDb,
                                                                          prefer: str | None) -> None:
    """Four processes claim for one backend at once, round after round, while one job at a time
    leaves it: the backend never holds more than its two (half the claimers prefer a template,
    the claim that takes the affinity lock too)."""
    stores = [await open_db() for _ in range(4)]
    await queue(stores[0], *(new_job(user % 5, template="wan-native-14b" if user % 3 else "wan-native")
                             for user in range(40)))
    for round_ in range(8):
        results = await asyncio.gather(*(_claim(db, f"p{i}", round_ * 10 + n, now=T0 + round_,
                                                prefer=prefer if i % 2 else None)
                                         for n in range(3) for i, db in enumerate(stores)))
        taken = [job_id for job_id in results if job_id is not None]
        on_gpu = await stores[0].jobs.in_states([JobState.SUBMITTED, JobState.RUNNING])
        assert len(on_gpu) == 2, f"round {round_}: {len(on_gpu)} jobs on a backend with two slots"
        assert len(taken) == (2 if round_ == 0 else 1)
        done = min(on_gpu, key=lambda job: job.id)
        assert await stores[1].jobs.transition(done.id, JobState.SUBMITTED, JobState.FETCHED, T0,
                                               owner=done.owner, output_path="x")


async def test_only_the_owner_moves_an_owned_job(db: Store) -> None:
    await queue(db, new_job())
    job_id = await _claim(db, "a", 1)
    assert job_id is not None
    assert not await db.jobs.transition(job_id, JobState.SUBMITTED, JobState.RUNNING, T0, owner="b")
    assert not await db.jobs.replace_prompt_id(job_id, "a-1", "theirs", T0, owner="b")
    assert await db.jobs.replace_prompt_id(job_id, "a-1", "ours", T0, owner="a")
    assert await db.jobs.transition(job_id, JobState.SUBMITTED, JobState.RUNNING, T0, owner="a")
    # A cancel is anybody's (a member, a moderator): the owner learns it from the notice.
    assert await db.jobs.transition(job_id, JobState.RUNNING, JobState.CANCELLED, T0, cancelled_by=7)


async def test_going_back_to_the_queue_lets_go_of_the_job(db: Store) -> None:
    await queue(db, new_job())
    job_id = await _claim(db, "a", 1)
    assert job_id is not None
    assert await db.jobs.transition(job_id, JobState.SUBMITTED, JobState.QUEUED, T0, owner="a")
    job = await db.jobs.get(job_id)
    assert job is not None and (job.owner, job.lease_until, job.claimed_by) == (None, None, None)
    assert await db.jobs.adopt(lease("b"), T0 + 3600) == []  # queued jobs are nobody's to adopt


async def test_the_heartbeat_renews_every_job_of_its_owner_and_names_them(db: Store) -> None:
    await queue(db, *(new_job(user) for user in range(4)))
    mine = [await _claim(db, "a", n, capacity=None) for n in range(3)]
    theirs = await _claim(db, "b", 9, capacity=None)
    assert None not in mine and theirs is not None
    assert await db.jobs.transition(mine[2], JobState.SUBMITTED, JobState.FAILED, T0, owner="a",
                                    error_code="x", error_text="y")
    assert await db.jobs.renew(Lease("a", T0 + 100), [*mine, theirs]) == sorted(mine[:2])  # type: ignore[type-var]
    assert [(await db.jobs.get(j)).lease_until for j in mine[:2]] == [T0 + 100] * 2  # type: ignore[union-attr]
    assert (await db.jobs.get(theirs)).lease_until == T0 + LEASE  # type: ignore[union-attr]


async def test_a_job_is_adopted_only_once_its_lease_has_run_out(db: Store) -> None:
    await queue(db, *(new_job(user) for user in range(3)))
    running = await _claim(db, "dead", 1, capacity=None)
    fetched = await _claim(db, "dead", 2, capacity=None)
    alive = await _claim(db, "alive", 3, capacity=None, now=T0 + 10)
    assert running and fetched and alive
    assert await db.jobs.transition(running, JobState.SUBMITTED, JobState.RUNNING, T0, owner="dead")
    assert await db.jobs.transition(fetched, JobState.SUBMITTED, JobState.FETCHED, T0, owner="dead",
                                    output_path="/elsewhere/job.mp4")
    assert await db.jobs.next_expiry("me") == T0 + LEASE
    assert await db.jobs.next_expiry("dead") == T0 + 10 + LEASE
    assert await db.jobs.adopt(lease("me", T0 + LEASE - 1), T0 + LEASE - 1) == []  # not yet
    adopted = await db.jobs.adopt(lease("me", T0 + LEASE + 1), T0 + LEASE + 1)
    assert [(job.id, job.state, job.owner, job.claimed_by) for job in adopted] == [
        (running, JobState.RUNNING, "me", "dead"), (fetched, JobState.FETCHED, "me", "dead")]
    assert adopted[1].output_path == "/elsewhere/job.mp4" and adopted[0].prompt_id == "dead-1"
    # The dead owner, back from a pause, has nothing left to renew or to move.
    assert await db.jobs.renew(Lease("dead", T0 + 100), [running, fetched]) == []
    assert not await db.jobs.transition(running, JobState.RUNNING, JobState.FETCHED, T0, owner="dead")
    # The ones it follows it renews; one whose lease it let run out it adopts like anyone's.
    assert await db.jobs.renew(lease("me", T0 + 3600), [running]) == [running]
    assert [job.id for job in await db.jobs.adopt(lease("me", T0 + 3600), T0 + 3600)] == [fetched, alive]


async def test_of_processes_adopting_at_once_each_job_goes_to_exactly_one(open_db: OpenDb) -> None:
    stores = [await open_db() for _ in range(4)]
    await queue(stores[0], *(new_job(user) for user in range(12)))
    for n in range(12):
        assert await _claim(stores[0], "dead", n, capacity=None) is not None
    later = T0 + LEASE + 1
    results = await asyncio.gather(*(db.jobs.adopt(lease(f"p{i}", later), later) for i, db in enumerate(stores)))
    adopted = [job.id for jobs in results for job in jobs]
    assert sorted(adopted) == sorted(set(adopted)) and len(adopted) == 12
    owners = {job.id: job.owner for job in await stores[0].jobs.in_states([JobState.SUBMITTED])}
    assert all(owners[job.id] == f"p{i}" for i, jobs in enumerate(results) for job in jobs)


async def test_a_clean_stop_releases_its_jobs_for_adoption_at_once(open_db: OpenDb) -> None:
    here, there = await open_db(), await open_db()
    heard: asyncio.Queue[ChangeKind] = asyncio.Queue()
    there.subscribe(lambda change: heard.put_nowait(change.kind))
    await queue(here, new_job(), new_job(2))
    job_ids = [await _claim(here, "stopping", n) for n in range(2)]
    assert await here.jobs.release("nobody") == 0
    assert await here.jobs.release("stopping") == 2
    assert await there.jobs.next_expiry("successor") == 0
    adopted = await there.jobs.adopt(lease("successor", T0 + 1), T0 + 1)
    assert [job.id for job in adopted] == job_ids
    if type(there).__name__ == "PostgresStore":  # SQLite's notices stay in their process
        async with asyncio.timeout(5):
            while await heard.get() is not ChangeKind.ADOPTABLE:
                pass
