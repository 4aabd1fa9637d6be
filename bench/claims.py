"""Claims: how fast 1, 2 and 4 claimer processes drain a queue of 10,000 jobs from 2,000 members
on PostgreSQL, next to one process on SQLite, and whether any job was claimed twice.

Prints a table, then, as the very last line, one JSON object with the figures. Figures, not a
pass/fail test: the exit status is 0 even if a target is missed (the one target: no job claimed
twice, checked against the store after every run).

    .venv/bin/python bench/claims.py [--jobs 10000] [--members 2000] [--processes 1,2,4]
                                     [--window 4] [--big-share 0.25] [--stale-stats]
                                     [--concurrency 64] [--no-sqlite]

The queue. `Admission.submit` (the bot's whole admission path: fair rounds, caps, the token
bucket, `Store.admit`) queues every job once, `--concurrency` at a time; a quarter of the jobs
(`--big-share`) are of the 14B template, shuffled with a fixed seed. The filled store is then
copied for each run (`CREATE DATABASE ... TEMPLATE` on PostgreSQL, a file copy on SQLite), so
every run starts from the same queue. PostgreSQL is a pgserver in a temporary folder with its
defaults (fsync on), as `bench/queue_scale.py` starts it. Its planner statistics are taken
after the fill (`ANALYZE`, what autovacuum does within a minute of a burst); `--stale-stats`
takes them before the fill instead, with autovacuum off: the first minute of a burst that the
statistics have not seen.

The claimers. Each is a real process (`multiprocessing`, spawn) with its own store (its own
connection pool and, on PostgreSQL, its own LISTEN connection), standing for one backend slot
of a dispatcher: it calls `Scheduler.claim_next(name, templates=..., prefer=..., window=...)`
exactly as `Dispatcher._claim_into` does (the drain flag, paused guilds, then
`JobStore.claim_next`), one claim after another, until the queue is empty. The backend can run
every template of the deployment (`templates=`, the slot's `able`: both, or with
`--big-share 0` the one); it prefers the template of the job it took last (`prefer=`, the
slot's `warm`; nothing while cold with two templates, since every backend can run both).
All processes open their stores first and start together at a barrier.
- plain: `window=0` (`WANBOT_AFFINITY_WINDOW=0`): the claim is pure fair order;
- affinity: `window=4` (the default setting): the claim may move jobs back for the warm
  template, which on PostgreSQL decides under a transaction advisory lock.

What is measured:
- claims_per_s: jobs claimed / (last claimer done - first claimer started), one monotonic
  clock (shared by the processes on Linux);
- claim p50/p99: each successful `Scheduler.claim_next`, as the dispatcher waits for it; the
  store's part (`JobStore.claim_next`) beside it;
- double claims: after the run, every claim's job id must be distinct, and the store must hold
  every job `submitted`, once attempted, under the backend and prompt_id of the one claim that
  took it, with nothing left queued.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing as mp
import random
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import asyncpg

import _common  # noqa: F401  (puts the repository on sys.path)
from _common import percentile, report
from _queue import database_url, enqueue_all, postgres_server, wire

from bot.jobs.dispatcher import DispatchConfig
from storage import JobRecord, JobState, Store, open_store
from storage.engines import POSTGRES_SCHEMES

SMALL, BIG = "wan-wrapper", "wan-wrapper-14b"
BIG_SHARE = 0.25
START_TIMEOUT = 60.0  # every claimer has opened its store and reached the barrier by then
RUN_TIMEOUT = 600.0  # a run that has not drained the queue by then is stuck


# ----------------------------------------------------------------- one claimer process

def claimer(location: str, name: str, able: frozenset[str], window: int, start: Barrier, out: Connection) -> None:
    """The body of a claimer process: its figures go back through `out`."""
    logging.basicConfig(level=logging.WARNING)
    out.send(asyncio.run(claim_until_empty(location, name, able, window, start)))
    out.close()


async def claim_until_empty(location: str, name: str, able: frozenset[str], window: int,
                            start: Barrier) -> dict[str, Any]:
    db = await open_store(location)
    try:
        _, scheduler = wire(db, 0, backends=(name,))
        store_seconds = time_store_claims(db)
        warm: str | None = None  # what Slot.hold keeps: the template of the job it took last
        taken: list[tuple[int, str]] = []
        seconds: list[float] = []
        await db.jobs.count_queued()  # the pool's connection is open and has been used once
        await asyncio.to_thread(start.wait, START_TIMEOUT)
        started = time.monotonic()
        while True:
            before = time.perf_counter()
            job = await scheduler.claim_next(name, templates=able, prefer=warm, window=window)
            if job is None:
                break
            seconds.append(time.perf_counter() - before)
            taken.append((job.id, str(job.prompt_id)))
            warm = job.template
        ended = time.monotonic()
    finally:
        await db.close()
    return {"name": name, "taken": taken, "seconds": seconds, "store_seconds": store_seconds,
            "started": started, "ended": ended}


def time_store_claims(db: Store) -> list[float]:
    """Wrap the store's claim to time its part of each scheduler claim."""
    samples: list[float] = []
    claim: Callable[..., Awaitable[JobRecord | None]] = db.jobs.claim_next

    async def timed(*args: Any, **kwargs: Any) -> JobRecord | None:
        before = time.perf_counter()
        job = await claim(*args, **kwargs)
        if job is not None:
            samples.append(time.perf_counter() - before)
        return job

    db.jobs.claim_next = timed  # type: ignore[method-assign]
    return samples


