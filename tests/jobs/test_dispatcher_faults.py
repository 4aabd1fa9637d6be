"""The dispatcher when things go wrong at awkward moments: a server that picks its own prompt
ids, a stalled prompt."""

from __future__ import annotations

from bot.comfy.watch import Watch
from bot.jobs import JobState
from tests.fakes.comfyui import FakeComfyUI
from tests.jobs.dispatch_rig import Rig


async def test_a_server_that_picks_its_own_prompt_ids_runs_each_job_once(rig: Rig) -> None:
    async with FakeComfyUI(steps=2, step_seconds=0.01, ignore_prompt_id=True) as fake:
        await rig.dispatcher(fake).start()
        job = await rig.enqueue(1)
        (state,) = await rig.settle(job.id)
        record = await rig.job(job.id)
    (accepted,) = fake.accepted
    assert state is JobState.DELIVERED and record.attempts == 1
    assert record.prompt_id == accepted.prompt_id  # the server's id, so cancel and re-attach find it


async def test_cancel_and_reattach_use_the_id_the_server_answered(rig: Rig) -> None:
    async with FakeComfyUI(steps=8, step_seconds=0.1, ignore_prompt_id=True) as fake:
        first = rig.dispatcher(fake, prefetch=1)
        await first.start()
        running, prefetched = await rig.enqueue(1), await rig.enqueue(2)
        await rig.until(lambda: fake.running is not None and len(fake.queue_pending) == 1)
        await rig.until(lambda: len(fake.accepted) == 2)
        await rig.reach(running.id, JobState.RUNNING)
        await first.stop()
        rig.dispatchers.remove(first)
        second = rig.dispatcher(fake, prefetch=1)
        await second.start()
        await second.cancel(prefetched.id, by=2)
        (state,) = await rig.settle(running.id, timeout=15)
        cancelled = await rig.job(prefetched.id)
    assert state is JobState.DELIVERED and (await rig.job(running.id)).attempts == 1
    assert cancelled.state is JobState.CANCELLED
    assert cancelled.prompt_id not in fake.history  # taken off ComfyUI's queue before it ran
    assert len(fake.accepted) == 2  # nothing was submitted twice


async def test_a_stalled_prompt_is_taken_off_comfyui_before_the_job_is_requeued(rig: Rig) -> None:
    async with FakeComfyUI(steps=2, step_seconds=0.01, paused=True) as fake:
        stall = Watch(stall_seconds=0.5, poll_connected=0.1, poll_disconnected=0.1)
        await rig.dispatcher(fake, prefetch=0, max_attempts=1, watch=stall).start()
        job = await rig.enqueue(1)
        (state,) = await rig.settle(job.id)
        assert fake.queue_pending == []  # not left to render for nobody once the GPU is free
    record = await rig.job(job.id)
    assert state is JobState.FAILED and record.error_code == "backend_failed"
    assert "showed no progress" in (record.error_text or "")

