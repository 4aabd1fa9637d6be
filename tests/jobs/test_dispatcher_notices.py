"""The dispatcher is woken by the store's change notices, from this process or (PostgreSQL)
another one: nobody calls `kick()` here, and the safety-net poll is set to an hour.

Each test first waits until the claim loop has made its pass and found nothing to do (seen by
wrapping the dispatcher's store), so only a notice can make it look again."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.jobs import JobState
from storage import AuditEntry, NewJob, QueueControl, Store
from tests.fakes.comfyui import FakeComfyUI
from tests.jobs.conftest import GUILD, Jobs
from tests.jobs.dispatch_rig import Rig
from tests.storage.conftest import OpenDb
from tests.stores import each_engine  # noqa: F401  (every test runs on both engines)

AN_HOUR = 3600.0


def _job(user: int) -> NewJob:
    params = {"prompt": "a cat", "frames": 17, "width": 832, "height": 480, "steps": 15}
    return NewJob(GUILD, 20, user, "wan-native", params, cost=1, round=0)


def _found_nothing(store: Store) -> asyncio.Event:
    """Set each time a claim on `store` comes back empty."""
    empty = asyncio.Event()
    claim_next = store.jobs.claim_next

    async def watched(*args: Any, **kwargs: Any) -> Any:
        job = await claim_next(*args, **kwargs)
        if job is None:
            empty.set()
        return job

    store.jobs.claim_next = watched  # type: ignore[method-assign]
    return empty


async def _other_process(jobs: Jobs, open_db: OpenDb) -> Store:
    """Another process's store on PostgreSQL; on SQLite (notices are in-process only) the
    dispatcher's own."""
    other = await open_db()
    return other if type(other).__name__ == "PostgresStore" else jobs.db


async def test_a_job_queued_by_another_process_is_claimed_without_a_kick(
    rig: Rig, jobs: Jobs, open_db: OpenDb
) -> None:
    other = await _other_process(jobs, open_db)
    idle = _found_nothing(jobs.db)
    async with FakeComfyUI(steps=2, step_seconds=0.01) as fake:
        await rig.start(rig.dispatcher(fake, prefetch=0, poll_interval=AN_HOUR))
        async with asyncio.timeout(10):
            await idle.wait()
        job = await other.jobs.create(_job(1), jobs.clock.now())
        assert await rig.settle(job.id) == [JobState.DELIVERED]


async def test_undraining_in_another_process_wakes_the_claims(rig: Rig, jobs: Jobs, open_db: OpenDb) -> None:
    other = await _other_process(jobs, open_db)
    await other.control.save(QueueControl(draining=True), AuditEntry(jobs.clock.now(), 9, "drain"))
    job = await jobs.db.jobs.create(_job(2), jobs.clock.now())
    drained = asyncio.Event()
    get_control = jobs.db.control.get

    async def watched() -> QueueControl:
        control = await get_control()
        if control.draining:
            drained.set()
        return control

    jobs.db.control.get = watched  # type: ignore[method-assign]
    async with FakeComfyUI(steps=2, step_seconds=0.01) as fake:
        await rig.start(rig.dispatcher(fake, prefetch=0, poll_interval=AN_HOUR))
        async with asyncio.timeout(10):
            await drained.wait()
        await other.control.save(QueueControl(draining=False), AuditEntry(jobs.clock.now(), 9, "undrain"))
        assert await rig.settle(job.id) == [JobState.DELIVERED]
