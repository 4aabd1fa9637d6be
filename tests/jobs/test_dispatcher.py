"""The dispatcher on a real SQLite store and emulated ComfyUI backends: delivery exactly once,
prefetch depth, failover, cancel in every state, failures, restarts and recovery."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bot.identity import ProcessIdentity
from bot.jobs import CancelOutcome, JobState
from bot.jobs.dispatcher import DeliveryFailed
from tests.fakes.comfyui import FakeComfyUI
from tests.jobs.dispatch_rig import Deliveries, Rig, queue_depths


async def test_jobs_are_delivered_exactly_once_in_fair_order(rig: Rig) -> None:
    async with FakeComfyUI(steps=2, step_seconds=0.01) as fake:
        a = [await rig.enqueue(1, f"a{i}") for i in range(3)]
        b = await rig.enqueue(2, "b0")
        d = rig.dispatcher(fake, prefetch=0)
        await rig.start(d)
        states = await rig.settle(*(j.id for j in a), b.id)
    assert states == [JobState.DELIVERED] * 4
    assert rig.deliveries.count() == Counter({j.id: 1 for j in [*a, b]})
    # Round-robin: user 2's single job went second, not after all of user 1's.
    assert [job_id for job_id, _ in rig.deliveries.calls] == [a[0].id, b.id, a[1].id, a[2].id]
    for job_id, data in rig.deliveries.calls:
        assert data[4:8] == b"ftyp"
        record = await rig.jobs.db.jobs.get(job_id)
        assert record.result_message_id == 900_000 + job_id and record.attempts == 1
        assert not Path(record.output_path).exists()  # the local copy is removed once posted


async def test_each_backend_holds_at_most_running_plus_one_prefetched(rig: Rig) -> None:
    async with FakeComfyUI(steps=2, step_seconds=0.05) as fake:
        jobs = [await rig.enqueue(u) for u in range(1, 7)]
        seen_depth = queue_depths(fake)
        await rig.start(rig.dispatcher(fake, prefetch=1))
        await rig.settle(*(j.id for j in jobs))
    assert max(seen_depth) == 2
    assert 2 in seen_depth  # the next job really was waiting in ComfyUI's queue (no GPU gap)


async def test_failover_when_a_backend_dies_mid_job(rig: Rig) -> None:
    async with FakeComfyUI(steps=10, step_seconds=0.1) as dying, FakeComfyUI(steps=2, step_seconds=0.01) as healthy:
        healthy.pause()  # make sure the first job lands on `dying`
        d = rig.dispatcher(dying, healthy, prefetch=0)
        await rig.start(d)
        job = await rig.enqueue(1)
        await rig.until(lambda: dying.running is not None)
        healthy.resume()
        await dying.stop()
        (state,) = await rig.settle(job.id, timeout=15)
    record = await rig.jobs.db.jobs.get(job.id)
    assert state is JobState.DELIVERED
    assert record.backend == d.backend_views()[1].name and record.attempts == 2
    assert rig.deliveries.count() == Counter({job.id: 1})


async def test_lost_prompt_after_comfyui_restart_is_resubmitted(rig: Rig) -> None:
    async with FakeComfyUI(steps=6, step_seconds=0.1) as fake:
        await rig.start(rig.dispatcher(fake, prefetch=0))
        job = await rig.enqueue(1)
        await rig.until(lambda: fake.running is not None)
        await fake.restart()
        (state,) = await rig.settle(job.id, timeout=15)
    assert state is JobState.DELIVERED
    assert (await rig.jobs.db.jobs.get(job.id)).attempts == 2
    assert rig.deliveries.count() == Counter({job.id: 1})


async def test_attempts_are_capped(rig: Rig) -> None:
    async with FakeComfyUI(steps=6, step_seconds=0.1) as fake:
        await rig.start(rig.dispatcher(fake, prefetch=0, max_attempts=2))
        job = await rig.enqueue(1)
        for _ in range(2):
            await rig.until(lambda: fake.running is not None)
            await fake.restart()
        (state,) = await rig.settle(job.id, timeout=15)
    record = await rig.jobs.db.jobs.get(job.id)
    assert state is JobState.FAILED and record.error_code == "backend_failed"
    assert not rig.deliveries.calls


async def test_cancel_in_every_state(rig: Rig) -> None:
    async with FakeComfyUI(steps=20, step_seconds=0.1) as fake:
        d = rig.dispatcher(fake, prefetch=1)
        running, prefetched, queued = [await rig.enqueue(u) for u in (1, 2, 3)]
        await rig.start(d)
        await rig.until(lambda: fake.running is not None and len(fake.queue_pending) == 1)
        refused = await d.cancel(running.id, by=99)
        assert refused.outcome is CancelOutcome.NOT_ALLOWED
        for job in (queued, prefetched, running):
            result = await d.cancel(job.id, by=job.user_id)
            assert result.outcome is CancelOutcome.CANCELLED
        await rig.until(lambda: fake.running is None and not fake.queue_pending)
        await fake.wait_idle()
        record = await rig.jobs.db.jobs.get(running.id)
        assert record.cancelled_by == 1
        interrupted = fake.history[record.prompt_id]
        prefetched_id = (await rig.jobs.db.jobs.get(prefetched.id)).prompt_id
    assert interrupted["status"]["status_str"] == "error"
    assert any(m[0] == "execution_interrupted" for m in interrupted["status"]["messages"])
    assert prefetched_id not in fake.history  # deleted from ComfyUI's queue before it ran
    assert await rig.states(running.id, prefetched.id, queued.id) == [JobState.CANCELLED] * 3
    assert not rig.deliveries.calls


async def test_admin_cancels_anyone_and_it_is_audited(rig: Rig) -> None:
    async with FakeComfyUI(steps=2, step_seconds=0.01) as fake:
        d = rig.dispatcher(fake)
        job = await rig.enqueue(1)
        result = await d.cancel(job.id, by=50, is_admin=True)
    assert result.outcome is CancelOutcome.CANCELLED and result.job.cancelled_by == 50
    (entry,) = await rig.jobs.db.audit.recent(job.guild_id)
    assert entry.action == "cancel" and entry.actor_id == 50 and entry.target == f"job:{job.id}"


async def test_out_of_memory_fails_the_job_and_gives_the_quota_back(rig: Rig) -> None:
    async with FakeComfyUI(steps=2, step_seconds=0.01, fail_execution=1, failure_kind="oom") as fake:
        await rig.start(rig.dispatcher(fake))
        job = await rig.enqueue(1)
        (state,) = await rig.settle(job.id)
    record = await rig.jobs.db.jobs.get(job.id)
    assert state is JobState.FAILED and record.error_code == "out_of_memory"
    assert "OutOfMemoryError" in record.error_text


async def test_delivery_retries_transient_failures_and_gives_up_on_permanent(rig: Rig) -> None:
    rig.deliveries.fail_next = [DeliveryFailed("discord 503"), DeliveryFailed("missing access", permanent=True)]
    async with FakeComfyUI(steps=2, step_seconds=0.01) as fake:
        await rig.start(rig.dispatcher(fake, prefetch=0))
        first = await rig.enqueue(1)
        assert await rig.settle(first.id) == [JobState.FAILED]  # 503 retried, then a permanent refusal
        second = await rig.enqueue(2)
        assert await rig.settle(second.id) == [JobState.DELIVERED]
    assert (await rig.jobs.db.jobs.get(first.id)).error_code == "delivery_failed"


async def test_a_backend_lacking_a_model_gets_no_work(rig: Rig) -> None:
    async with FakeComfyUI() as lacking, FakeComfyUI(steps=2, step_seconds=0.01) as complete:
        lacking.models = {**lacking.models, "vae": []}
        d = rig.dispatcher(lacking, complete)
        await rig.start(d)
        jobs = [await rig.enqueue(u) for u in (1, 2, 3)]
        await rig.settle(*(j.id for j in jobs))
    assert not lacking.accepted
    assert [view.usable for view in d.backend_views()] == [False, True]


async def test_a_restarted_dispatcher_reattaches_and_delivers_once(rig: Rig) -> None:
    async with FakeComfyUI(steps=8, step_seconds=0.1) as fake:
        first = rig.dispatcher(fake, prefetch=1)
        await rig.start(first)
        jobs = [await rig.enqueue(u) for u in (1, 2, 3)]
        # One running, one prefetched behind it in ComfyUI's queue, one still in ours.
        await rig.until(lambda: fake.running is not None and len(fake.queue_pending) == 1)
        await first.stop()  # the process goes away; ComfyUI keeps running its prompts
        rig.dispatchers.remove(first)
        assert JobState.SUBMITTED in await rig.states(*(j.id for j in jobs))  # the prefetched one
        await rig.start(rig.dispatcher(fake, prefetch=1))
        states = await rig.settle(*(j.id for j in jobs), timeout=20)
    assert states == [JobState.DELIVERED] * 3
    assert rig.deliveries.count() == Counter({j.id: 1 for j in jobs})
    assert len(fake.accepted) == 3  # nothing was submitted twice


async def test_finished_jobs_feed_the_metrics(rig: Rig) -> None:
    from bot.ops.metrics import Metrics

    async with FakeComfyUI(steps=2, step_seconds=0.01) as fake:
        d = rig.dispatcher(fake, metrics=Metrics(job_states=[s.value for s in JobState]))
        await rig.start(d)
        delivered = await rig.enqueue(1)
        await rig.settle(delivered.id)
        fake.pause()
        cancelled = await rig.enqueue(2)
        await rig.until(lambda: bool(fake.queue_pending))
        await d.cancel(cancelled.id, by=2)
    text = d.metrics.render()[0].decode()
    assert 'wanbot_jobs_finished_total{outcome="delivered"} 1.0' in text
    assert 'wanbot_jobs_finished_total{outcome="cancelled"} 1.0' in text
    assert "wanbot_job_running_seconds_count 1.0" in text
    assert "wanbot_job_queued_seconds_count 2.0" in text


async def test_restart_sweeps_videos_left_behind_by_a_crash(rig: Rig) -> None:
    outputs = rig.tmp / "outputs"
    outputs.mkdir()
    (outputs / "job-999.mp4").write_bytes(b"posted before the crash")
    (outputs / "job-998.mp4.part").write_bytes(b"half a download")
    async with FakeComfyUI(steps=2, step_seconds=0.01) as fake:
        d = rig.dispatcher(fake)
        await rig.start(d)
    assert not list(outputs.iterdir())


async def test_each_start_is_a_new_process_whose_backends_speak_as_it(tmp_path: Path) -> None:
    """The ComfyUI clientId is the process's identity, new at each start: a restarted process
    never takes over the socket of a process that adopted its old prompts (it borrows its old
    identity's socket like anyone would)."""
    from bot.services import Services
    from bot.settings import load_settings

    settings = load_settings(db_path=tmp_path / "a.db", comfyui_urls=["http://gpu1:8188", "http://gpu2:8188"])
    identities = []
    for _ in range(2):
        services = await Services.open(settings)
        try:
            identity = services.dispatcher.identity
            assert {b.client.client_id for b in services.backends} == {identity.id}
            identities.append(identity)
        finally:
            await services.close()
    assert identities[0].id != identities[1].id


def test_a_backend_speaking_as_another_process_is_refused(rig: Rig) -> None:
    other = rig.backend(FakeComfyUI(), ProcessIdentity.new())  # not started: never contacted
    with pytest.raises(ValueError, match="not as this process"):
        rig.dispatcher(other)


async def test_with_two_workflows_a_backend_runs_those_it_can(tmp_path: Path) -> None:
    from bot.services import Services
    from bot.settings import load_settings

    async with FakeComfyUI() as lacks_native, FakeComfyUI() as complete:
        lacks_native.models = {**lacks_native.models, "vae": [n for n in lacks_native.models["vae"]
                                                                if "wan_2.1_vae" not in n]}
        settings = load_settings(db_path=tmp_path / "w.db", workflow="wan-wrapper,wan-native",
                                 comfyui_urls=[lacks_native.url, complete.url])
        services = await Services.open(settings)
        try:
            await services.start(Deliveries())
            able = [view.able for view in services.dispatcher.backend_views()]
        finally:
            await services.close()
    assert able == [("wan-wrapper",), ("wan-native", "wan-wrapper")]
