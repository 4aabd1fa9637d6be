"""Several processes on one PostgreSQL queue, each a dispatcher with its own identity, store
connection and disk (two in this process: as far as the database and ComfyUI can tell, two
processes): a backend's slots hold across them, a cancel or a purge made in one stops a job the
other follows, and the moderators' actions of one apply in the other at once (nothing cached;
what waits is woken by the change notices, the safety-net poll being set to an hour)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from bot.identity import ProcessIdentity
from bot.jobs import AdmissionRefused, JobState, Limits, Refusal
from bot.jobs.dispatcher import Dispatcher
from storage import NewJob
from tests.fakes.comfyui import FakeComfyUI
from tests.jobs.conftest import GUILD, Jobs, member, video, wire
from tests.jobs.dispatch_rig import Rig
from tests.storage.conftest import OpenDb

pytestmark = pytest.mark.parametrize("engine", ["postgres"], indirect=True)

AN_HOUR = 3600.0
BOUND = 10.0  # "does not hang": the notices answer in milliseconds, the poll in an hour


@dataclass
class Other:
    """The second process: its store, admission and dispatcher."""

    jobs: Jobs
    dispatcher: Dispatcher


async def _other(rig: Rig, jobs: Jobs, open_db: OpenDb, *fakes: FakeComfyUI, **config: object) -> Other:
    """The other process, with these backends (none: it cannot reach the GPUs itself)."""
    generous = Limits(videos_per_hour=1000, burst=1000, max_active=1000)
    other = wire(await open_db(), jobs.clock, limits=generous, max_queued=10_000)
    dispatcher = rig.dispatcher(*fakes, identity=ProcessIdentity.new(), store=other.db,
                                outputs=rig.tmp / "other-disk", poll_interval=AN_HOUR, **config)
    return Other(other, dispatcher)


async def test_two_processes_never_hold_more_than_running_plus_prefetch_on_a_backend(
        rig: Rig, jobs: Jobs, open_db: OpenDb) -> None:
    async with FakeComfyUI(steps=3, step_seconds=0.02) as fake:
        other = await _other(rig, jobs, open_db, fake)
        here = rig.dispatcher(fake, poll_interval=AN_HOUR)
        for dispatcher in (here, other.dispatcher):
            await rig.start(dispatcher)
        queued = [await rig.enqueue(user % 4) for user in range(12)]
        assert await rig.settle(*(job.id for job in queued), timeout=60) == [JobState.DELIVERED] * 12
    assert fake.most_held == 2  # one running, one prefetched, whichever process queued them
    assert len(fake.most_held_by_client) == 2  # and both processes took their share
    assert sorted(rig.deliveries.count().values()) == [1] * 12


async def _running_on(rig: Rig, fake: FakeComfyUI, dispatcher: Dispatcher, job_id: int) -> None:
    job = await rig.reach(job_id, JobState.RUNNING)
    await rig.until(lambda: fake.running == job.prompt_id and dispatcher.follows(job_id))


async def test_a_cancel_in_one_process_stops_the_job_the_other_follows_and_takes_it_off(
        rig: Rig, jobs: Jobs, open_db: OpenDb) -> None:
    async with FakeComfyUI(steps=200, step_seconds=0.05) as fake:
        # A heartbeat an hour apart: only the cancel's notice can tell it in time.
        here = await rig.start(rig.dispatcher(fake, prefetch=0, poll_interval=AN_HOUR, lease=3 * AN_HOUR))
        job = await rig.enqueue(1)
        await _running_on(rig, fake, here, job.id)
        other = await _other(rig, jobs, open_db)  # it cannot take the prompt off: the owner must
        await rig.start(other.dispatcher)
        result = await other.dispatcher.cancel(job.id, by=1)
        assert result.job is not None and result.job.state is JobState.CANCELLED
        await rig.until(lambda: not here.follows(job.id), timeout=BOUND)
        await rig.until(lambda: fake.running is None, timeout=BOUND)  # interrupted on ComfyUI
        fake.step_seconds = 0.01
        nxt = await rig.enqueue(2)  # the backend's one slot is free for it
        assert await rig.settle(nxt.id) == [JobState.DELIVERED]
    assert job.id not in rig.deliveries.count()


async def test_a_purge_in_one_process_stops_the_members_jobs_the_other_follows(
        rig: Rig, jobs: Jobs, open_db: OpenDb) -> None:
    async with FakeComfyUI(steps=200, step_seconds=0.05) as fake:
        here = await rig.start(rig.dispatcher(fake, prefetch=1, poll_interval=AN_HOUR, lease=3 * AN_HOUR))
        running, waiting = await rig.enqueue(1), await rig.enqueue(1)
        await _running_on(rig, fake, here, running.id)
        await rig.reach(waiting.id, JobState.SUBMITTED)
        await rig.until(lambda: len(fake.queue_pending) == 1)
        other = await _other(rig, jobs, open_db)  # it cannot take the prompts off: the owner must
        await rig.start(other.dispatcher)
        purged = await other.dispatcher.purge_user(other.jobs.admin, GUILD, 1, by=99)
        assert sorted(job.id for job in purged) == [running.id, waiting.id]
        await rig.until(lambda: not here.follows(running.id) and not here.follows(waiting.id), timeout=BOUND)
        await rig.until(lambda: fake.running is None and not fake.queue_pending, timeout=BOUND)
    assert await rig.states(running.id, waiting.id) == [JobState.CANCELLED] * 2
    assert not rig.deliveries.calls


async def test_moderators_actions_in_one_process_apply_in_the_other_at_once(
        rig: Rig, jobs: Jobs, open_db: OpenDb) -> None:
    """Pause, drain, limits and blocked words saved through one process's admin are what the
    other's admission and claims act on, with no cache in between."""
    async with FakeComfyUI(steps=2, step_seconds=0.01) as fake:
        other = await _other(rig, jobs, open_db, fake, prefetch=0)
        await rig.start(other.dispatcher)
        admin, admission, alice = jobs.admin, other.jobs.admission, member(1)

        await admin.set_blocked_words(GUILD, 99, ["volcano"])
        with pytest.raises(AdmissionRefused) as refused:
            await admission.submit(alice, video("a VOLCANO at dawn"))
        assert refused.value.reason is Refusal.BLOCKED_WORD
        await admin.set_limits(GUILD, 99, {"max_active": 1})
        first = await admission.submit(alice, video("a quiet lake"))
        with pytest.raises(AdmissionRefused) as refused:
            await admission.submit(alice, video("another lake"))
        assert refused.value.reason is Refusal.TOO_MANY_ACTIVE
        assert await rig.settle(first.id) == [JobState.DELIVERED]
        await admin.set_limits(GUILD, 99, {})

        await admin.pause(GUILD, 99)
        with pytest.raises(AdmissionRefused) as refused:
            await admission.submit(alice, video("a paused lake"))
        assert refused.value.reason is Refusal.PAUSED
        held = await rig.enqueue(2)  # queued before the pause reached... anyone: it waits
        await asyncio.sleep(0.5)
        assert (await rig.job(held.id)).state is JobState.QUEUED
        await admin.resume(GUILD, 99)
        assert await rig.settle(held.id, timeout=BOUND) == [JobState.DELIVERED]

        await admin.drain(99)
        with pytest.raises(AdmissionRefused) as refused:
            await admission.submit(alice, video("a drained lake"))
        assert refused.value.reason is Refusal.DRAINING
        during = await rig.enqueue(3)
        await asyncio.sleep(0.5)
        assert (await rig.job(during.id)).state is JobState.QUEUED
        await admin.undrain(99)
        assert await rig.settle(during.id, timeout=BOUND) == [JobState.DELIVERED]


