"""Wake-up latency: from a job queued in one process to its claim by the idle dispatcher of another
process, on PostgreSQL (LISTEN/NOTIFY), next to SQLite in one process (in-process notices).

Prints a table, then, as the very last line, one JSON object with the figures. Figures, not a
pass/fail test: the exit status is 0 even if a target is missed.

    .venv/bin/python bench/wakeup.py [--jobs 300] [--gap 0.05] [--warmup 5] [--no-sqlite]

The processes (PostgreSQL). A pgserver in a temporary folder (its defaults, fsync on); one
ComfyUI emulator as its own process (`python -m tests.fakes.comfyui`, one sampler step, no
delays); process B, a dispatcher: `Services.open` + `Services.start` exactly as `wanbot run`
builds them (its claim loop woken by the store's change notices, its slow poll at 15 s), with a
delivery that posts nothing; process A, the member's side: `Services.open` on the same database,
never started (no dispatcher: it only admits), queueing one job at a time through
`Admission.submit`. B's JobObserver notes the moment each job is claimed (the first
`submitted`, which `Dispatcher._claim_into` shows right after the claim returns) and, once the
job is delivered, sends that moment to A. A then waits `--gap` (so B's dispatcher has gone back
to waiting for a notice) and queues the next. The first `--warmup` jobs are not counted.

SQLite: the same, with the dispatcher and the admission in one process on one store (the
notice is published in-process after the commit).

Both processes read `time.monotonic_ns()`, one clock on Linux, and the bench subtracts. The
job is queued when the store's admit commits (the notice goes out with that commit); the commit
happens inside `Store.admit` (A wraps it to note when it was called and when it returned), so:
- admit -> claimed: from `Store.admit` called to the claim returned in B: an upper bound of
  commit -> claimed, and the path graphile-worker times (`add_job` called -> job started; it
  reports 2-3 ms). Target: p50 <= 5 ms.
- admitted -> claimed: from `Store.admit` returned: a lower bound (B may hear the notice, and
  even claim, before A's `admit` has returned).
- heard -> claimed: B's own part, from the notice reaching B's process (a subscriber of the
  store's beside the dispatcher's) to the claim returned.
- submit -> claimed: from `Admission.submit` called: the member's whole path (the admission
  view, the fair round, the admit).
- notices missed: jobs whose notice B never heard (claimed on the slow poll, if at all).
The tails include the WAL flush of each commit (fsync on): a disk busy with other work shows
there, not in the medians.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing as mp
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import _common  # noqa: F401  (puts the repository on sys.path)
from _common import ROOT, percentile, report
from _finish import post_nothing
from _queue import postgres_server

from bot.jobs import JobRequest, Requester
from bot.jobs.dispatcher import JobObserver
from bot.services import Services
from bot.settings import Settings, load_settings
from storage import JobRecord, JobState, Store
from storage.changes import Change, ChangeKind
from storage.records import AdmitRequest, AdmitResult

P50_TARGET_MS = 5.0
TEMPLATE = "wan-wrapper"
START_TIMEOUT = 60.0  # the emulator and the dispatcher process are up by then
JOB_TIMEOUT = 30.0  # twice the dispatcher's slow poll: a job not claimed by then is lost
Claim = tuple[int, int, int]  # (job id, notice heard at or 0: never, claimed at): monotonic ns


class Claims(JobObserver):
    """Notes when the store's notice of each queued job reaches this process (a subscriber of
    its own beside the dispatcher's) and when the dispatcher claims the job (its first
    `submitted`); once the job is delivered (its slot free again), hands them to `tell`."""

    def __init__(self, tell: Callable[[Claim], None]) -> None:
        self.tell = tell
        self.heard: dict[int, int] = {}
        self.claimed: dict[int, int] = {}

    def hear(self, change: Change) -> None:
        if change.kind is ChangeKind.QUEUED and change.job_id is not None:
            self.heard.setdefault(change.job_id, time.monotonic_ns())

    async def on_state(self, job: JobRecord) -> None:
        if job.state is JobState.SUBMITTED:
            self.claimed.setdefault(job.id, time.monotonic_ns())
        elif job.state is JobState.DELIVERED:
            self.tell((job.id, self.heard.pop(job.id, 0), self.claimed.pop(job.id)))

    async def start(self, services: Services) -> None:
        """Start the dispatcher with this observer, then listen beside it."""
        await services.start(post_nothing, self)
        services.db.subscribe(self.hear)


def settings_for(database: str | Path, comfyui: str, data_dir: Path) -> Settings:
    return load_settings(database=str(database), data_dir=data_dir, comfyui_urls=[comfyui], workflow=TEMPLATE,
                         videos_per_hour=100_000, burst=10_000, max_active=10_000, max_queued=100_000)


# ----------------------------------------------------------------- the member's side

# The spans reported, each from one moment to another (monotonic ns, one clock): the submit
# call, the store's admit called and returned (its commit, when the notice goes out, lies
# between), the notice heard by the dispatcher's process, the claim returned there.
SPANS = {
    "admit_to_claimed": ("admit", "claimed"),
    "admitted_to_claimed": ("admitted", "claimed"),
    "heard_to_claimed": ("heard", "claimed"),
    "submit_to_claimed": ("submit", "claimed"),
}


def stamp_admits(db: Store) -> list[tuple[int, int]]:
    """Wrap the store's admit: (called, returned) of each call, appended as it returns."""
    stamps: list[tuple[int, int]] = []
    admit = db.admit

    async def stamped(request: AdmitRequest, now: float) -> AdmitResult:
        called = time.monotonic_ns()
        result = await admit(request, now)
        stamps.append((called, time.monotonic_ns()))
        return result

    db.admit = stamped  # type: ignore[method-assign]
    return stamps


