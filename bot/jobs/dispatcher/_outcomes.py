"""How an attempt ends, persisted and announced: each move of a job through the store is
followed by the observer (status cards) and /metrics; failures say whose fault they are; a
prompt lost to the backend is requeued until the attempt cap; each ComfyUI error is mapped to
the outcome it stands for (`after_error`).

Every move is conditional on this process still holding the job (`owner`): one that lost its
lease and was adopted elsewhere moves nothing, and takes no prompt off a backend.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.comfy.errors import (
    BackendDown,
    ComfyError,
    DownloadTooLarge,
    ExecutionFailed,
    Interrupted,
    OutputMissing,
    ValidationFailed,
)
from bot.jobs.dispatcher._backends import BackendPool, Slot
from bot.jobs.dispatcher._callbacks import JobObserver
from bot.jobs.dispatcher._config import DispatchConfig
from bot.jobs.scheduler import Fault, Scheduler
from bot.ops.metrics import Metrics
from storage.interface import Store
from storage.records import OWNED_STATES, JobRecord, JobState

__all__ = ["Outcomes"]

log = logging.getLogger(__name__)

_IN_FLIGHT = (JobState.SUBMITTED, JobState.RUNNING)


class Outcomes:
    def __init__(self, store: Store, scheduler: Scheduler, pool: BackendPool, config: DispatchConfig,
                 observer: JobObserver, metrics: Metrics | None) -> None:
        self.store = store
        self.scheduler = scheduler
        self.pool = pool
        self.config = config
        self.observer = observer
        self.metrics = metrics

    @property
    def owner(self) -> str:
        """This process's identity: the owner its moves are conditional on."""
        return self.config.identity.id

    # ----------------------------------------------------------------- moves

    async def current(self, job: JobRecord) -> JobRecord:
        return await self.store.jobs.get(job.id) or job

    def mine(self, job: JobRecord) -> bool:
        """This process holds the job (in the record as read)."""
        return job.owner == self.owner and job.state in OWNED_STATES

    async def announce(self, job_id: int) -> JobRecord | None:
        """Read the job after a transition and tell the observer."""
        job = await self.store.jobs.get(job_id)
        if job is not None:
            log.info("job is %s", job.state.value)
            await self.tell(job)
        return job

    async def tell(self, job: JobRecord) -> None:
        """The observer and /metrics learn that `job` moved (someone else persisted it)."""
        self._count(job)
        await self.observer.on_state(job)

    async def move(self, job: JobRecord, to: JobState, **fields: Any) -> JobRecord | None:
        """Persist a transition; the new record, or None when someone else moved it first."""
        if not await self.store.jobs.transition(job.id, job.state, to, self.config.clock(), owner=self.owner,
                                                **fields):
            return None
        return await self.announce(job.id)

    def _count(self, job: JobRecord) -> None:
        """Feed a finished job's phases and outcome to /metrics."""
        if self.metrics is None or job.is_active:
            return
        started = job.submitted_at
        self.metrics.job_finished(job.state.value)
        self.metrics.observe_durations(
            queued=(started or job.updated_at) - job.created_at,
            running=job.fetched_at - started if job.fetched_at and started else None,
            delivering=job.delivered_at - job.fetched_at if job.delivered_at and job.fetched_at else None,
        )

    # ----------------------------------------------------------------- endings

    async def fail(self, job: JobRecord, code: str, reason: str, *, fault: Fault = Fault.SYSTEM) -> None:
        current = await self.current(job)
        if not self.mine(current):
            return
        log.warning("job failed (%s): %s", code, reason)
        if await self.scheduler.fail(current, code, reason[:1000], fault, owner=self.owner):
            await self.announce(current.id)

    async def requeue(self, job: JobRecord, reason: str) -> None:
        current = await self.current(job)
        if current.state in _IN_FLIGHT and self.mine(current):
            log.info("requeued: %s", reason)
            if await self.scheduler.requeue(current, owner=self.owner):
                await self.announce(current.id)

    async def retry_or_fail(self, job: JobRecord, slot: Slot, reason: str) -> None:
        """The backend lost the prompt or could not run it: try again elsewhere, within the cap."""
        current = await self.current(job)
        if not self.mine(current):
            return  # cancelled, or adopted by another process that follows the prompt now
        if current.prompt_id:
            await self.pool.take_off(slot, current.prompt_id)
        if current.attempts >= self.config.max_attempts:
            await self.fail(current, "backend_failed", f"gave up after {current.attempts} attempts: {reason}")
        else:
            await self.requeue(current, reason)

    async def after_error(self, job: JobRecord, slot: Slot, exc: ComfyError) -> None:
        """What a ComfyUI error means for the job."""
        if isinstance(exc, ValidationFailed):
            await self._rejected(job, slot, exc)
        elif isinstance(exc, Interrupted):
            await self._interrupted(job, exc)
        elif isinstance(exc, ExecutionFailed):
            await self.fail(job, exc.kind, exc.reason)
        elif isinstance(exc, OutputMissing | DownloadTooLarge):
            await self.fail(job, "no_output", exc.reason)
        else:  # BackendDown, PromptLost, Stalled: the backend's trouble, not the job's
            if isinstance(exc, BackendDown):
                self.pool.mark_down(slot)
            await self.retry_or_fail(job, slot, exc.reason)

    async def _rejected(self, job: JobRecord, slot: Slot, exc: ValidationFailed) -> None:
        backend_lacks = bool(exc.missing_packs) or any(p.kind == "value_not_in_list" and "model file" in p.text
                                                        for p in exc.problems)
        if backend_lacks:
            self.pool.mark_unusable(slot, job.template, exc.reason)
            await self.retry_or_fail(job, slot, exc.reason)
        else:
            await self.fail(job, "rejected", exc.reason, fault=Fault.USER)

    async def _interrupted(self, job: JobRecord, exc: Interrupted) -> None:
        current = await self.current(job)
        if current.state is not JobState.CANCELLED:  # someone pressed Cancel in ComfyUI itself
            await self.fail(current, "interrupted", exc.reason)
