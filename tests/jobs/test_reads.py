"""`JobReads`, what the cogs read, on a real store, a real dispatcher and an emulated ComfyUI:
the `/queue` snapshot (its counts agree with its backend lines while jobs flow), a member's
jobs for `/cancel` and `/history`, one job's detail, the audit log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import pytest

from bot.comfy.backend import Backend
from bot.comfy.watch import Watch
from bot.jobs import EtaModel, JobRecord, JobState, Scheduler, SystemClock
from bot.jobs.dispatcher import DispatchConfig, Dispatcher
from bot.jobs.reads import JobReads, QueueSnapshot
from bot.workflows import load_template
from tests.comfy.conftest import FAST_RETRY
from tests.fakes.comfyui import FakeComfyUI
from tests.jobs.conftest import GUILD, Jobs, member, video
from tests.stores import each_engine  # noqa: F401  (the store-using tests run on both engines)

_DONE = (JobState.DELIVERED, JobState.FAILED, JobState.CANCELLED)


async def _posted(job: JobRecord, path: Path) -> int:
    return 900_000 + job.id


def _graph(job: JobRecord) -> dict:
    return load_template(job.template).render(job.params)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


@dataclass
class Wired:
    reads: JobReads
    dispatcher: Dispatcher
    scheduler: Scheduler  # real uuid4 prompt ids: ComfyUI refuses anything else


def _wire(jobs: Jobs, session: aiohttp.ClientSession, tmp: Path, *fakes: FakeComfyUI) -> Wired:
    # The wall clock: runs on the emulator take real time, which the ETA model learns from.
    clock = SystemClock()
    config = DispatchConfig(output_dir=tmp / "outputs", prefetch=1, health_interval=0.1, delivery_backoff=0.01,
                            watch=Watch(stall_seconds=5, poll_connected=0.3, poll_disconnected=0.1),
                            clock=clock.now)
    backends = [Backend.create(fake.url, session, retry=FAST_RETRY, heartbeat=5, client_id=config.identity.id)
                for fake in fakes]
    scheduler = Scheduler(jobs.db, clock, jobs.rate, eta=EtaModel(jobs.db.runs, clock),
                          backends=[b.name for b in backends])
    dispatcher = Dispatcher(jobs.db, scheduler, backends, _graph, config=config,
                            templates={"wan-native": load_template("wan-native")})
    return Wired(JobReads(jobs.db, scheduler, dispatcher, backends, clock), dispatcher, scheduler)


def _on_lines(snapshot: QueueSnapshot) -> int:
    return sum((line.running is not None) + line.waiting for line in snapshot.backends)


async def _all_done(reads: JobReads, queued: list[JobRecord]) -> bool:
    for queued_job in queued:
        job = await reads.job(queued_job.id)
        if job is None or job.state not in _DONE:
            return False
    return True


async def _until(reads: JobReads, job_id: int, *states: JobState) -> None:
    async with asyncio.timeout(10):
        while (job := await reads.job(job_id)) is None or job.state not in states:
            await asyncio.sleep(0.01)


async def test_the_snapshot_shows_the_running_job_the_prefetched_one_and_my_places(
    jobs: Jobs, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with FakeComfyUI(steps=3, step_seconds=30) as fake:  # the first job runs until the end
        wired = _wire(jobs, session, tmp_path, fake)
        reads, dispatcher = wired.reads, wired.dispatcher
        first, second, third = [await wired.scheduler.enqueue(member(user), video(f"clip {user}")) for user in (1, 2, 1)]
        await dispatcher.start(_posted)
        try:
            await _until(reads, first.id, JobState.RUNNING)
            await _until(reads, second.id, JobState.SUBMITTED)
            async with asyncio.timeout(10):  # the first progress event comes after the state
                while (snapshot := await reads.queue(GUILD, 1)).backends[0].progress is None:
                    await asyncio.sleep(0.01)
            detail = await reads.detail(third.id)
        finally:
            await dispatcher.stop()

    assert (snapshot.queued, snapshot.rendering, snapshot.paused, snapshot.draining) == (1, 2, False, False)
    (line,) = snapshot.backends
    assert (line.name, line.up, line.usable) == (fake.url, True, True)
    assert line.running is not None and line.running.id == first.id and line.waiting == 1
    assert line.progress is not None and line.progress.state == "running"
    assert line.report is not None and line.report.reachable and line.report.version == "0.8.0"
    assert [(place.job.id, place.ahead) for place in snapshot.mine] == [(first.id, None), (third.id, 0)]
    assert all(place.eta is not None for place in snapshot.mine)
    assert detail is not None and detail.job.id == third.id and detail.place is not None
    assert detail.place.ahead == 0 and detail.place.eta is not None


async def test_the_counts_agree_with_the_backend_lines_while_jobs_flow(
    jobs: Jobs, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with FakeComfyUI(steps=2, step_seconds=0.01) as one, FakeComfyUI(steps=2, step_seconds=0.02) as two:
        wired = _wire(jobs, session, tmp_path, one, two)
        reads, dispatcher = wired.reads, wired.dispatcher
        queued = [await wired.scheduler.enqueue(member(user % 3), video(f"clip {user}")) for user in range(9)]
        await dispatcher.start(_posted)
        snapshots: list[QueueSnapshot] = []
        try:
            async with asyncio.timeout(30):
                while not await _all_done(reads, queued):
                    snapshots.append(await reads.queue(GUILD, 0))
        finally:
            await dispatcher.stop()

    assert [(await reads.job(job.id)).state for job in queued] == [JobState.DELIVERED] * 9  # type: ignore[union-attr]
    assert any(snapshot.rendering for snapshot in snapshots)
    for snapshot in snapshots:
        assert snapshot.rendering == _on_lines(snapshot)


async def test_a_members_jobs_for_cancel_and_history(
    jobs: Jobs, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    reads = _wire(jobs, session, tmp_path).reads  # no backend: every job stays queued
    mine = [await jobs.scheduler.enqueue(member(1), video(f"mine {n}")) for n in range(3)]
    theirs = await jobs.scheduler.enqueue(member(2), video("theirs"))
    await jobs.scheduler.enqueue(replace(member(1), guild_id=GUILD + 1), video("elsewhere"))
    await jobs.scheduler.cancel(mine[2].id, 1)

    assert (await reads.latest_cancellable(GUILD, 1)).id == mine[1].id  # type: ignore[union-attr]
    assert await reads.latest_cancellable(GUILD, 3) is None
    assert [job.id for job in await reads.cancel_candidates(GUILD, 1, everyone=False)] == [mine[1].id, mine[0].id]
    assert [job.id for job in await reads.cancel_candidates(GUILD, 1, everyone=True)] == [
        theirs.id, mine[1].id, mine[0].id]  # a moderator's choices: the guild's, not elsewhere's
    assert [job.id for job in await reads.history(GUILD, 1, 2)] == [mine[2].id, mine[1].id]
    assert await reads.detail(999) is None
    finished = await reads.detail(mine[2].id)
    assert finished is not None and finished.job.state is JobState.CANCELLED and finished.place is None

    await reads.set_status_message(mine[0].id, 4242)
    assert (await reads.job(mine[0].id)).status_message_id == 4242  # type: ignore[union-attr]


async def test_the_audit_log_includes_queue_wide_actions_newest_first(
    jobs: Jobs, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    reads = _wire(jobs, session, tmp_path).reads
    await jobs.admin.pause(GUILD, by=7)
    await jobs.admin.drain(by=7)
    await jobs.admin.pause(GUILD + 1, by=8)  # another server's: not shown
    await jobs.admin.resume(GUILD, by=7)

    assert [entry.action for entry in await reads.audit(GUILD, 10)] == ["resume", "drain", "pause"]
    assert [entry.action for entry in await reads.audit(GUILD, 2)] == ["resume", "drain"]
    assert (await reads.guild_settings(GUILD)).paused is False
    assert (await reads.guild_settings(GUILD + 1)).paused is True
