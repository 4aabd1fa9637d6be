"""Crash recovery of the dispatcher: SIGKILL its process between every pair of state transitions
and at random moments, restart it, and show that every job ends delivered exactly once.

The ComfyUI emulator runs in this process, so the test sees every prompt ComfyUI accepted and
ran and can restart it. The dispatcher runs in `tests.crash.worker` subprocesses on the same
SQLite file; this process enqueues through its own connection (WAL lets two processes share
the file). The kill schedule, shuffled with a fixed seed (WANBOT_CRASH_SEED overrides it):
- hooked: the worker kills itself right after a chosen transition commits, or just before /
  just after its durable post (every edge the dispatcher takes on the happy path);
- requeue: ComfyUI restarts under a live worker and forgets its queue, so the running and the
  prefetched job are requeued; the worker dies right after that requeue commits;
- finished-while-dead: the test kills the worker while one job runs and one waits in ComfyUI's
  queue, lets ComfyUI finish both, and restarts the worker set to die at submitted->fetched;
- amnesia: killed the same way, then ComfyUI restarts before the worker does: recovery finds
  the prompts lost and resubmits them under the same prompt_id;
- random: a kill 0-1.5 s after a worker starts (often during start-up and recovery).
Then one worker runs undisturbed until no job is active, and the checks run.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path

import pytest

from bot.jobs import Admission, Limits, RateLimiter, Scheduler, SystemClock
from storage import Database, JobRecord, JobState
from tests.crash._rig import HOOK_TIMEOUT, CrashRig
from tests.crash.worker import MAX_ATTEMPTS, PostLog
from tests.fakes.comfyui import FakeComfyUI

pytestmark = pytest.mark.timeout(150)

SEED = int(os.environ.get("WANBOT_CRASH_SEED", "1105"))
FIRST_JOBS = 12
FINAL_TIMEOUT = 40.0
TRIES = 3  # a step that depends on catching a moment is retried this often

# The edges a hook can stop at, and the ones that need ComfyUI to restart (requeues) or to
# finish while no worker runs (submitted->fetched).
HOOKED = ("queued->submitted", "submitted->running", "running->fetched", "fetched->delivered",
          "deliver:before", "deliver:after")
REQUEUES = ("running->queued", "submitted->queued")
EVERY_POINT = (*HOOKED, *REQUEUES, "submitted->fetched")
_ACTIVE = (JobState.QUEUED, JobState.SUBMITTED, JobState.RUNNING, JobState.FETCHED)


# --------------------------------------------------------------------- the schedule

Step = Callable[[CrashRig], Awaitable[bool]]


async def hooked(rig: CrashRig, point: str, nth: int = 1) -> bool:
    await rig.top_up()
    return await rig.expect_crash(await rig.spawn(f"{point}:{nth}"), point)


async def requeued(rig: CrashRig, point: str) -> bool:
    await rig.top_up()
    worker = await rig.spawn(f"{point}:1")
    if await rig.until(partial(rig.running_and_prefetched, worker), HOOK_TIMEOUT):
        await rig.restart_emulator()
    return await rig.expect_crash(worker, point)


async def finished_while_dead(rig: CrashRig) -> bool:
    if not await rig.kill_mid_job():
        return False
    await rig.fake.wait_idle()  # ComfyUI finishes the running and the prefetched job alone
    return await hooked(rig, "submitted->fetched")


async def amnesia(rig: CrashRig) -> bool:
    caught = await rig.kill_mid_job()
    await rig.restart_emulator()
    return caught


async def random_kill(rig: CrashRig, delay: float) -> bool:
    await rig.top_up()
    worker = await rig.spawn()
    await asyncio.sleep(delay)
    await rig.kill(worker, "random")
    return True


def schedule(rng: random.Random) -> list[Step]:
    """Every hooked point three times (the 1st, 2nd and 1st-3rd passage of a worker's life),
    both requeues, two finished-while-dead and one amnesia step, 18 random kills; shuffled."""
    steps: list[Step] = [partial(hooked, point=point, nth=nth)
                         for point in HOOKED for nth in (1, 2, rng.randint(1, 3))]
    steps += [partial(requeued, point=point) for point in REQUEUES]
    steps += [finished_while_dead, finished_while_dead, amnesia]
    steps += [partial(random_kill, delay=rng.uniform(0.0, 1.5)) for _ in range(18)]
    rng.shuffle(steps)
    return steps


async def run_schedule(rig: CrashRig, rng: random.Random) -> None:
    for step in schedule(rng):
        for _ in range(TRIES):
            if await step(rig):
                break


async def run_to_the_end(rig: CrashRig) -> None:
    """One worker, no kills, until no job is active; then a clean SIGTERM."""
    worker = await rig.spawn()
    assert await worker.ready(10.0), worker.stderr_tail()

    async def settled() -> bool:
        return not await rig.db.jobs.in_states(_ACTIVE)

    finished = await rig.until(settled, FINAL_TIMEOUT)
    worker.proc.terminate()
    assert await worker.exited(10.0), "the worker did not stop on SIGTERM"
    assert worker.proc.returncode == 0, worker.stderr_tail()
    left = [(job.id, job.state.value) for job in await rig.db.jobs.in_states(_ACTIVE)]
    assert finished, f"jobs still active after {FINAL_TIMEOUT} s: {left}"


# --------------------------------------------------------------------- the checks


def job_of_prompt(rig: CrashRig) -> dict[str, int]:
    """Every prompt_id ComfyUI ever accepted, mapped to its job by the token in the prompt text."""
    owners: dict[str, int] = {}
    for item in rig.fake.accepted:
        text = json.dumps(item.prompt, ensure_ascii=False)
        (job_id,) = [job_id for token, job_id in rig.tokens.items() if token in text]
        owners[item.prompt_id] = job_id
    return owners


def check_posts(jobs: list[JobRecord], rig: CrashRig) -> Counter[JobState]:
    posts = PostLog.read(rig.posts_path)
    by_job: dict[int, list[int]] = defaultdict(list)
    for post in posts:
        by_job[post.job_id].append(post.message_id)
    assert set(by_job) <= {job.id for job in jobs}, "a post for a job nobody asked for"
    for job in jobs:
        assert job.state in (JobState.DELIVERED, JobState.FAILED), f"job {job.id} was left {job.state.value}"
        if job.state is JobState.DELIVERED:
            assert by_job[job.id] == [job.result_message_id], (
                f"job {job.id}: posts {by_job[job.id]}, stored message {job.result_message_id}")
        else:  # cleanly failed: out of attempts after ComfyUI restarts, and never posted
            assert job.error_code == "backend_failed" and job.attempts == MAX_ATTEMPTS, job
            assert not by_job[job.id], f"failed job {job.id} was posted"
    return Counter(job.state for job in jobs)


def check_comfyui(jobs: list[JobRecord], rig: CrashRig) -> int:
    """No job ran more often than its attempts allow; returns how many prompts recovery
    resubmitted under the same prompt_id after ComfyUI forgot them."""
    owners = job_of_prompt(rig)
    prompts: dict[int, set[str]] = defaultdict(set)
    for prompt_id, job_id in owners.items():
        prompts[job_id].add(prompt_id)
    for job in jobs:
        assert len(prompts[job.id]) <= job.attempts <= MAX_ATTEMPTS, (job.id, prompts[job.id], job.attempts)
        if job.state is JobState.DELIVERED:
            assert job.prompt_id in prompts[job.id]
    # While ComfyUI remembers a job's prompt, nothing may run that job again: at most one run
    # (started, not only finished) per job per ComfyUI life.
    runs: Counter[tuple[int, int]] = Counter()
    for index, event in enumerate(rig.fake.events):
        if event.type == "execution_start":
            life = bisect.bisect_right(rig.epochs, index) - 1
            runs[(life, owners[event.data["prompt_id"]])] += 1
    assert max(runs.values()) == 1, {key: n for key, n in runs.items() if n > 1}
    accepted = Counter(item.prompt_id for item in rig.fake.accepted)
    return sum(1 for n in accepted.values() if n > 1)


def edges_seen(rig: CrashRig) -> Counter[str]:
    return Counter(line.split()[1] for w in rig.workers for line in w.lines() if line.startswith("edge "))


def reused_posts(rig: CrashRig) -> int:
    return sum(1 for w in rig.workers for line in w.lines() if line.startswith("reused "))


# --------------------------------------------------------------------- the test


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[CrashRig]:
    db = await Database.open(tmp_path / "wanbot.db")
    clock = SystemClock()
    rate = RateLimiter(db.quotas, clock)
    scheduler = Scheduler(db, clock, rate)
    generous = Limits(videos_per_hour=10_000, burst=1_000, max_active=1_000)
    admission = Admission(db, scheduler, rate, clock, defaults=generous, max_queued=1_000)
    # ~0.25 s per job: 4 sampler steps of 50 ms plus the history write.
    async with FakeComfyUI(steps=4, step_seconds=0.05, root=tmp_path / "comfyui") as fake:
        crash_rig = CrashRig(tmp_path, fake, db, admission)
        try:
            yield crash_rig
        finally:
            crash_rig.close()
    await db.close()


async def test_sigkilled_dispatcher_delivers_every_job_exactly_once(rig: CrashRig,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    await rig.enqueue(FIRST_JOBS)
    await run_schedule(rig, random.Random(SEED))
    await run_to_the_end(rig)

    jobs = await rig.jobs()
    states = check_posts(jobs, rig)
    resubmitted = check_comfyui(jobs, rig)
    edges, reused = edges_seen(rig), reused_posts(rig)

    with capsys.disabled():
        print(f"\ncrash test (seed {SEED}): {sum(rig.kills.values())} kills in {len(rig.workers)} worker "
              f"lives, {len(rig.epochs) - 1} ComfyUI restarts, {time.monotonic() - started:.1f} s")
        print(f"  kills by point: {dict(sorted(rig.kills.items()))}")
        print(f"  missed (retried): {dict(rig.missed)}")
        print(f"  jobs: {len(jobs)} -> { {s.value: n for s, n in states.items()} }; posts reused after a "
              f"crash: {reused}; prompts resubmitted under the same id: {resubmitted}")
        print(f"  edges taken: {dict(sorted(edges.items()))}")

    assert sum(rig.kills.values()) >= 30
    assert all(rig.kills[point] >= 1 for point in EVERY_POINT), rig.kills
    assert all(edges[point] >= 1 for point in EVERY_POINT if "->" in point), edges
    assert reused >= 1  # a kill after a post was followed by a re-run that found it
    assert resubmitted >= 1  # recovery resent a prompt ComfyUI had forgotten, under the same id
