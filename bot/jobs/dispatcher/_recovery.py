"""Jobs left by a process that is gone (another one, or an earlier life of this one), picked up
again once their lease has run out (adopted: `_leases`), and what such a process left on disk.

An adopted job submitted or running is re-attached to its prompt on its backend by prompt_id,
exactly as after a restart (or requeued when that backend is not configured here); a fetched one
is posted (the delivery finds a post made just before the other process died, and a file that
is on the other process's disk is fetched again). At start, videos left behind by a crash
between `delivered` and the file's removal are swept, and start pictures past their keep time
(`sweep_images`, also run hourly) — never those of unfinished jobs, which a restart, a failover
or another process still needs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from bot.jobs.dispatcher._attempt import Attempt
from bot.jobs.dispatcher._backends import BackendPool
from bot.jobs.dispatcher._outcomes import Outcomes
from bot.jobs.start_images import StartImages, image_ref_of
from storage.interface import Store
from storage.records import ACTIVE_STATES, JobRecord, JobState

__all__ = ["adopted_attempts", "sweep_images", "sweep_outputs"]

_JOB_FILE = re.compile(r"job-(\d+)\.")


async def adopted_attempts(jobs: Sequence[JobRecord], pool: BackendPool, outcomes: Outcomes) -> list[Attempt]:
    """The attempts that carry on with `jobs` (just adopted), each held by its backend's slot."""
    attempts = []
    for job in jobs:
        if job.state is JobState.FETCHED:  # off its backend already: only the post is left
            attempts.append(Attempt(job, None, fresh=False))
            continue
        slot = pool.slot_of(job.backend)
        if slot is None:
            await outcomes.requeue(job, f"backend {job.backend} is not configured in this process")
            continue
        attempt = Attempt(job, slot, fresh=False)
        slot.hold(attempt)
        attempts.append(attempt)
    return attempts


async def sweep_outputs(store: Store, output_dir: Path) -> None:
    """Remove videos left behind by a crash between `delivered` and the file's removal (a
    folder shared by several processes keeps every unfinished job's files: one may be
    downloading there now)."""
    keep = {job.id for job in await store.jobs.in_states(list(ACTIVE_STATES))}
    for path in output_dir.glob("job-*.mp4*"):
        match = _JOB_FILE.match(path.name)
        if match is None or int(match[1]) not in keep:
            path.unlink(missing_ok=True)


async def sweep_images(store: Store, images: StartImages) -> int:
    """Remove start pictures past their keep time, except those of unfinished jobs."""
    in_use = [ref for job in await store.jobs.in_states(list(ACTIVE_STATES)) if (ref := image_ref_of(job))]
    return await images.sweep(in_use)