async def queue_one_at_a_time(services: Services, claims: asyncio.Queue[Claim], jobs: int,
                              gap: float) -> list[dict[str, int]]:
    """Each job's moments, queued one at a time."""
    admits = stamp_admits(services.db)
    samples = []
    for n in range(jobs):
        requester = Requester(guild_id=1, channel_id=2, user_id=100 + n % 50)
        request = JobRequest(TEMPLATE, {"prompt": f"wake-up {n}", "frames": 17})
        submit = time.monotonic_ns()
        job = await services.admission.submit(requester, request)
        async with asyncio.timeout(JOB_TIMEOUT):
            job_id, heard, claimed = await claims.get()
        if job_id != job.id:
            raise RuntimeError(f"the dispatcher claimed job {job_id} while job {job.id} was the only one queued")
        admit, admitted = admits[-1]  # the try that queued it
        samples.append({"submit": submit, "admit": admit, "admitted": admitted, "heard": heard, "claimed": claimed})
        await asyncio.sleep(gap)  # the dispatcher finds nothing more and waits for a notice
    return samples


def figures_of(samples: list[dict[str, int]]) -> dict[str, float]:
    heard = [sample for sample in samples if sample["heard"]]
    figures: dict[str, float] = {"jobs": len(samples), "notices_missed": len(samples) - len(heard)}
    for name, (start, end) in SPANS.items():
        spans = [(sample[end] - sample[start]) / 1e6 for sample in (heard if "heard" in (start, end) else samples)]
        figures |= {f"{name}_p50_ms": round(percentile(spans, 50), 3),
                    f"{name}_p99_ms": round(percentile(spans, 99), 3),
                    f"{name}_max_ms": round(max(spans, default=float("nan")), 3)}
    return figures


# ----------------------------------------------------------------- the dispatcher process (B)

def dispatcher_process(database: str, comfyui: str, data_dir: str, pipe: Connection) -> None:
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(dispatch_until_told(database, comfyui, Path(data_dir), pipe))


async def dispatch_until_told(database: str, comfyui: str, data_dir: Path, pipe: Connection) -> None:
    """Run the dispatcher, telling the pipe each claim, until the pipe says stop (or closes)."""
    services = await Services.open(settings_for(database, comfyui, data_dir))
    try:
        await Claims(pipe.send).start(services)
        pipe.send(("ready",))
        async with readable(pipe) as ready:
            await ready.wait()
    finally:
        await services.close()


@asynccontextmanager
async def readable(pipe: Connection) -> AsyncIterator[asyncio.Event]:
    """An event set when the pipe has something to read (or was closed)."""
    loop = asyncio.get_running_loop()
    event = asyncio.Event()
    loop.add_reader(pipe.fileno(), event.set)
    try:
        yield event
    finally:
        loop.remove_reader(pipe.fileno())


async def claims_from(pipe: Connection, claims: asyncio.Queue[Claim]) -> None:
    """Move B's claims from the pipe into `claims`."""
    async with readable(pipe) as ready:
        while True:
            await ready.wait()
            ready.clear()
            while pipe.poll():
                message = pipe.recv()
                if message[0] != "ready":
                    claims.put_nowait(message)