# ----------------------------------------------------------------- one run

def run_claimers(location: str, processes: int, able: frozenset[str], window: int) -> list[dict[str, Any]]:
    """Start `processes` claimers on `location` together; their figures once all are done."""
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(processes + 1)
    pipes: list[Connection] = []
    workers = []
    for i in range(processes):
        ours, theirs = ctx.Pipe(duplex=False)
        worker = ctx.Process(target=claimer, args=(location, f"gpu-{i + 1}", able, window, start, theirs),
                             name=f"claimer-{i + 1}", daemon=True)
        worker.start()
        theirs.close()
        pipes.append(ours)
        workers.append(worker)
    try:
        start.wait(START_TIMEOUT)
        return [receive(pipe, worker.name) for pipe, worker in zip(pipes, workers)]
    finally:
        for worker in workers:
            worker.join(5.0)
            if worker.is_alive():
                worker.kill()
                worker.join()


def receive(pipe: Connection, who: str) -> dict[str, Any]:
    if not pipe.poll(RUN_TIMEOUT):
        raise TimeoutError(f"{who} did not finish within {RUN_TIMEOUT:g} s")
    try:
        return dict(pipe.recv())
    except EOFError:
        raise RuntimeError(f"{who} ended without sending its figures (see its error above)") from None


async def verify(location: str, claims: list[dict[str, Any]], jobs: int) -> dict[str, int]:
    """What the claims and the store say about double claims."""
    taken = {job_id: (claim["name"], prompt_id) for claim in claims for job_id, prompt_id in claim["taken"]}
    ids = [job_id for claim in claims for job_id, _ in claim["taken"]]
    db = await open_store(location)
    try:
        stored = {job.id: job for job in await db.jobs.in_states([JobState.SUBMITTED])}
        queued = await db.jobs.count_queued()
    finally:
        await db.close()
    disagree = sum(1 for job_id, (name, prompt_id) in taken.items()
                   if job_id not in stored or stored[job_id].attempts != 1
                   or (stored[job_id].backend, stored[job_id].prompt_id) != (name, prompt_id))
    return {"claimed": len(ids), "double_claims": len(ids) - len(set(ids)), "store_disagrees": disagree,
            "left_queued": queued, "missing": jobs - len(set(ids)), "submitted_in_store": len(stored)}


def figures_of(claims: list[dict[str, Any]], checked: dict[str, int]) -> dict[str, Any]:
    seconds = [s for claim in claims for s in claim["seconds"]]
    store = [s for claim in claims for s in claim["store_seconds"]]
    elapsed = max(claim["ended"] for claim in claims) - min(claim["started"] for claim in claims)
    ms = [s * 1000 for s in seconds]
    store_ms = [s * 1000 for s in store]
    return {
        "claims_per_s": round(len(seconds) / elapsed, 1),
        "claim_p50_ms": round(percentile(ms, 50), 3),
        "claim_p99_ms": round(percentile(ms, 99), 3),
        "store_claim_p50_ms": round(percentile(store_ms, 50), 3),
        "store_claim_p99_ms": round(percentile(store_ms, 99), 3),
        "per_process": [len(claim["taken"]) for claim in claims],
        **checked,
    }


# ----------------------------------------------------------------- the queue, once, then copies

def configured(big_share: float) -> frozenset[str]:
    """The templates of the deployment: every backend passes its check for each."""
    return frozenset({SMALL, BIG} if big_share > 0 else {SMALL})


def templates_of(jobs: int, big_share: float, seed: int = 7) -> list[str]:
    big = round(jobs * big_share)
    mix = [BIG] * big + [SMALL] * (jobs - big)
    random.Random(seed).shuffle(mix)
    return mix


async def fill(location: str, args: argparse.Namespace) -> float:
    """Queue every job through admission; jobs per second. On PostgreSQL the planner's
    statistics are then taken (as autovacuum does once it notices the burst), or, with
    `--stale-stats`, taken before the burst only (autovacuum is off then)."""
    db = await open_store(location)
    try:
        if args.stale_stats:
            await analyze(location)
        admission, _ = wire(db, args.jobs)
        templates = templates_of(args.jobs, args.big_share)
        rate = await enqueue_all(admission, args.jobs, args.members, args.concurrency, templates.__getitem__)
    finally:
        await db.close()
    if not args.stale_stats:
        await analyze(location)
    return rate


