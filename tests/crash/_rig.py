"""The crash test's side of the processes: one worker life (`Worker`) and the rig that starts,
watches and kills workers, enqueues jobs and restarts the in-process ComfyUI emulator.

Cross-process waits poll (the database, the worker's stdout file) with a bound: there is
nothing to await across a process boundary.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO

from bot.jobs import Admission, JobRequest, Requester
from storage import Database, JobRecord, JobState
from tests.crash.worker import CRASH_ENV
from tests.fakes.comfyui import FakeComfyUI

__all__ = ["HOOK_TIMEOUT", "USERS", "CrashRig", "Worker", "spawn_worker"]

ROOT = Path(__file__).resolve().parents[2]
USERS = 4
TOP_UP_BELOW = 4  # keep this many jobs queued so every kill point has work ahead of it
MAX_JOBS = 120  # a safety cap; the schedule, not the job count, bounds the run time
HOOK_TIMEOUT = 8.0  # a hooked worker that has not died by then missed its point


@dataclass
class Worker:
    """One life of the dispatcher process."""

    proc: asyncio.subprocess.Process
    out: Path
    err: Path
    files: tuple[IO[bytes], IO[bytes]]

    def lines(self) -> list[str]:
        return self.out.read_text(encoding="utf-8", errors="replace").splitlines()

    def claimed(self) -> set[int]:
        """Jobs this worker claimed itself (not re-attached from a predecessor)."""
        return {int(line.split()[2]) for line in self.lines() if line.startswith("edge queued->submitted ")}

    def identity(self) -> str | None:
        """The process's identity (the owner of the jobs it holds), once it said it."""
        return next((line.split()[1] for line in self.lines() if line.startswith("identity ")), None)

    def progress_of(self, job_id: int) -> list[str]:
        """The progress reports it relayed for the job ("running 3/8"...)."""
        head = f"progress {job_id} "
        return [line.removeprefix(head) for line in self.lines() if line.startswith(head)]

    def edges_of(self, job_id: int) -> list[str]:
        """The transitions of the job it committed ("running->fetched"...)."""
        return [line.split()[1] for line in self.lines()
                if line.startswith("edge ") and line.split()[2] == str(job_id)]

    def crashed_at(self) -> str | None:
        """The point whose hook killed this worker (from its last words)."""
        for line in reversed(self.lines()):
            if line.startswith("crash-at "):
                return line.removeprefix("crash-at ").rpartition(":")[0]
        return None

    async def ready(self, timeout: float) -> bool:
        """Bounded polling of its stdout: recovery done, claiming started."""
        deadline = time.monotonic() + timeout
        while "ready" not in self.lines():
            if self.proc.returncode is not None or time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    async def exited(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()

    def close(self) -> None:
        for handle in self.files:
            handle.close()

    def stderr_tail(self) -> str:
        return "\n".join(self.err.read_text(encoding="utf-8", errors="replace").splitlines()[-25:])


async def spawn_worker(tmp: Path, label: str, db: str, comfyui: Sequence[str], deliveries: Path, *,
                       crash_at: str | None = None, extra: Sequence[str] = ()) -> Worker:
    """One worker process (`tests.crash.worker`) on `db`, its output in tmp/runs/<label>.*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "COMFYUI_", "WANBOT_"))}
    env["PYTHONPATH"] = str(ROOT)
    if crash_at:
        env[CRASH_ENV] = crash_at
    out, err = tmp / "runs" / f"{label}.out", tmp / "runs" / f"{label}.err"
    out.parent.mkdir(exist_ok=True)
    files = (out.open("wb"), err.open("wb"))
    urls = [arg for url in comfyui for arg in ("--comfyui", url)]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.crash.worker", "--db", db, *urls, "--deliveries", str(deliveries),
        "--run", label, *extra, cwd=tmp, env=env, stdout=files[0], stderr=files[1])
    return Worker(proc, out, err, files)


@dataclass
class CrashRig:
    tmp: Path
    fake: FakeComfyUI
    db: Database
    admission: Admission
    kills: Counter[str] = field(default_factory=Counter)
    missed: Counter[str] = field(default_factory=Counter)
    epochs: list[int] = field(default_factory=lambda: [0])  # where each ComfyUI life starts in fake.events
    tokens: dict[str, int] = field(default_factory=dict)  # prompt token -> job id
    workers: list[Worker] = field(default_factory=list)

    @property
    def db_path(self) -> Path:
        return self.tmp / "wanbot.db"

    @property
    def posts_path(self) -> Path:
        return self.tmp / "posts.db"

    # ----------------------------------------------------------------- jobs

    async def enqueue(self, count: int) -> None:
        for _ in range(count):
            n = len(self.tokens)
            token = f"crash-{n:03d}"
            requester = Requester(guild_id=1, channel_id=2, user_id=100 + n % USERS)
            job = await self.admission.submit(requester, JobRequest("wan-native", {
                "prompt": f"a paper boat in the rain {token}", "frames": 17}))
            self.tokens[token] = job.id

    async def top_up(self) -> None:
        """New jobs arrive from "Discord" (this process) while workers come and go."""
        if await self.db.jobs.count_queued() < TOP_UP_BELOW and len(self.tokens) < MAX_JOBS:
            await self.enqueue(min(USERS, MAX_JOBS - len(self.tokens)))

    async def jobs(self) -> list[JobRecord]:
        found = [await self.db.jobs.get(job_id) for job_id in self.tokens.values()]
        return [job for job in found if job is not None]

    async def running_and_prefetched(self, worker: Worker) -> bool:
        """ComfyUI runs a job the database has as running and holds a submitted one queued,
        both claimed by `worker` itself. (A dead worker leaves the same picture behind; had its
        successor not claimed them, it might still be re-attaching them when we act.)"""
        claimed = worker.claimed()
        in_flight = await self.db.jobs.in_states([JobState.SUBMITTED, JobState.RUNNING])
        states = {job.prompt_id: job.state for job in in_flight if job.id in claimed}
        running, pending = self.fake.running, self.fake.queue_pending
        return (running is not None and states.get(running) is JobState.RUNNING
                and any(states.get(p) is JobState.SUBMITTED for p in pending))

    async def until(self, predicate: Callable[[], Awaitable[bool]], timeout: float) -> bool:
        """Bounded polling: the other side is another process, with nothing to await."""
        deadline = time.monotonic() + timeout
        while not await predicate():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    # ----------------------------------------------------------------- processes

    async def spawn(self, crash_at: str | None = None) -> Worker:
        worker = await spawn_worker(self.tmp, str(len(self.workers)), str(self.db_path), [self.fake.url],
                                    self.posts_path, crash_at=crash_at)
        self.workers.append(worker)
        return worker

    def died_on_its_own(self, worker: Worker) -> None:
        """Only our kills and its own hooks may end a worker: anything else is a bug."""
        code = worker.proc.returncode
        assert code == -signal.SIGKILL, f"worker exited with {code}:\n{worker.stderr_tail()}"

    async def kill(self, worker: Worker, cause: str) -> None:
        if worker.proc.returncode is not None:
            self.died_on_its_own(worker)
        await worker.kill()
        self.kills[cause] += 1

    async def expect_crash(self, worker: Worker, point: str) -> bool:
        """Wait for the worker's hook to kill it at `point`; kill it ourselves if it never does."""
        if await worker.exited(HOOK_TIMEOUT):
            self.died_on_its_own(worker)
            if worker.crashed_at() == point:
                self.kills[point] += 1
                return True
        await self.kill(worker, "timeout")
        self.missed[point] += 1
        return False

    async def restart_emulator(self) -> None:
        """ComfyUI dies and comes back: queue and history are gone (output files stay)."""
        self.epochs.append(len(self.fake.events))
        await self.fake.restart()

    async def kill_mid_job(self) -> bool:
        """A worker killed by us while a job runs and the next waits in ComfyUI's queue."""
        await self.top_up()
        worker = await self.spawn()
        caught = await self.until(partial(self.running_and_prefetched, worker), HOOK_TIMEOUT)
        await self.kill(worker, "mid-job")
        return caught

    def close(self) -> None:
        for worker in self.workers:
            if worker.proc.returncode is None:
                worker.proc.kill()
            worker.close()
