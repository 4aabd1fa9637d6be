"""GPU utilization: 4 emulated backends at 2 s per job, 40 jobs from 10 users, all queued up front.

Prints the makespan against the ideal (jobs x job time / backends = 20 s; target <= 1.05 x ideal,
i.e. no GPU gap between jobs), each backend's busy fraction and its largest gap between one job
ending and the next starting, then, as the very last line, one JSON object with the figures.
Figures, not a pass/fail test: the exit status is 0 even if a target is missed.

    .venv/bin/python bench/utilization.py [--backends 4] [--jobs 40] [--users 10] [--job-seconds 2]
                                          [--prefetch N]   (default: the production setting, 1)

Wiring: `Services.open` on a temporary SQLite file, exactly as the bot builds it (the dispatch
config comes from the settings: prefetch 1, the production Watch), with a Deliver that posts
nothing. Each backend is a ComfyUI emulator in this process whose only work is the sampler
(10 steps); loaders, other nodes and the history write take ~0. A "GPU run" is the emulator's
execution of one prompt, timed by wrapping its executor, so a gap is exactly the time a GPU
had nothing to do while jobs were still waiting.
- makespan: from `Services.start()` to the 40th `delivered` (seen through the JobObserver).
- gpu_span: first run start to last run end (the makespan minus start-up and the last delivery).
- max_gap_ms: over all backends, the longest pause between the end of a run and the start of the
  next on the same backend.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import _common  # noqa: F401  (puts the repository on sys.path)
from _common import report
from _finish import Finish, post_nothing

from bot.jobs import JobRequest, Requester
from bot.services import Services
from bot.settings import load_settings
from tests.fakes.comfyui import FakeComfyUI

STEPS = 10  # sampler steps per job; job time = STEPS x step_seconds
RATIO_TARGET = 1.05
GAP_TARGET_MS = 50.0


@dataclass
class Runs:
    """When one emulated GPU was busy: (start, end) per executed prompt, perf_counter seconds."""

    name: str
    spans: list[tuple[float, float]] = field(default_factory=list)

    def gaps(self) -> list[float]:
        ordered = sorted(self.spans)
        return [b[0] - a[1] for a, b in pairwise(ordered)]

    def busy(self) -> float:
        return sum(end - start for start, end in self.spans)


def time_runs(fake: FakeComfyUI, name: str) -> Runs:
    """Wrap the emulator's executor: its worker loop looks `execute` up on the instance."""
    runs = Runs(name)
    execute: Callable[[Any], Awaitable[None]] = fake.executor.execute

    async def timed(item: Any) -> None:
        start = time.perf_counter()
        try:
            await execute(item)
        finally:
            runs.spans.append((start, time.perf_counter()))

    fake.executor.execute = timed  # type: ignore[method-assign]
    return runs


async def enqueue(services: Services, jobs: int, users: int) -> None:
    """Every user's jobs at once, user by user: the scheduler's rounds must interleave them."""
    for n in range(jobs):
        user = n // (jobs // users) if jobs >= users else n
        requester = Requester(guild_id=1, channel_id=2, user_id=500 + user % users)
        await services.admission.submit(requester, JobRequest("wan-native", {"prompt": f"clip {n}", "frames": 17}))