async def test_queue_shows_every_processs_jobs_on_the_backends_and_says_where_progress_is(
        rig: Rig, jobs: Jobs, open_db: OpenDb) -> None:
    """`/queue` in a process that does not follow the running job still shows it on its backend
    (from the store), plainly without steps: the process that follows it has those."""
    from bot.jobs import SystemClock
    from bot.jobs.reads import JobReads
    from cogs.queue._ui import queue_embed

    async with FakeComfyUI(steps=200, step_seconds=0.05) as fake:
        other = await _other(rig, jobs, open_db, fake, prefetch=0)
        await rig.start(other.dispatcher)
        job = await rig.enqueue(1, "a lighthouse at night")
        await _running_on(rig, fake, other.dispatcher, job.id)
        here = await rig.start(rig.dispatcher(fake, prefetch=0, poll_interval=AN_HOUR))
        there = JobReads(other.jobs.db, other.jobs.scheduler, other.dispatcher, [], SystemClock())
        await rig.until(lambda: other.dispatcher.progress_of(job.id) is not None
                        and other.dispatcher.progress_of(job.id).value > 0)  # type: ignore[union-attr]
        reads = JobReads(jobs.db, jobs.scheduler, here, [], SystemClock())
        snapshot, theirs = await reads.queue(GUILD, 1), await there.queue(GUILD, 1)
    (line,) = snapshot.backends
    assert line.running is not None and line.running.id == job.id and line.followed_here is False
    assert line.progress is None and snapshot.rendering == 1
    assert theirs.backends[0].followed_here and theirs.backends[0].progress is not None
    for locale, plainly in (("en-US", "rendering (its progress is on its status card)"), ("zh-CN", "生成中（进度见其状态卡）")):
        text = queue_embed(snapshot, GUILD, locale).fields[0].value or ""
        assert "a lighthouse at night" in text and plainly in text
    assert "steps" not in (queue_embed(snapshot, GUILD, "en-US").fields[0].value or "")
    assert "step" in (queue_embed(theirs, GUILD, "en-US").fields[0].value or "")