async def analyze(location: str) -> None:
    if location.startswith(POSTGRES_SCHEMES):  # SQLite's claim names its index (INDEXED BY)
        await run_sql(location, "ANALYZE")


async def run_sql(url: str, *statements: str) -> None:
    """Statements that run outside a transaction (ANALYZE, ALTER SYSTEM, CREATE DATABASE)."""
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


class Copies:
    """Fresh copies of the filled queue, one per run."""

    def __init__(self, folder: Path, server: str | None) -> None:
        self.folder, self.server = folder, server
        self.runs = 0

    async def original(self) -> str:
        if self.server is None:
            return str(self.folder / "queue.db")
        await run_sql(self.server, "CREATE DATABASE queue")
        return database_url(self.server, "queue")

    async def copy(self) -> str:
        self.runs += 1
        if self.server is None:
            target = self.folder / f"run-{self.runs}.db"
            shutil.copyfile(self.folder / "queue.db", target)
            return str(target)
        await run_sql(self.server, f"CREATE DATABASE run_{self.runs} TEMPLATE queue")
        return database_url(self.server, f"run_{self.runs}")


def measure_engine(engine: str, server: str | None, folder: Path, args: argparse.Namespace,
                   process_counts: list[int]) -> tuple[float, list[dict[str, Any]]]:
    copies = Copies(folder, server)
    original = asyncio.run(copies.original())
    if server is not None and args.stale_stats:
        asyncio.run(run_sql(server, "ALTER SYSTEM SET autovacuum = off", "SELECT pg_reload_conf()"))
    enqueue_rate = asyncio.run(fill(original, args))
    runs = []
    for processes in process_counts:
        for mode, window in (("plain", 0), ("affinity", args.window)):
            location = asyncio.run(copies.copy())
            claims = run_claimers(location, processes, configured(args.big_share), window)
            checked = asyncio.run(verify(location, claims, args.jobs))
            runs.append({"engine": engine, "processes": processes, "mode": mode, "window": window,
                         **figures_of(claims, checked)})
            print(f"  {engine} x{processes} {mode}: {runs[-1]['claims_per_s']} claims/s", flush=True)
    return enqueue_rate, runs


def rows(figures: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    out = [(f"enqueue jobs/s ({engine})", str(rate), "", "") for engine, rate in figures["enqueue_jobs_per_s"].items()]
    for run in figures["runs"]:
        label = f"{run['engine']} x{run['processes']} {run['mode']}"
        sound = run["double_claims"] == run["store_disagrees"] == run["left_queued"] == run["missing"] == 0
        out += [
            (f"{label}: claims/s", str(run["claims_per_s"]), "", ""),
            (f"{label}: claim p50 / p99 ms", f"{run['claim_p50_ms']} / {run['claim_p99_ms']}", "", ""),
            (f"{label}: store claim p50 / p99 ms", f"{run['store_claim_p50_ms']} / {run['store_claim_p99_ms']}",
             "", ""),
            (f"{label}: double claims (the store agrees)", str(run["double_claims"]), "= 0",
             "ok" if sound else "MISSED"),
        ]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--processes", default="1,2,4", help="claimer process counts on PostgreSQL")
    parser.add_argument("--window", type=int, default=DispatchConfig().affinity_window,
                        help="the affinity runs' window (default: the setting's default)")
    parser.add_argument("--concurrency", type=int, default=64, help="admissions in flight while queueing")
    parser.add_argument("--big-share", type=float, default=BIG_SHARE,
                        help="the share of 14B jobs (0: one template, as most deployments run)")
    parser.add_argument("--stale-stats", action="store_true",
                        help="PostgreSQL's statistics taken before the queue filled, not after")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite comparison")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    counts = [int(part) for part in args.processes.split(",") if part.strip()]
    figures: dict[str, Any] = {"jobs": args.jobs, "members": args.members, "big_share": args.big_share,
                               "statistics": "before the fill" if args.stale_stats else "after the fill",
                               "enqueue_jobs_per_s": {}, "runs": []}
    with tempfile.TemporaryDirectory(prefix="wanbot-claims-") as tmp:
        folder = Path(tmp)
        if not args.no_sqlite:
            rate, runs = measure_engine("sqlite", None, folder, args, [1])
            figures["enqueue_jobs_per_s"]["sqlite"] = round(rate, 1)
            figures["runs"] += runs
        with postgres_server(folder / "pg") as server:
            rate, runs = measure_engine("postgres", server, folder, args, counts)
            figures["enqueue_jobs_per_s"]["postgres"] = round(rate, 1)
            figures["runs"] += runs
    title = (f"claims: {args.jobs} queued jobs from {args.members} members ({args.big_share:.0%} 14B), drained by "
             f"claimer processes calling Scheduler.claim_next as the dispatcher does (plain: window 0; "
             f"affinity: window {args.window})")
    report("claims", title, rows(figures), figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