@asynccontextmanager
async def emulator(folder: Path) -> AsyncIterator[str]:
    """A ComfyUI emulator in its own process, as fast as it goes; its URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.comfyui", "--port", "0", "--root", str(folder), "--steps", "1",
        "--step-seconds", "0", "--history-delay", "0", cwd=ROOT, stdout=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        async with asyncio.timeout(START_TIMEOUT):
            line = (await process.stdout.readline()).decode().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"the ComfyUI emulator did not start: {line!r}")
        yield line.removeprefix("listening on ")
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


@asynccontextmanager
async def dispatcher_in_another_process(database: str, comfyui: str, data_dir: Path) -> AsyncIterator[Connection]:
    """Process B, started and ready; the pipe its claims come through."""
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    process = ctx.Process(target=dispatcher_process, args=(database, comfyui, str(data_dir), theirs),
                          name="dispatcher", daemon=True)
    process.start()
    theirs.close()
    try:
        ready = await asyncio.to_thread(ours.poll, START_TIMEOUT)
        if not ready or ours.recv() != ("ready",):
            raise RuntimeError("the dispatcher process did not start (see its error above)")
        yield ours
    finally:
        if process.is_alive():
            ours.send(("stop",))
        await asyncio.to_thread(process.join, 10.0)
        if process.is_alive():
            process.kill()
            await asyncio.to_thread(process.join)


# ----------------------------------------------------------------- the runs

async def postgres_run(database: str, folder: Path, args: argparse.Namespace) -> dict[str, float]:
    async with emulator(folder / "comfyui") as comfyui, \
            dispatcher_in_another_process(database, comfyui, folder / "b") as pipe:
        services = await Services.open(settings_for(database, comfyui, folder / "a"))
        claims: asyncio.Queue[Claim] = asyncio.Queue()
        reader = asyncio.create_task(claims_from(pipe, claims))
        try:
            samples = await queue_one_at_a_time(services, claims, args.warmup + args.jobs, args.gap)
        finally:
            reader.cancel()
            await services.close()
    return figures_of(samples[args.warmup:])


async def sqlite_run(folder: Path, args: argparse.Namespace) -> dict[str, float]:
    async with emulator(folder / "comfyui-sqlite") as comfyui:
        services = await Services.open(settings_for(folder / "wakeup.db", comfyui, folder / "sqlite"))
        claims: asyncio.Queue[Claim] = asyncio.Queue()
        try:
            await Claims(claims.put_nowait).start(services)
            samples = await queue_one_at_a_time(services, claims, args.warmup + args.jobs, args.gap)
        finally:
            await services.close()
    return figures_of(samples[args.warmup:])


def rows(figures: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    out = []
    for key, label in (("postgres", "postgres, A -> B"), ("sqlite", "sqlite, one process")):
        if key not in figures:
            continue
        f = figures[key]
        for name, (start, end) in SPANS.items():
            values = f"{f[name + '_p50_ms']} / {f[name + '_p99_ms']} / {f[name + '_max_ms']}"
            if name == "admit_to_claimed":
                ok = f[name + "_p50_ms"] <= P50_TARGET_MS
                out.append((f"{label}: {start} -> {end} p50/p99/max ms", values, f"p50 <= {P50_TARGET_MS:g}",
                            "ok" if ok else "MISSED"))
            else:
                out.append((f"{label}: {start} -> {end} p50/p99/max ms", values, "", ""))
        out.append((f"{label}: notices missed (claimed on the slow poll)", str(f["notices_missed"]), "= 0",
                    "ok" if f["notices_missed"] == 0 else "MISSED"))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between a delivery and the next job")
    parser.add_argument("--warmup", type=int, default=5, help="first jobs not counted")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite comparison")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    figures: dict[str, Any] = {"gap_s": args.gap}
    with tempfile.TemporaryDirectory(prefix="wanbot-wakeup-") as tmp:
        with postgres_server(Path(tmp) / "pg") as database:
            figures["postgres"] = asyncio.run(postgres_run(database, Path(tmp), args))
        if not args.no_sqlite:
            figures["sqlite"] = asyncio.run(sqlite_run(Path(tmp), args))
    title = (f"wakeup: {args.jobs} jobs queued one at a time ({args.gap:g} s after the previous delivery), "
             "each claimed by an idle dispatcher woken by the store's change notice")
    report("wakeup", title, rows(figures), figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
