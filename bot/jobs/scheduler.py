"""Scheduling: the fair order of the queue, claims, cancels, requeues, positions and ETAs.

Fairness is start-time fair queueing over users, in "virtual rounds":
- A new job gets `round = max(clock, last + 1)`, where `clock` is the highest round claimed
  so far in its priority class (persisted by the store with each claim) and `last` is the
  round of the user's newest still-queued job in that class.
- The next job is the lowest (`priority_class`, `round`, `id`) among queued jobs: one index seek.
So a user with ten queued jobs holds rounds r..r+9 while a newcomer enters at the current
round: the two alternate (round-robin), each user's own jobs stay FIFO, and nobody's backlog
delays anyone else by more than one job per round. A requeued job keeps its old round and so
goes first, having waited already; a cancelled job just leaves a gap in its round.
Role priority is the class: `priority_class = -Limits.priority`, so every queued job of a
higher-priority member goes before any job of a lower class.

Round assignment reads then writes; a per-user lock (`placing`) makes it atomic within this
process. Across processes (PostgreSQL) two concurrent jobs of one user could share a round;
ties fall back to FIFO by id, which costs a little fairness and never correctness.
"""

from __future__ import annotations

import uuid
import weakref
from asyncio import Lock
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum

from bot.i18n import Message
from bot.jobs.clock import Clock
from bot.jobs.eta import Eta, EtaModel
from bot.jobs.model import JobRequest, Requester
from bot.jobs.ratelimit import RateLimiter
from storage import TRANSITIONS, AuditEntry, JobRecord, JobState, Lease, NewJob, QueueSummary
from storage.interface import Store

__all__ = ["Scheduler", "Fault", "CancelOutcome", "CancelResult", "ClaimGate", "JobPlace"]

_IN_FLIGHT = (JobState.SUBMITTED, JobState.RUNNING)
_CANCEL_TRIES = 4  # a job can move at most queued -> submitted -> running under us


class Fault(StrEnum):
    """Whose fault a failure is: a system fault gives the rate-limit token back."""

    SYSTEM = "system"
    USER = "user"


class CancelOutcome(StrEnum):
    CANCELLED = "cancelled"
    NOT_FOUND = "not_found"
    NOT_ALLOWED = "not_allowed"
    TOO_LATE = "too_late"


CANCEL_MESSAGES: dict[CancelOutcome, Message] = {
    CancelOutcome.CANCELLED: Message(en="Video #{job_id} cancelled.", zh="视频 #{job_id} 已取消。"),
    CancelOutcome.NOT_FOUND: Message(
        en="There is no video #{job_id}.", zh="没有编号为 #{job_id} 的视频。"
    ),
    CancelOutcome.NOT_ALLOWED: Message(
        en="Only the person who asked for video #{job_id} or a moderator can cancel it.",
        zh="只有视频 #{job_id} 的请求者或管理员可以取消它。",
    ),
    CancelOutcome.TOO_LATE: Message(
        en="Video #{job_id} is already finished or being delivered; it cannot be cancelled now.",
        zh="视频 #{job_id} 已完成或正在发送，无法再取消。",
    ),
}


@dataclass(frozen=True)
class CancelResult:
    outcome: CancelOutcome
    job: JobRecord | None  # as it is after the attempt
    previous_state: JobState | None = None  # submitted/running: interrupt it on the backend

    def render(self, locale: object | None, job_id: int) -> str:
        return CANCEL_MESSAGES[self.outcome].render(locale, job_id=job_id)


@dataclass(frozen=True)
class ClaimGate:
    """The queue-wide switches a claim obeys: nothing is claimed while draining, and queued
    jobs of paused guilds are skipped."""

    draining: bool
    paused: tuple[int, ...]


@dataclass(frozen=True)
class JobPlace:
    """Where one active job stands: `ahead` queued jobs before it (None once on a backend).
    `runnable` is False while no backend can run the job's template (it waits, queued)."""

    job: JobRecord
    ahead: int | None
    eta: Eta | None
    runnable: bool = True


def _new_prompt_id() -> str:
    return str(uuid.uuid4())


