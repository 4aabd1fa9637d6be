"""What the Discord side reads about jobs and the queue, as plain records.

Owns every read a cog makes: the `/queue` snapshot (counts, what each backend renders, whichever
process follows it, and how far along it is where this process follows it, the member's places
with ETAs, pause and drain), a member's jobs (`/cancel`'s
default and choices, `/history`), one job (its status card, its buttons), the backends with
their capability reports (`/wanbot backends`), a guild's settings and the audit log. Also the
one note the cogs keep on a job: the message id of its status card.

Nothing here decides a rule: positions and ETAs are the scheduler's, cancellability is the
state machine's, health and progress are the dispatcher's (through its public views). The
counts of a snapshot and its backend lines come from one read of the store, so they agree.
No Discord types: the records are rendered by the cogs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from bot.comfy.backend import Backend
from bot.comfy.capabilities import BackendReport
from bot.comfy.watch import Progress
from bot.jobs.clock import Clock
from bot.jobs.dispatcher import BackendView, Dispatcher
from bot.jobs.scheduler import JobPlace, Scheduler
from storage import TRANSITIONS, AuditEntry, GuildSettings, JobRecord, JobState, QueueSummary
from storage.interface import Store

__all__ = ["CANCELLABLE_STATES", "BackendLine", "JobDetail", "JobReads", "QueueSnapshot", "cancellable"]

CANCELLABLE_STATES: tuple[JobState, ...] = tuple(
    state for state, nexts in TRANSITIONS.items() if JobState.CANCELLED in nexts
)
_ON_BACKEND = (JobState.SUBMITTED, JobState.RUNNING)
# What a drain waits for (as `QueueAdmin.is_drained` counts it): on a backend or being posted.
_UNTIL_DRAINED = (*_ON_BACKEND, JobState.FETCHED)


@dataclass(frozen=True)
class BackendLine:
    """One backend as `/queue` and `/wanbot backends` show it."""

    name: str
    up: bool
    usable: bool
    running: JobRecord | None  # None when idle, or when its jobs only wait in ComfyUI's queue
    progress: Progress | None  # of `running`, when this process follows it
    waiting: int  # jobs handed to ComfyUI's own queue behind the running one
    report: BackendReport | None  # the last capability check (version, device, VRAM)
    # The configured workflows it can run (None: not known) and why not each of the others.
    able: tuple[str, ...] | None = None
    unable: Mapping[str, str] = field(default_factory=dict)
    # `running` is followed by this process (else by another one on the same queue, whose
    # progress this process does not see: the job's status card shows it).
    followed_here: bool = True


@dataclass(frozen=True)
class QueueSnapshot:
    """Everything one `/queue` answer shows, read at `now`. `queued`, `rendering` and
    `backends` come from one read of the store: the jobs on the lines are the ones counted
    (bar a job left on a backend no longer configured, which the next start requeues)."""

    queued: int
    rendering: int  # submitted or running, all guilds
    paused: bool  # this guild, by a moderator
    draining: bool  # the whole bot, by an operator or moderator
    backends: tuple[BackendLine, ...]
    mine: tuple[JobPlace, ...]  # the member's unfinished jobs, in queue order
    now: float


@dataclass(frozen=True)
class JobDetail:
    """One job as its status card shows it: the record now and, while it is unfinished,
    its place (position and ETA)."""

    job: JobRecord
    place: JobPlace | None


def cancellable(job: JobRecord) -> bool:
    """The state machine still allows a cancel (a fetched job is already being posted)."""
    return job.state in CANCELLABLE_STATES


class JobReads:
    """The cogs' one way to read jobs, the queue, the backends and the guild rules."""

    def __init__(self, store: Store, scheduler: Scheduler, dispatcher: Dispatcher,
                 backends: Sequence[Backend], clock: Clock) -> None:
        self._store = store
        self._scheduler = scheduler
        self._dispatcher = dispatcher
        self._backends = tuple(backends)
        self._clock = clock

    # ------------------------------------------------------------------ the queue

    async def queue(self, guild_id: int, user_id: int) -> QueueSnapshot:
        """The queue as `user_id` of `guild_id` should see it."""
        summary = await self._scheduler.summary()
        settings = await self._store.guilds.get(guild_id)
        control = await self._store.control.get()
        mine = [self._runnable(place) for place in await self._scheduler.places(guild_id, user_id)]
        return QueueSnapshot(
            queued=summary.by_state.get(JobState.QUEUED, 0),
            rendering=sum(summary.by_state.get(state, 0) for state in _ON_BACKEND),
            paused=settings.paused, draining=control.draining, backends=self._lines(summary),
            mine=tuple(mine), now=self._clock.now(),
        )

    async def backends(self) -> tuple[BackendLine, ...]:
        """Every configured backend with what it is doing now."""
        return self._lines(await self._scheduler.summary())

    async def until_drained(self) -> int:
        """Jobs a drain still waits for: on a backend or being posted."""
        by_state = (await self._scheduler.summary()).by_state
        return sum(by_state.get(state, 0) for state in _UNTIL_DRAINED)

    def _lines(self, summary: QueueSummary) -> tuple[BackendLine, ...]:
        """The backends' lines over the jobs `summary` found on them (the dispatcher's view
        gives health, claim order and progress, never which jobs: that is the store's)."""
        reports = {backend.name: backend.report for backend in self._backends}
        return tuple(self._line(view, summary.in_flight, reports.get(view.name))
                     for view in self._dispatcher.backend_views())

    def _line(self, view: BackendView, in_flight: Iterable[JobRecord], report: BackendReport | None) -> BackendLine:
        claimed = {job_id: order for order, job_id in enumerate(view.job_ids)}
        jobs = sorted((job for job in in_flight if job.backend == view.name),
                      key=lambda job: (claimed.get(job.id, len(claimed)), job.id))
        running = next((job for job in jobs if self._is_running(job)), None)
        followed_here = running is None or self._dispatcher.follows(running.id)
        return BackendLine(
            name=view.name, up=view.up, usable=view.usable, running=running,
            progress=self._dispatcher.progress_of(running.id) if running else None,
            waiting=len(jobs) - (running is not None), report=report, able=view.able, unable=view.unable,
            followed_here=followed_here,
        )

    def _is_running(self, job: JobRecord) -> bool:
        """Marked running in the store, or reported running by ComfyUI a moment before the
        store caught up (the dispatcher persists the move after the event)."""
        live = self._dispatcher.progress_of(job.id)
        return job.state is JobState.RUNNING or (live is not None and live.state == "running")

    # ------------------------------------------------------------------ jobs

    async def job(self, job_id: int) -> JobRecord | None:
        return await self._store.jobs.get(job_id)

    async def detail(self, job_id: int) -> JobDetail | None:
        """The job now, with its place while it is unfinished; None if there is no such job."""
        place = await self._scheduler.place(job_id)
        if place is not None:
            return JobDetail(place.job, self._runnable(place))
        job = await self._store.jobs.get(job_id)
        return None if job is None else JobDetail(job, None)

    def _runnable(self, place: JobPlace) -> JobPlace:
        """Mark a queued job whose template no backend can run now (the dispatcher knows)."""
        if place.job.state is JobState.QUEUED and not self._dispatcher.can_run(place.job.template):
            return replace(place, runnable=False)
        return place

    async def history(self, guild_id: int, user_id: int, count: int) -> list[JobRecord]:
        """The member's last `count` jobs in this guild, newest first."""
        return await self._store.jobs.recent_for_user(guild_id, user_id, count)

    async def latest_cancellable(self, guild_id: int, user_id: int) -> JobRecord | None:
        """`/cancel` without a job: the member's newest job that can still be cancelled."""
        jobs = await self._store.jobs.active_for_user(guild_id, user_id)
        return max((job for job in jobs if cancellable(job)), key=lambda job: job.id, default=None)

    async def cancel_candidates(self, guild_id: int, user_id: int, *, everyone: bool) -> list[JobRecord]:
        """Jobs `/cancel` may offer, newest first: the member's own, or (for a moderator)
        every cancellable job of the guild."""
        if everyone:
            jobs = [job for job in await self._store.jobs.in_states(CANCELLABLE_STATES) if job.guild_id == guild_id]
        else:
            jobs = [job for job in await self._store.jobs.active_for_user(guild_id, user_id) if cancellable(job)]
        return sorted(jobs, key=lambda job: job.id, reverse=True)

    async def set_status_message(self, job_id: int, message_id: int) -> None:
        """Remember which message is the job's status card (a restarted bot edits it)."""
        await self._store.jobs.set_status_message(job_id, message_id)

    # ------------------------------------------------------------------ moderators' views

    async def guild_settings(self, guild_id: int) -> GuildSettings:
        return await self._store.guilds.get(guild_id)

    async def audit(self, guild_id: int, count: int) -> list[AuditEntry]:
        """The newest `count` admin actions of the guild, queue-wide ones (drains) included:
        they matter to every server's moderators."""
        log = self._store.audit
        entries = [*await log.recent(guild_id, count), *await log.recent(None, count)]
        entries.sort(key=lambda entry: entry.id or 0, reverse=True)
        return entries[:count]
