"""Queue at scale: 10,000 queued jobs from 2,000 users, on a temporary SQLite file (or, with
`--engine postgres`, a temporary PostgreSQL that the bench starts itself with pgserver, from the
test extra; its settings are pgserver's defaults, fsync on).

Prints a table of figures against the targets of the queue design, then, as the very last
line, one JSON object with the figures (for scripts). Figures, not a pass/fail test: the
exit status is 0 even if a target is missed.

    .venv/bin/python bench/queue_scale.py [--engine sqlite|postgres] [--jobs N] [--users N] [--concurrency N]

What each figure measures:
- enqueue: `Admission.submit` for every job (the whole path: drain/pause/channel/blocked-word
  checks, global and per-user caps, the persisted token bucket, fair round, insert), each
  job its own transaction, `--concurrency` requests in flight at once.
- pick: `Scheduler.claim_next` (drain flag, paused guilds, the atomic queued -> submitted
  claim with the fair clock) on the full queue; the claimed jobs are requeued afterwards.
- position: `Scheduler.places` for one random user: positions and ETAs of all their jobs.
- summary: `Scheduler.summary`, the whole queue by state and backend.
- recovery: a fresh `open_store` plus `jobs.unfinished()` with every job still unfinished
  (what the dispatcher does at start-up).
- claims_per_s: concurrent claims (8 claimers over the full queue, PostgreSQL's SKIP LOCKED or
  SQLite's one writer), every job claimed once; measured last, on the whole queue.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import _common  # noqa: F401  (puts the repository on sys.path)
from _common import percentile, report
from _queue import BACKENDS, GUILDS, enqueue_all, temporary_store, wire

from bot.jobs import JobState, Scheduler
from storage import Store, open_store

TARGETS = {
    "enqueue_jobs_per_s": (">=", 2000.0),
    "pick_p99_ms": ("<", 5.0),
    "position_p99_ms": ("<", 10.0),
    "summary_p99_ms": ("<", 50.0),
    "peak_rss_mb": ("<", 150.0),
    "recovery_s": ("<", 2.0),
}


async def timed(call: Callable[[], Awaitable[object]], count: int) -> list[float]:
    """Milliseconds of `count` sequential calls."""
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def measure_picks(db: Store, scheduler: Scheduler, count: int) -> list[float]:
    claimed = []

    async def pick() -> None:
        claimed.append(await scheduler.claim_next(BACKENDS[len(claimed) % len(BACKENDS)]))

    samples = await timed(pick, count)
    for job in claimed:  # back to the queue, so later figures see all the jobs queued
        assert job is not None
        await db.jobs.transition(job.id, JobState.SUBMITTED, JobState.QUEUED, time.time())
    return samples


async def measure_recovery(location: str | Path, expected: int) -> float:
    start = time.perf_counter()
    db = await open_store(location)
    unfinished = await db.jobs.unfinished()
    elapsed = time.perf_counter() - start
    await db.close()
    assert len(unfinished) == expected, len(unfinished)
    return elapsed


async def measure_claims(location: str | Path, jobs: int, claimers: int = 8) -> float:
    """Claims per second with `claimers` stores claiming at once until the queue is empty."""
    stores = [await open_store(location) for _ in range(claimers)]
    taken: list[int] = []

    async def claim_all(db: Store, name: str) -> None:
        while (job := await db.jobs.claim_next(name, f"{name}-{len(taken)}-{time.time_ns()}", time.time())):
            taken.append(job.id)

    start = time.perf_counter()
    await asyncio.gather(*(claim_all(db, f"c{i}") for i, db in enumerate(stores)))
    elapsed = time.perf_counter() - start
    for db in stores:
        await db.close()
    assert len(taken) == len(set(taken)) == jobs, (len(taken), len(set(taken)))
    return jobs / elapsed


async def run(engine: str, jobs: int, users: int, concurrency: int) -> dict[str, float]:
    rng = random.Random(7)
    async with temporary_store(engine) as location:
        db = await open_store(location)
        admission, scheduler = wire(db, jobs)
        rate = await enqueue_all(admission, jobs, users, concurrency)
        picks = await measure_picks(db, scheduler, 1000)
        positions = await timed(
            lambda: scheduler.places(1000 + (u := rng.randrange(users)) % GUILDS, u), 1000
        )
        summaries = await timed(scheduler.summary, 200)
        await db.close()
        recovery = max([await measure_recovery(location, jobs) for _ in range(3)])
        claims = await measure_claims(location, jobs)
    return {
        "jobs": jobs,
        "users": users,
        "enqueue_jobs_per_s": round(rate, 1),
        "pick_p50_ms": round(percentile(picks, 50), 3),
        "pick_p99_ms": round(percentile(picks, 99), 3),
        "position_p50_ms": round(percentile(positions, 50), 3),
        "position_p99_ms": round(percentile(positions, 99), 3),
        "summary_p50_ms": round(percentile(summaries, 50), 3),
        "summary_p99_ms": round(percentile(summaries, 99), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "recovery_s": round(recovery, 3),
        "claims_per_s": round(claims, 1),
    }


def rows(figures: dict[str, float]) -> list[tuple[str, str, str, str]]:
    out = []
    for name, value in figures.items():
        if name in ("jobs", "users", "engine"):
            continue
        op, limit = TARGETS.get(name, ("", None))
        if limit is None:
            out.append((name, str(value), "", ""))
            continue
        ok = value >= limit if op == ">=" else value < limit
        out.append((name, str(value), f"{op} {limit:g}", "ok" if ok else "MISSED"))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    figures = {"engine": args.engine, **asyncio.run(run(args.engine, args.jobs, args.users, args.concurrency))}
    title = (f"queue_scale ({args.engine}): {args.jobs} jobs from {args.users} users, "
             f"{args.concurrency} at once")
    report("queue_scale", title, rows(figures), figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
