"""The state machine: every allowed move works once, every forbidden one is refused."""

from __future__ import annotations

import itertools

import pytest

from storage import TRANSITIONS, Store, InvalidTransition, JobState
from tests.storage.conftest import T0, new_job, queue

ALL_PAIRS = list(itertools.product(JobState, JobState))
ALLOWED = [(a, b) for a, b in ALL_PAIRS if b in TRANSITIONS[a]]
FORBIDDEN = [(a, b) for a, b in ALL_PAIRS if b not in TRANSITIONS[a]]

# A shortest path from queued to each state, using allowed moves only.
PATH_TO: dict[JobState, list[JobState]] = {
    JobState.QUEUED: [],
    JobState.SUBMITTED: [JobState.SUBMITTED],
    JobState.RUNNING: [JobState.SUBMITTED, JobState.RUNNING],
    JobState.FETCHED: [JobState.SUBMITTED, JobState.RUNNING, JobState.FETCHED],
    JobState.DELIVERED: [JobState.SUBMITTED, JobState.FETCHED, JobState.DELIVERED],
    JobState.FAILED: [JobState.FAILED],
    JobState.CANCELLED: [JobState.CANCELLED],
}


async def _job_in(db: Store, state: JobState) -> int:
    (job,) = await queue(db, new_job())
    current = JobState.QUEUED
    for step in PATH_TO[state]:
        assert await db.jobs.transition(job.id, current, step, T0)
        current = step
    return job.id


def test_the_table_covers_every_state_and_finished_states_are_final() -> None:
    assert set(TRANSITIONS) == set(JobState)
    for state in (JobState.DELIVERED, JobState.FAILED, JobState.CANCELLED):
        assert TRANSITIONS[state] == frozenset()
    assert len(ALLOWED) == 14


@pytest.mark.parametrize(("from_state", "to_state"), ALLOWED, ids=lambda s: s.value)
async def test_allowed_move_happens_once(
    db: Store, from_state: JobState, to_state: JobState
) -> None:
    job_id = await _job_in(db, from_state)
    assert await db.jobs.transition(job_id, from_state, to_state, T0 + 5)
    moved = await db.jobs.get(job_id)
    assert moved is not None and moved.state is to_state
    assert getattr(moved, f"{to_state.value}_at") == T0 + 5
    assert moved.updated_at == T0 + 5
    # The same move again finds the job no longer in `from_state`: nothing happens.
    assert not await db.jobs.transition(job_id, from_state, to_state, T0 + 6)
    assert (await db.jobs.get(job_id)).updated_at == T0 + 5  # type: ignore[union-attr]


@pytest.mark.parametrize(("from_state", "to_state"), FORBIDDEN, ids=lambda s: s.value)
async def test_forbidden_move_is_refused(
    db: Store, from_state: JobState, to_state: JobState
) -> None:
    job_id = await _job_in(db, from_state)
    with pytest.raises(InvalidTransition):
        await db.jobs.transition(job_id, from_state, to_state, T0)
    assert (await db.jobs.get(job_id)).state is from_state  # type: ignore[union-attr]


async def test_move_from_a_state_the_job_is_not_in_does_nothing(db: Store) -> None:
    job_id = await _job_in(db, JobState.RUNNING)
    assert not await db.jobs.transition(job_id, JobState.SUBMITTED, JobState.FAILED, T0)
    assert (await db.jobs.get(job_id)).state is JobState.RUNNING  # type: ignore[union-attr]


async def test_fields_are_stored_with_the_move(db: Store) -> None:
    job_id = await _job_in(db, JobState.RUNNING)
    assert await db.jobs.transition(
        job_id,
        JobState.RUNNING,
        JobState.FAILED,
        T0,
        error_code="oom",
        error_text="CUDA out of memory",
    )
    job = await db.jobs.get(job_id)
    assert job is not None and (job.error_code, job.error_text) == ("oom", "CUDA out of memory")


async def test_unknown_field_is_refused(db: Store) -> None:
    job_id = await _job_in(db, JobState.QUEUED)
    with pytest.raises(ValueError, match="not settable"):
        await db.jobs.transition(job_id, JobState.QUEUED, JobState.FAILED, T0, state="delivered")


async def test_requeue_forgets_the_lost_submission(db: Store) -> None:
    (job,) = await queue(db, new_job())
    claimed = await db.jobs.claim_next("gpu-a", "lost-prompt", T0 + 1)
    assert claimed is not None and claimed.attempts == 1 and claimed.prompt_id == "lost-prompt"
    assert await db.jobs.transition(job.id, JobState.SUBMITTED, JobState.QUEUED, T0 + 2)
    requeued = await db.jobs.get(job.id)
    assert requeued is not None
    assert (requeued.backend, requeued.prompt_id, requeued.queued_at) == (None, None, T0 + 2)
    assert await db.jobs.by_prompt_id("lost-prompt") is None
    again = await db.jobs.claim_next("gpu-b", "second-prompt", T0 + 3)
    assert again is not None and again.id == job.id and again.attempts == 2


async def test_delivery_records_the_message_once(db: Store) -> None:
    job_id = await _job_in(db, JobState.FETCHED)
    assert await db.jobs.transition(
        job_id, JobState.FETCHED, JobState.DELIVERED, T0, result_message_id=777
    )
    assert not await db.jobs.transition(
        job_id, JobState.FETCHED, JobState.DELIVERED, T0, result_message_id=888
    )
    assert (await db.jobs.get(job_id)).result_message_id == 777  # type: ignore[union-attr]


async def test_the_prompt_id_the_server_answered_replaces_the_claimed_one(db: Store) -> None:
    (job,) = await queue(db, new_job())
    await db.jobs.claim_next("gpu-a", "ours", T0 + 1)
    assert not await db.jobs.replace_prompt_id(job.id, "someone-elses", "theirs", T0 + 2)
    assert await db.jobs.replace_prompt_id(job.id, "ours", "theirs", T0 + 2)
    moved = await db.jobs.get(job.id)
    assert moved is not None and (moved.prompt_id, moved.updated_at) == ("theirs", T0 + 2)
    assert (await db.jobs.by_prompt_id("theirs")) == moved and await db.jobs.by_prompt_id("ours") is None
    assert await db.jobs.transition(job.id, JobState.SUBMITTED, JobState.RUNNING, T0 + 3)
    assert await db.jobs.replace_prompt_id(job.id, "theirs", "again", T0 + 4)
    assert await db.jobs.transition(job.id, JobState.RUNNING, JobState.CANCELLED, T0 + 5)
    assert not await db.jobs.replace_prompt_id(job.id, "again", "late", T0 + 6)  # finished: left alone