async def run(backends: int, jobs: int, users: int, job_seconds: float, prefetch: int | None) -> dict[str, Any]:
    fakes = [FakeComfyUI(steps=STEPS, step_seconds=job_seconds / STEPS, history_delay=0.0) for _ in range(backends)]
    with tempfile.TemporaryDirectory(prefix="wanbot-util-") as tmp:
        for fake in fakes:
            await fake.start()
        runs = [time_runs(fake, f"gpu-{i + 1}") for i, fake in enumerate(fakes)]
        settings = load_settings(db_path=Path(tmp) / "wanbot.db", comfyui_urls=[f.url for f in fakes],
                                 workflow="wan-native", videos_per_hour=100_000, burst=10_000,
                                 max_active=10_000, max_queued=100_000)
        services = await Services.open(settings)
        if prefetch is not None:  # to see what prefetching buys (the config is read live)
            services.dispatcher.config.prefetch = prefetch
        finish = Finish(jobs)
        try:
            await enqueue(services, jobs, users)
            started = time.perf_counter()
            await services.start(post_nothing, finish)
            await asyncio.wait_for(finish.done.wait(), timeout=jobs * job_seconds + 30)
        finally:
            await services.close()
            for fake in fakes:
                await fake.stop()
    assert finish.at is not None
    return figures(runs, started, finish.at, jobs, backends, job_seconds) | {
        "prefetch": services.dispatcher.config.prefetch}


def figures(runs: list[Runs], started: float, finished: float, jobs: int, backends: int,
            job_seconds: float) -> dict[str, Any]:
    makespan = finished - started
    ideal = jobs * job_seconds / backends
    spans = [span for r in runs for span in r.spans]
    gaps = [gap for r in runs for gap in r.gaps()]
    return {
        "backends": backends,
        "jobs": jobs,
        "job_s": job_seconds,
        "makespan_s": round(makespan, 3),
        "ideal_s": round(ideal, 3),
        "ratio": round(makespan / ideal, 4),
        "gpu_span_s": round(max(e for _, e in spans) - min(s for s, _ in spans), 3),
        "first_run_after_ms": round((min(s for s, _ in spans) - started) * 1000, 1),
        "last_delivery_after_ms": round((finished - max(e for _, e in spans)) * 1000, 1),
        "max_gap_ms": round(max(gaps, default=0.0) * 1000, 3),
        "mean_gap_ms": round(sum(gaps) / len(gaps) * 1000, 3) if gaps else 0.0,
        "runs_per_backend": [len(r.spans) for r in runs],
        "busy_fraction": [round(r.busy() / makespan, 4) for r in runs],
        "max_gap_ms_per_backend": [round(max(r.gaps(), default=0.0) * 1000, 3) for r in runs],
    }


def rows(f: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    out = [
        ("makespan_s", str(f["makespan_s"]), f"<= {RATIO_TARGET * f['ideal_s']:.2f}",
         verdict(f["ratio"] <= RATIO_TARGET)),
        ("ideal_s", str(f["ideal_s"]), "", ""),
        ("ratio", str(f["ratio"]), f"<= {RATIO_TARGET}", verdict(f["ratio"] <= RATIO_TARGET)),
        ("max_gap_ms", str(f["max_gap_ms"]), f"< {GAP_TARGET_MS:g}", verdict(f["max_gap_ms"] < GAP_TARGET_MS)),
        ("mean_gap_ms", str(f["mean_gap_ms"]), "", ""),
        ("gpu_span_s", str(f["gpu_span_s"]), "", ""),
        ("first_run_after_ms", str(f["first_run_after_ms"]), "", ""),
        ("last_delivery_after_ms", str(f["last_delivery_after_ms"]), "", ""),
    ]
    for i, (busy, gap, count) in enumerate(zip(f["busy_fraction"], f["max_gap_ms_per_backend"],
                                               f["runs_per_backend"], strict=True)):
        out.append((f"gpu-{i + 1}", f"busy {busy:.1%}, {count} runs, max gap {gap} ms", "", ""))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--job-seconds", type=float, default=2.0)
    parser.add_argument("--prefetch", type=int, default=None, help="prompts waiting per backend (default 1)")
    args = parser.parse_args()
    result = asyncio.run(run(args.backends, args.jobs, args.users, args.job_seconds, args.prefetch))
    title = (f"utilization: {args.jobs} jobs from {args.users} users on {args.backends} emulated backends, "
             f"{args.job_seconds:g} s per job, prefetch {result['prefetch']}")
    report("utilization", title, rows(result), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
