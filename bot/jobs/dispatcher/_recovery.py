"""Start-up recovery: what a previous process left unfinished is picked up again.

Jobs submitted or running are re-attached to their prompt on their backend (or requeued when
that backend is no longer configured); fetched jobs are posted (the delivery callback finds a
post made just before a crash). Videos left behind by a crash between `delivered` and the
file's removal are swept first, and start pictures past their keep time (`sweep_images`, also
run hourly) — never those of unfinished jobs, which a restart or a failover still needs.
"""

from __future__ import annotations

from pathlib import Path

from bot.jobs.dispatcher._attempt import Attempt
from bot.jobs.dispatcher._backends import BackendPool
from bot.jobs.dispatcher._outcomes import Outcomes
from bot.jobs.start_images import StartImages, image_ref_of
from storage.interface import Store
from storage.records import ACTIVE_STATES, JobState

__all__ = ["sweep_images", "unfinished_attempts"]

_LEFT_OVER = [JobState.SUBMITTED, JobState.RUNNING, JobState.FETCHED]


async def unfinished_attempts(store: Store, pool: BackendPool, outcomes: Outcomes, output_dir: Path,
                              images: StartImages | None = None) -> list[Attempt]:
    """The attempts to resume, each held by its backend's slot already."""
    await _sweep_outputs(store, output_dir)
    if images is not None:
        await sweep_images(store, images)
    attempts = []
    for job in await store.jobs.in_states(_LEFT_OVER):
        if job.state is JobState.FETCHED:  # off its backend already: only the post is left
            attempts.append(Attempt(job, None, fresh=False))
            continue
        slot = pool.slot_of(job.backend)
        if slot is None:
            await outcomes.requeue(job, f"backend {job.backend} is no longer configured")
            continue
        attempt = Attempt(job, slot, fresh=False)
        slot.hold(attempt)
        attempts.append(attempt)
    return attempts


async def _sweep_outputs(store: Store, output_dir: Path) -> None:
    """Remove videos left behind by a crash between `delivered` and the file's removal."""
    keep = {f"job-{job.id}.mp4" for job in await store.jobs.in_states([JobState.FETCHED])}
    for path in output_dir.glob("job-*.mp4*"):
        if path.name not in keep:
            path.unlink(missing_ok=True)


async def sweep_images(store: Store, images: StartImages) -> int:
    """Remove start pictures past their keep time, except those of unfinished jobs."""
    in_use = [ref for job in await store.jobs.in_states(list(ACTIVE_STATES)) if (ref := image_ref_of(job))]
    return await images.sweep(in_use)
