"""What `/queue`, `/cancel` and `/history` read, gathered into plain records for the embeds.

Owns the read side of the queue feature: one `QueueSnapshot` per `/queue` (queue counts,
pause/drain switches, each backend's running job and live progress, the caller's places with
ETAs) and the job lists behind `/cancel`'s default and autocomplete. Nothing here changes
state or decides a rule: positions and ETAs come from the scheduler, cancellability from the
state machine in `storage.records`. Public because `/wanbot backends` shows the same
`BackendLine`s (with their capability reports).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bot.comfy.capabilities import BackendReport
from bot.comfy.watch import Progress
from bot.jobs import JobPlace, JobRecord, JobState
from bot.services import Services
from storage import TRANSITIONS, QueueSummary

__all__ = [
    "BackendLine",
    "QueueSnapshot",
    "backend_lines",
    "cancel_candidates",
    "cancellable",
    "latest_cancellable",
    "queue_snapshot",
]

_ON_BACKEND = (JobState.SUBMITTED, JobState.RUNNING)
CANCELLABLE_STATES: tuple[JobState, ...] = tuple(
    state for state, nexts in TRANSITIONS.items() if JobState.CANCELLED in nexts
)


@dataclass(frozen=True)
class BackendLine:
    """One backend as `/queue` shows it. `running` is None when idle or only prefetched."""

    name: str
    up: bool
    usable: bool
    running: JobRecord | None
    progress: Progress | None
    waiting: int  # prompts handed to ComfyUI's own queue behind the running one
    report: BackendReport | None  # the last capability check (version, device, VRAM)


@dataclass(frozen=True)
class QueueSnapshot:
    """Everything one `/queue` answer shows, read at `now`."""

    summary: QueueSummary
    paused: bool  # this guild, by a moderator
    draining: bool  # the whole bot, by an operator or moderator
    backends: list[BackendLine]
    mine: list[JobPlace]
    now: float

    @property
    def queued(self) -> int:
        return self.summary.by_state.get(JobState.QUEUED, 0)

    @property
    def rendering(self) -> int:
        return sum(self.summary.by_state.get(state, 0) for state in _ON_BACKEND)


async def queue_snapshot(services: Services, guild_id: int, user_id: int) -> QueueSnapshot:
    """Read the queue as `user_id` of `guild_id` should see it."""
    summary = await services.scheduler.summary()
    settings = await services.db.guilds.get(guild_id)
    control = await services.db.control.get()
    mine = await services.scheduler.places(guild_id, user_id)
    return QueueSnapshot(summary, settings.paused, control.draining, await backend_lines(services),
                         mine, services.clock.now())


async def backend_lines(services: Services) -> list[BackendLine]:
    """Every configured backend with what it is doing now."""
    dispatcher = services.dispatcher
    in_flight = await services.db.jobs.in_states(_ON_BACKEND)
    reports = {backend.name: backend.report for backend in services.backends}
    lines = []
    for view in dispatcher.backend_views():
        jobs = [job for job in in_flight if job.backend == view.name]
        running = _running_job(jobs, dispatcher.progress_of)
        lines.append(BackendLine(
            name=view.name, up=view.up, usable=view.usable, running=running,
            progress=dispatcher.progress_of(running.id) if running else None,
            waiting=len(jobs) - (running is not None), report=reports.get(view.name),
        ))
    return lines


def _running_job(jobs: Sequence[JobRecord], progress_of: Callable[[int], Progress | None]) -> JobRecord | None:
    """The job executing now: marked running in the store, or reported running by ComfyUI a
    moment before the store caught up (the dispatcher persists the move after the event)."""
    for job in jobs:
        live = progress_of(job.id)
        if job.state is JobState.RUNNING or (live is not None and live.state == "running"):
            return job
    return None


def cancellable(job: JobRecord) -> bool:
    """The state machine still allows a cancel (a fetched job is already being posted)."""
    return job.state in CANCELLABLE_STATES


async def latest_cancellable(services: Services, guild_id: int, user_id: int) -> JobRecord | None:
    """`/cancel` without a job: the member's newest job that can still be cancelled."""
    jobs = [job for job in await services.db.jobs.active_for_user(guild_id, user_id) if cancellable(job)]
    return max(jobs, key=lambda job: job.id, default=None)


async def cancel_candidates(
    services: Services, guild_id: int, user_id: int, *, everyone: bool
) -> list[JobRecord]:
    """Jobs `/cancel` may offer, newest first: the member's own, or (for a moderator)
    every cancellable job of the guild."""
    if everyone:
        jobs: Iterable[JobRecord] = await services.db.jobs.in_states(CANCELLABLE_STATES)
        jobs = (job for job in jobs if job.guild_id == guild_id)
    else:
        jobs = (job for job in await services.db.jobs.active_for_user(guild_id, user_id) if cancellable(job))
    return sorted(jobs, key=lambda job: job.id, reverse=True)
