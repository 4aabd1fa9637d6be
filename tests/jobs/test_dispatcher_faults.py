"""The dispatcher when things go wrong at awkward moments: a requeued job re-claimed before
its old task ended, a server that picks its own prompt ids, a health probe that raises, a
cancel that fails, a cancel racing the download, a stalled prompt, no delivery retries."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from bot.comfy.errors import BackendDown
from bot.comfy.watch import Watch
from bot.jobs import JobState
from bot.jobs.dispatcher import DeliveryFailed, Dispatcher, JobObserver
from storage import JobRecord
from tests.fakes.comfyui import FakeComfyUI
from tests.jobs.dispatch_rig import Rig, ScriptedClient, queue_depths


class SlowRequeueCards(JobObserver):
    """A status card whose edit for a requeued job takes until the job was claimed again:
    it holds the requeueing task between the requeue and the end of its bookkeeping."""

    def __init__(self) -> None:
        self.dispatcher: Dispatcher | None = None
        self.reclaimed = asyncio.Event()

    async def on_state(self, job: JobRecord) -> None:
        if job.state is JobState.QUEUED and job.attempts == 1:
            assert self.dispatcher is not None
            self.dispatcher.kick()  # as a /video of someone else would, meanwhile
            await self.reclaimed.wait()
        elif job.state is JobState.SUBMITTED and job.attempts == 2:
            self.reclaimed.set()


async def _requeued_and_reclaimed(rig: Rig, fake: FakeComfyUI) -> tuple[Dispatcher, JobRecord]:
    """One job lost by a ComfyUI restart and claimed again before its first task finished."""
    cards = SlowRequeueCards()
    d = cards.dispatcher = rig.dispatcher(fake, prefetch=1)
    await rig.start(d, cards)
    job = await rig.enqueue(1)
    await rig.until(lambda: fake.running is not None)
    await fake.restart()  # the prompt is lost: the job goes back to the queue
    await asyncio.wait_for(cards.reclaimed.wait(), 10)
    await rig.until(lambda: len(fake.accepted) == 2)  # the second attempt is on ComfyUI
    return d, await rig.job(job.id)


def _job_tasks(job_id: int) -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == f"job-{job_id}" and not t.done()]


async def test_stop_reaches_a_job_reclaimed_before_its_old_task_ended(rig: Rig) -> None:
    async with FakeComfyUI(steps=20, step_seconds=0.1) as fake:
        d, job = await _requeued_and_reclaimed(rig, fake)
        assert job.attempts == 2 and job.state in (JobState.SUBMITTED, JobState.RUNNING)
        (view,) = d.backend_views()
        assert view.job_ids == (job.id,)  # the old task's clean-up left the new attempt alone
        await d.stop()
        assert _job_tasks(job.id) == []  # nobody follows it any more (the next start re-attaches)


async def test_a_reclaimed_job_still_counts_against_the_prefetch_depth(rig: Rig) -> None:
    async with FakeComfyUI(steps=10, step_seconds=0.05) as fake:
        depth = queue_depths(fake)
        d, first = await _requeued_and_reclaimed(rig, fake)
        others = [await rig.enqueue(u) for u in (2, 3, 4)]
        states = await rig.settle(first.id, *(j.id for j in others), timeout=20)
    assert states == [JobState.DELIVERED] * 4
    assert rig.deliveries.count() == Counter({j: 1 for j in (first.id, *(o.id for o in others))})
    assert max(depth) == 2  # running + one prefetched, never more


async def test_a_server_that_picks_its_own_prompt_ids_runs_each_job_once(rig: Rig) -> None:
    async with FakeComfyUI(steps=2, step_seconds=0.01, ignore_prompt_id=True) as fake:
        await rig.start(rig.dispatcher(fake))
        job = await rig.enqueue(1)
        (state,) = await rig.settle(job.id)
        record = await rig.job(job.id)
    (accepted,) = fake.accepted
    assert state is JobState.DELIVERED and record.attempts == 1
    assert record.prompt_id == accepted.prompt_id  # the server's id, so cancel and re-attach find it


async def test_cancel_and_reattach_use_the_id_the_server_answered(rig: Rig) -> None:
    async with FakeComfyUI(steps=8, step_seconds=0.1, ignore_prompt_id=True) as fake:
        first = rig.dispatcher(fake, prefetch=1)
        await rig.start(first)
        running, prefetched = await rig.enqueue(1), await rig.enqueue(2)
        await rig.until(lambda: fake.running is not None and len(fake.queue_pending) == 1)
        await rig.until(lambda: len(fake.accepted) == 2)
        await rig.reach(running.id, JobState.RUNNING)
        await first.stop()
        rig.dispatchers.remove(first)
        second = rig.dispatcher(fake, prefetch=1)
        await rig.start(second)
        await second.cancel(prefetched.id, by=2)
        (state,) = await rig.settle(running.id, timeout=15)
        cancelled = await rig.job(prefetched.id)
    assert state is JobState.DELIVERED and (await rig.job(running.id)).attempts == 1
    assert cancelled.state is JobState.CANCELLED
    assert cancelled.prompt_id not in fake.history  # taken off ComfyUI's queue before it ran
    assert len(fake.accepted) == 2  # nothing was submitted twice


async def test_the_health_loop_survives_a_probe_that_raises(rig: Rig) -> None:
    async with FakeComfyUI(steps=2, step_seconds=0.01) as fake:
        backend = rig.scripted(fake)
        d = rig.dispatcher(backend)
        await rig.start(d)
        assert isinstance(backend.client, ScriptedClient)
        spent = backend.client.fail("system_stats", BackendDown("gone", backend=backend.name),
                                    RuntimeError("a bug in a probe"))
        await asyncio.wait_for(spent.wait(), 10)  # marked down, then the probe raised
        job = await rig.enqueue(1)
        assert await rig.settle(job.id) == [JobState.DELIVERED]  # the backend came back


async def test_every_abandoned_prompt_is_taken_off_a_backend_that_comes_back(rig: Rig) -> None:
    async with FakeComfyUI(steps=2, step_seconds=0.01, paused=True) as fake:
        backend = rig.scripted(fake)
        d = rig.dispatcher(backend, prefetch=1)
        await rig.start(d)
        assert isinstance(backend.client, ScriptedClient)
        jobs = [await rig.enqueue(1), await rig.enqueue(2)]
        await rig.until(lambda: len(fake.queue_pending) == 2)
        first, second = [(await rig.job(j.id)).prompt_id for j in jobs]
        down = BackendDown("gone", backend=backend.name)
        # The members' cancels cannot reach the backend; once it is back, taking the first
        # prompt off fails once more, and the second must not be forgotten because of it.
        backend.client.fail(f"cancel {first}", down, down)
        backend.client.fail(f"cancel {second}", down)
        for job in jobs:
            await d.cancel(job.id, by=job.user_id)
        await asyncio.wait_for(backend.client.fail("system_stats", down).wait(), 10)  # down, then up
        await rig.until(lambda: not fake.queue_pending)
    assert await rig.states(*(j.id for j in jobs)) == [JobState.CANCELLED] * 2


async def test_a_cancel_during_the_download_leaves_no_file_behind(rig: Rig) -> None:
    store = rig.jobs.db.jobs
    transition = store.transition

    async def cancel_first(job_id: int, from_state: JobState, to_state: JobState, now: float,
                           **fields: Any) -> bool:
        if to_state is JobState.FETCHED:  # the member's cancel lands just before it
            await rig.scheduler.cancel(job_id, 1)
        return await transition(job_id, from_state, to_state, now, **fields)
    store.transition = cancel_first  # type: ignore[method-assign]
    async with FakeComfyUI(steps=2, step_seconds=0.01) as fake:
        await rig.start(rig.dispatcher(fake))
        job = await rig.enqueue(1)
        assert await rig.settle(job.id) == [JobState.CANCELLED]
        await asyncio.wait_for(rig.dispatchers[0].wait_idle(), 10)
    assert list(rig.outputs.glob("job-*")) == []
    assert not rig.deliveries.calls


async def test_without_delivery_retries_a_post_is_still_made_once(rig: Rig) -> None:
    async with FakeComfyUI(steps=2, step_seconds=0.01) as fake:
        await rig.start(rig.dispatcher(fake, delivery_retries=0))
        delivered = await rig.enqueue(1)
        assert await rig.settle(delivered.id) == [JobState.DELIVERED]
        rig.deliveries.fail_next = [DeliveryFailed("discord 503")]
        failed = await rig.enqueue(2)
        assert await rig.settle(failed.id) == [JobState.FAILED]  # no retry was asked for
    assert rig.deliveries.count() == Counter({delivered.id: 1})
    assert (await rig.job(failed.id)).error_code == "delivery_failed"


async def test_a_stalled_prompt_is_taken_off_comfyui_before_the_job_is_requeued(rig: Rig) -> None:
    async with FakeComfyUI(steps=2, step_seconds=0.01, paused=True) as fake:
        stall = Watch(stall_seconds=0.5, poll_connected=0.1, poll_disconnected=0.1)
        await rig.start(rig.dispatcher(fake, prefetch=0, max_attempts=1, watch=stall))
        job = await rig.enqueue(1)
        (state,) = await rig.settle(job.id)
        assert fake.queue_pending == []  # not left to render for nobody once the GPU is free
    record = await rig.job(job.id)
    assert state is JobState.FAILED and record.error_code == "backend_failed"
    assert "showed no progress" in (record.error_text or "")
