"""Adoption between live processes: dispatcher workers (`tests.crash.worker`, the production
wiring in its own process) on one PostgreSQL, each with its own disk, the ComfyUI emulator in
this process. A worker that dies (SIGKILL) or stalls (SIGSTOP) past its lease leaves its job to
another one, which re-attaches to the prompt by prompt_id, hears its progress, and posts it
exactly once; a worker that starts leaves a live worker's jobs alone.

Cross-process waits poll the database and the workers' stdout with a bound: there is nothing
to await across a process boundary.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.jobs import JobRequest, JobState, RateLimiter, Requester, Scheduler, SystemClock
from storage import JobRecord, Store, open_store
from tests.crash._rig import Worker, spawn_worker
from tests.crash.worker import PostLog
from tests.fakes.comfyui import FakeComfyUI
from tests.stores import PostgresServer

pytestmark = pytest.mark.timeout(90)

LEASE = 1.0
WAIT = 20.0


@dataclass
class Cluster:
    tmp: Path
    url: str
    store: Store
    comfy: FakeComfyUI
    workers: list[Worker] = field(default_factory=list)

    @property
    def posts(self) -> Path:
        return self.tmp / "posts.db"

    async def spawn(self, crash_at: str | None = None) -> Worker:
        """A worker with a disk of its own."""
        label = str(len(self.workers))
        worker = await spawn_worker(self.tmp, label, self.url, [self.comfy.url], self.posts, crash_at=crash_at,
                                    extra=["--data-dir", str(self.tmp / f"disk-{label}"), "--lease", str(LEASE)])
        self.workers.append(worker)
        assert await worker.ready(WAIT), worker.stderr_tail()
        return worker

    async def enqueue(self, prompt: str = "a lantern on a lake") -> JobRecord:
        clock = SystemClock()
        scheduler = Scheduler(self.store, clock, RateLimiter(self.store.quotas, clock))
        request = JobRequest("wan-native", {"prompt": prompt, "frames": 17, "width": 832, "height": 480,
                                            "steps": 15})
        return await scheduler.enqueue(Requester(guild_id=1, channel_id=2, user_id=3), request)

    async def job(self, job_id: int) -> JobRecord:
        job = await self.store.jobs.get(job_id)
        assert job is not None
        return job

    async def until(self, predicate: Callable[[], Awaitable[bool]], what: str, timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while not await predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.02)

    async def until_job(self, job_id: int, what: str, check: Callable[[JobRecord], bool]) -> JobRecord:
        async def ok() -> bool:
            return check(await self.job(job_id))
        await self.until(ok, what)
        return await self.job(job_id)

    def posts_of(self, job_id: int) -> list[str]:
        return [post.run for post in PostLog.read(self.posts) if post.job_id == job_id]


@pytest.fixture
async def cluster(tmp_path: Path, postgres_server: PostgresServer) -> AsyncIterator[Cluster]:
    url = await postgres_server.create()
    store = await open_store(url)
    async with FakeComfyUI(steps=40, step_seconds=0.1) as comfy:
        rig = Cluster(tmp_path, url, store, comfy)
        try:
            yield rig
        finally:
            for worker in rig.workers:
                await worker.kill()
                worker.close()
            await store.close()


def _held_by(worker: Worker, *states: JobState) -> Callable[[JobRecord], bool]:
    return lambda job: job.owner == worker.identity() and job.state in states


async def test_a_running_job_of_a_killed_process_is_adopted_with_its_progress_and_posted_once(
        cluster: Cluster) -> None:
    first = await cluster.spawn()
    job = await cluster.enqueue()
    job = await cluster.until_job(job.id, "the first worker running it", _held_by(first, JobState.RUNNING))
    second = await cluster.spawn()  # a process that starts leaves a live process's job alone
    await asyncio.sleep(2 * LEASE)
    assert (await cluster.job(job.id)).owner == first.identity() and second.edges_of(job.id) == []
    await first.kill()
    assert cluster.comfy.running == job.prompt_id  # still rendering, nobody following it
    adopted = await cluster.until_job(job.id, "adoption", lambda j: j.owner == second.identity())
    assert adopted.claimed_by == first.identity() and adopted.prompt_id == job.prompt_id
    await cluster.until_job(job.id, "the post", lambda j: j.state is JobState.DELIVERED)
    assert cluster.posts_of(job.id) == ["1"]
    assert [item.prompt_id for item in cluster.comfy.accepted] == [job.prompt_id]  # re-attached, not resent
    # The sampler's steps came over the socket it borrowed as the first worker's clientId
    # (polling alone sees "running", never a step).
    steps = [line for line in second.progress_of(job.id) if line.startswith("running ") and line != "running 0/0"]
    assert steps and second.edges_of(job.id)[-1] == "fetched->delivered", second.lines()


async def test_a_prompt_still_waiting_in_comfyui_is_adopted_and_posted_once(cluster: Cluster) -> None:
    cluster.comfy.pause()
    first = await cluster.spawn()
    job = await cluster.enqueue()
    job = await cluster.until_job(job.id, "the claim", _held_by(first, JobState.SUBMITTED))
    await cluster.until(lambda: _true(cluster.comfy.queue_pending == [job.prompt_id]), "the prompt in ComfyUI")
    await first.kill()
    second = await cluster.spawn()
    await cluster.until_job(job.id, "adoption", lambda j: j.owner == second.identity())
    cluster.comfy.resume()
    await cluster.until_job(job.id, "the post", lambda j: j.state is JobState.DELIVERED)
    assert cluster.posts_of(job.id) == ["1"]
    assert [item.prompt_id for item in cluster.comfy.accepted] == [job.prompt_id]


async def test_a_fetched_job_whose_file_died_with_its_process_is_fetched_again_and_posted(
        cluster: Cluster) -> None:
    cluster.comfy.step_seconds = 0.01
    first = await cluster.spawn(crash_at="running->fetched:1")  # dies with the file on its own disk
    job = await cluster.enqueue()
    assert await first.exited(WAIT) and first.crashed_at() == "running->fetched"
    fetched = await cluster.job(job.id)
    assert fetched.state is JobState.FETCHED and Path(fetched.output_path or "").is_file()
    second = await cluster.spawn()
    await cluster.until_job(job.id, "the post", lambda j: j.state is JobState.DELIVERED)
    (post,) = [p for p in PostLog.read(cluster.posts) if p.job_id == job.id]
    assert post.run == "1" and post.size == Path(fetched.output_path or "").stat().st_size
    assert second.edges_of(job.id) == ["fetched->delivered"]
    assert len(cluster.comfy.requests_to("/view")) == 2  # once per disk


async def test_a_fetched_job_comfyui_no_longer_has_fails_plainly_as_output_lost(cluster: Cluster) -> None:
    cluster.comfy.step_seconds = 0.01
    first = await cluster.spawn(crash_at="running->fetched:1")
    job = await cluster.enqueue()
    assert await first.exited(WAIT) and first.crashed_at() == "running->fetched"
    await cluster.comfy.restart()  # its history goes with it
    await cluster.spawn()
    failed = await cluster.until_job(job.id, "the failure", lambda j: j.state is JobState.FAILED)
    assert failed.error_code == "output_lost" and "lost" in (failed.error_text or "")
    assert cluster.posts_of(job.id) == []


async def test_a_process_paused_past_its_lease_lets_the_adopter_finish_and_moves_nothing(
        cluster: Cluster) -> None:
    first = await cluster.spawn()
    job = await cluster.enqueue()
    await cluster.until_job(job.id, "the first worker running it", _held_by(first, JobState.RUNNING))
    second = await cluster.spawn()
    assert first.proc.pid is not None
    os.kill(first.proc.pid, signal.SIGSTOP)  # a long GC pause, a frozen VM
    try:
        await cluster.until_job(job.id, "adoption", lambda j: j.owner == second.identity())
    finally:
        os.kill(first.proc.pid, signal.SIGCONT)
    before = first.edges_of(job.id)
    await cluster.until_job(job.id, "the post", lambda j: j.state is JobState.DELIVERED)
    assert cluster.posts_of(job.id) == ["1"]
    assert first.edges_of(job.id) == before == ["queued->submitted", "submitted->running"]
    assert "goes on as" in first.err.read_text()  # it woke up as a new identity
    # The first worker is alive and well: alone now, it takes the next job and hears its steps
    # (its clientId is a new one: the socket the second worker borrowed as its old one, closed
    # when the second died, took nothing of its own with it).
    await second.kill()
    later = await cluster.enqueue("a second lantern")
    await cluster.until_job(later.id, "the next post", lambda j: j.state is JobState.DELIVERED)
    steps = [line for line in first.progress_of(later.id) if line.startswith("running ") and line != "running 0/0"]
    assert steps and cluster.posts_of(later.id) == ["0"]


def _true(value: bool) -> Awaitable[bool]:
    async def wrapped() -> bool:
        return value
    return wrapped()


async def test_on_sqlite_too_a_starting_process_leaves_a_live_processs_job_alone(tmp_path: Path) -> None:
    """Seen failing before leases: the second process re-attached the first one's job at start
    and moved it on itself (running->fetched->delivered) while the first followed it too."""
    async with FakeComfyUI(steps=40, step_seconds=0.05) as comfy:
        store = await open_store(tmp_path / "wanbot.db")
        rig = Cluster(tmp_path, str(tmp_path / "wanbot.db"), store, comfy)
        try:
            first = await rig.spawn()
            job = await rig.enqueue()
            await rig.until_job(job.id, "the first worker running it", _held_by(first, JobState.RUNNING))
            second = await rig.spawn()
            await rig.until_job(job.id, "the post", lambda j: j.state is JobState.DELIVERED)
            assert second.edges_of(job.id) == [] and rig.posts_of(job.id) == ["0"]
            assert not [line for w in (first, second) for line in w.lines() if line.startswith("reused ")]
        finally:
            for worker in rig.workers:
                await worker.kill()
                worker.close()
            await store.close()