class Scheduler:
    """Owns the queue order; the dispatcher asks it for the next job."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        rate: RateLimiter,
        *,
        eta: EtaModel | None = None,
        backends: Sequence[str] = (),
        new_prompt_id: Callable[[], str] = _new_prompt_id,
    ) -> None:
        self._store = store
        self._clock = clock
        self._rate = rate
        self._eta = eta
        self.backends = tuple(backends)
        self._new_prompt_id = new_prompt_id
        # Locks live while someone holds them; idle users cost no memory.
        self._user_locks: weakref.WeakValueDictionary[int, Lock] = weakref.WeakValueDictionary()

    def _lock(self, user_id: int) -> Lock:
        lock = self._user_locks.get(user_id)
        if lock is None:
            lock = self._user_locks[user_id] = Lock()
        return lock

    async def enqueue(
        self, requester: Requester, request: JobRequest, priority: int = 0
    ) -> JobRecord:
        """Queue a job in its fair place, unchecked (admission queues through `placing`)."""
        async with self.placing(requester, request, priority) as job:
            return await self._store.jobs.create(job, self._clock.now())

    @asynccontextmanager
    async def placing(
        self, requester: Requester, request: JobRequest, priority: int = 0
    ) -> AsyncIterator[NewJob]:
        """The job in its fair place, to be stored inside the block: no other job of the
        member is placed meanwhile, so two never take the same round in this process."""
        priority_class = -priority
        async with self._lock(requester.user_id):
            clock, last = await self._store.jobs.round_inputs(requester.user_id, priority_class)
            yield NewJob(
                guild_id=requester.guild_id,
                channel_id=requester.channel_id,
                user_id=requester.user_id,
                template=request.template,
                params=dict(request.params),
                cost=request.cost,
                round=clock if last is None else max(clock, last + 1),
                priority_class=priority_class,
                locale=requester.locale,
            )

    async def claim_next(
        self,
        backend: str,
        prompt_id: str | None = None,
        *,
        templates: Collection[str] | None = None,
        prefer: str | None = None,
        window: int = 0,
        lease: Lease | None = None,
        capacity: int | None = None,
        gate: ClaimGate | None = None,
    ) -> JobRecord | None:
        """Take the next job for `backend` (queued -> submitted, prompt_id persisted before
        anything is posted): one of `templates` (None: any), the first of template `prefer`
        when affinity may move the jobs ahead of it back (`window`), held under `lease`, only
        while the backend holds fewer than `capacity` jobs (see
        `storage.interface.JobStore.claim_next`). None when the queue is empty, draining, or
        holds only jobs of paused guilds or of other templates, or the backend is full. `gate`:
        the drain switch and the paused guilds as read for a whole pass (else read now)."""
        gate = gate or await self.claim_gate()
        if gate.draining:
            return None
        return await self._store.jobs.claim_next(
            backend, prompt_id or self._new_prompt_id(), self._clock.now(), gate.paused,
            templates=templates, prefer=prefer, window=window, lease=lease, capacity=capacity,
        )

    async def claim_gate(self) -> ClaimGate:
        """What every claim of one pass over the backends obeys, read once for the pass."""
        draining = (await self._store.control.get()).draining
        return ClaimGate(draining, () if draining else tuple(await self._store.guilds.paused_guilds()))

    async def in_flight(self, backend: str) -> int:
        """Jobs submitted or running on `backend` now, whichever process holds them."""
        return await self._store.jobs.in_flight(backend)

    async def requeue(self, job: JobRecord, *, owner: str | None = None) -> bool:
        """Put a lost prompt back in the queue, ahead of later rounds (it keeps its round), if
        `owner` (when given) still holds it. Bounding the attempts is the dispatcher's call:
        `job.attempts` counts submissions."""
        now = self._clock.now()
        return await self._store.jobs.transition(job.id, job.state, JobState.QUEUED, now, owner=owner)

    async def mark_fetched(self, job: JobRecord, output_path: str, *, owner: str | None = None) -> bool:
        """The output is on disk: record it (if `owner`, when given, still holds the job) and
        feed the run time to the ETA model."""
        now = self._clock.now()
        moved = await self._store.jobs.transition(
            job.id, job.state, JobState.FETCHED, now, owner=owner, output_path=output_path
        )
        started = job.running_at or job.submitted_at
        if moved and self._eta is not None and job.backend and started is not None:
            await self._eta.observe(job.backend, job.cost, now - started, job.id)
        return moved

    async def fail(self, job: JobRecord, code: str, text: str, fault: Fault, *, owner: str | None = None) -> bool:
        """Mark a job failed (if `owner`, when given, still holds it); a system fault gives the
        member's token back."""
        now = self._clock.now()
        moved = await self._store.jobs.transition(
            job.id, job.state, JobState.FAILED, now, owner=owner, error_code=code, error_text=text
        )
        if moved and fault is Fault.SYSTEM:
            await self._rate.give_back(job.guild_id, job.user_id)
        return moved

    async def cancel(self, job_id: int, by_user_id: int, is_admin: bool = False) -> CancelResult:
        """Cancel for the owner or an admin; the store records who. An admin cancelling
        someone else's job is audited. The token is given back either way."""
        for _ in range(_CANCEL_TRIES):
            job = await self._store.jobs.get(job_id)
            if job is None:
                return CancelResult(CancelOutcome.NOT_FOUND, None)
            if job.user_id != by_user_id and not is_admin:
                return CancelResult(CancelOutcome.NOT_ALLOWED, job)
            if JobState.CANCELLED not in TRANSITIONS[job.state]:
                return CancelResult(CancelOutcome.TOO_LATE, job)
            now = self._clock.now()
            audit = None
            if job.user_id != by_user_id:
                audit = AuditEntry(now, by_user_id, "cancel", job.guild_id, f"job:{job.id}")
            if await self._store.jobs.transition(
                job.id, job.state, JobState.CANCELLED, now, audit=audit, cancelled_by=by_user_id
            ):
                await self._rate.give_back(job.guild_id, job.user_id)
                return CancelResult(
                    CancelOutcome.CANCELLED, await self._store.jobs.get(job_id), job.state
                )
        return CancelResult(CancelOutcome.TOO_LATE, await self._store.jobs.get(job_id))

    async def places(self, guild_id: int, user_id: int) -> list[JobPlace]:
        """Every active job of a member with its position and ETA, in queue order
        (jobs on a backend first)."""
        active = await self._store.jobs.active_for_user(guild_id, user_id)
        if not active:
            return []
        queued = await self._store.jobs.queue_places(guild_id, user_id)
        in_flight = await self._in_flight_for_eta()
        places = [
            JobPlace(job, None, self._eta.in_flight_eta(job) if self._eta else None)
            for job in active
            if job.state is not JobState.QUEUED
        ]
        for job, position in queued:
            eta = None
            if self._eta is not None:
                eta = self._eta.estimate(self.backends, in_flight, position.cost_ahead, job.cost)
            places.append(JobPlace(job, position.ahead, eta))
        return places

    async def place(self, job_id: int) -> JobPlace | None:
        """One job's position and ETA (for its status card). Queued jobs of a paused guild
        still count as ahead: they keep their place and go as soon as the guild resumes."""
        job = await self._store.jobs.get(job_id)
        if job is None or not job.is_active:
            return None
        if job.state is not JobState.QUEUED:
            return JobPlace(job, None, self._eta.in_flight_eta(job) if self._eta else None)
        position = await self._store.jobs.position(job_id)
        if position is None:  # claimed between the two reads
            return await self.place(job_id)
        eta = None
        if self._eta is not None:
            in_flight = await self._in_flight_for_eta()
            eta = self._eta.estimate(self.backends, in_flight, position.cost_ahead, job.cost)
        return JobPlace(job, position.ahead, eta)

    async def _in_flight_for_eta(self) -> list[JobRecord]:
        """Jobs on a backend now, with the ETA model's speeds brought up to date."""
        if self._eta is None:
            return []
        await self._eta.refresh(self.backends)
        return await self._store.jobs.in_states(_IN_FLIGHT)

    async def next_slot_at(self) -> float | None:
        """When the first backend should free up (None without an ETA model or work)."""
        if self._eta is None:
            return None
        in_flight = await self._in_flight_for_eta()
        if not in_flight:
            return None
        return min(self._eta.in_flight_eta(job).done_at for job in in_flight)

    async def summary(self, window: float = 86_400.0) -> QueueSummary:
        """Counts by state (finished ones over the last `window` seconds), in flight per backend."""
        return await self._store.jobs.summary(self._clock.now() - window)