async def test_a_backend_full_of_another_processs_jobs_is_not_asked_again_until_one_leaves(
        rig: Rig, jobs: Jobs, open_db: OpenDb) -> None:
    """Every process hears every job queued anywhere; a process whose backends another one
    has filled does not query the database for each (it would, times backends and depths,
    in every process), and claims again once a job leaves."""
    async with FakeComfyUI(steps=60, step_seconds=0.05) as fake:
        here = await rig.start(rig.dispatcher(fake, prefetch=0, poll_interval=AN_HOUR))
        first = await rig.enqueue(1)
        await _running_on(rig, fake, here, first.id)
        other = await _other(rig, jobs, open_db, fake, prefetch=0)
        claims = 0
        claim_next = other.jobs.db.jobs.claim_next

        async def counted(*args: object, **kwargs: object) -> object:
            nonlocal claims
            claims += 1
            return await claim_next(*args, **kwargs)  # type: ignore[arg-type]

        other.jobs.db.jobs.claim_next = counted  # type: ignore[method-assign]
        await rig.start(other.dispatcher)
        await rig.until(lambda: claims == 1)  # its first pass: the backend is full
        queued = [await jobs.db.jobs.create(job, jobs.clock.now()) for job in _new_jobs(5)]
        await asyncio.sleep(0.5)  # five notices heard
        assert claims == 1
        fake.step_seconds = 0.002
        states = await rig.settle(first.id, *(job.id for job in queued), timeout=30)
    assert states == [JobState.DELIVERED] * 6 and claims > 1


def _new_jobs(count: int) -> list[NewJob]:
    params = {"prompt": "a cat", "frames": 17, "width": 832, "height": 480, "steps": 15}
    return [NewJob(GUILD, 20, 40 + n, "wan-native", params, cost=1, round=0) for n in range(count)]


async def test_a_backend_busy_with_another_processs_jobs_does_not_hold_back_this_processs_prefetch(
        rig: Rig, jobs: Jobs, open_db: OpenDb) -> None:
    """No job is prefetched while an idle backend could run it; a backend this process has no
    job on is not idle when another process's jobs fill it."""
    slow = {"steps": 400, "step_seconds": 0.05}  # 20 s a render: the prefetch must come long before
    async with FakeComfyUI(**slow) as busy, FakeComfyUI(**slow) as free:
        other = await _other(rig, jobs, open_db, busy)
        await rig.start(other.dispatcher)
        theirs = [await rig.enqueue(1), await rig.enqueue(1)]
        await rig.reach(theirs[0].id, JobState.RUNNING)
        await rig.reach(theirs[1].id, JobState.SUBMITTED)  # `busy` is full: running + prefetch
        here = await rig.start(rig.dispatcher(free, busy, poll_interval=AN_HOUR))
        running, waiting = await rig.enqueue(2), await rig.enqueue(3)
        await _running_on(rig, free, here, running.id)
        prefetched = await rig.reach(waiting.id, JobState.SUBMITTED, timeout=5)
        assert prefetched.backend == (await rig.job(running.id)).backend
        assert free.running == (await rig.job(running.id)).prompt_id  # still the first render
