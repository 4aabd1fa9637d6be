"""The dispatcher's life and its one claim loop: start (check the backends, recover, claim),
stop, claiming onto backends (spread first, then deepen to `prefetch`, never prefetching a job
an idle backend could run; each backend takes only templates it can run, preferring the one it
has loaded), cancel wherever a job is, and what others may read about the backends and the jobs
on them. The loop is woken by the store's change notices (this process's or, on PostgreSQL, any
process's) and by a slow poll, the safety net for notices lost while a listener reconnects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence

from bot.comfy.backend import Backend
from bot.comfy.capabilities import TemplateNeeds
from bot.comfy.watch import Progress
from bot.jobs.admin import QueueAdmin
from bot.jobs.dispatcher._attempt import Attempt
from bot.jobs.dispatcher._backends import BackendPool, BackendView, Slot
from bot.jobs.dispatcher._callbacks import Deliver, ExtraDataBuilder, GraphBuilder, JobObserver
from bot.jobs.dispatcher._config import DispatchConfig
from bot.jobs.dispatcher._execution import Execution
from bot.jobs.dispatcher._outcomes import Outcomes
from bot.jobs.dispatcher._recovery import sweep_images, unfinished_attempts
from bot.jobs.scheduler import CancelOutcome, CancelResult, Scheduler
from bot.jobs.start_images import StartImages
from bot.ops.metrics import Metrics
from storage.interface import Store
from storage.records import JobRecord, JobState

__all__ = ["Dispatcher"]

log = logging.getLogger(__name__)


class Dispatcher:
    """Moves jobs from the durable queue onto ComfyUI backends and back out as posts."""

    def __init__(
        self,
        store: Store,
        scheduler: Scheduler,
        backends: Sequence[Backend],
        graph_for: GraphBuilder,
        *,
        config: DispatchConfig | None = None,
        templates: Mapping[str, TemplateNeeds] | None = None,
        metrics: Metrics | None = None,
        images: StartImages | None = None,
        extra_data_for: ExtraDataBuilder | None = None,
    ) -> None:
        self.store = store
        self.scheduler = scheduler
        self.config = config or DispatchConfig()
        self.graph_for = graph_for
        self.extra_data_for = extra_data_for
        self.metrics = metrics
        self.images = images  # jobs' start pictures: uploaded with each submission, swept hourly
        self._pool = BackendPool(backends, templates=templates, interval=self.config.health_interval,
                                 on_up=self.kick)
        # Until start() there is nobody to show jobs to; cancels before it are only persisted.
        self._outcomes = Outcomes(store, scheduler, self._pool, self.config, JobObserver(), metrics)
        self._execution: Execution | None = None
        self._attempts: list[Attempt] = []  # every attempt with a task that has not ended, oldest first
        self._kick = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._accepting = True

    # ----------------------------------------------------------------- lifecycle

    async def start(self, deliver: Deliver, observer: JobObserver | None = None) -> None:
        """Check the backends, re-attach every unfinished job, then start claiming. Videos are
        posted through `deliver` (idempotent per job) and jobs shown through `observer`."""
        if self._execution is not None:
            raise RuntimeError("the dispatcher is already started")
        self._outcomes = Outcomes(self.store, self.scheduler, self._pool, self.config, observer or JobObserver(),
                                  self.metrics)
        self._execution = Execution(self.store, self.scheduler, self._pool, self.config, self.graph_for, deliver,
                                    self._outcomes, self.images, self.extra_data_for)
        self.config.output_dir.mkdir(parents=True, exist_ok=True)
        await self._pool.start()
        for attempt in await unfinished_attempts(self.store, self._pool, self._outcomes, self.config.output_dir,
                                                 self.images):
            self._spawn(attempt)
        # Jobs queued, released or cancelled and settings changed, by this process or another.
        self._unsubscribe = self.store.subscribe(lambda _change: self.kick())
        self._loops = [asyncio.create_task(self._claim_loop(), name="dispatch"),
                       asyncio.create_task(self._pool.health_loop(), name="health"),
                       asyncio.create_task(self._poll_loop(), name="poll")]
        if self.images is not None:
            self._loops.append(asyncio.create_task(self._image_sweep_loop(self.images), name="image-sweep"))
        self.kick()

    async def stop(self, grace: float = 0.0) -> None:
        """Stop claiming; let downloads and posts under way finish for up to `grace` seconds;
        stop following the rest. Jobs keep running on ComfyUI and are re-attached by the next
        start (their state is already persisted)."""
        self._accepting = False
        if self._unsubscribe is not None:
            self._unsubscribe()
        await _cancel_all(self._loops)  # first: no attempt starts after the snapshot below
        finishing = [a.task for a in self._attempts if a.task is not None and a.finishing]
        following = [a.task for a in self._attempts if a.task is not None and not a.finishing]
        await _cancel_all(following)
        if finishing and grace > 0:
            await asyncio.wait(finishing, timeout=grace)
        await _cancel_all(finishing)
        await self._pool.close()

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.poll_interval)
            self.kick()

    def kick(self) -> None:
        """Something changed (a job was queued, a slot freed, a backend came back)."""
        self._kick.set()

    async def wait_idle(self) -> None:
        """Until no job is being followed or delivered (tests and benchmarks)."""
        while self._attempts:
            await asyncio.wait([a.task for a in self._attempts if a.task is not None])

    # ----------------------------------------------------------------- reads

    def backend_views(self) -> list[BackendView]:
        """Every configured backend as the dispatcher sees it now, in configuration order."""
        return self._pool.views()

    def can_run(self, template: str) -> bool:
        """Some backend that is up can run `template` now (else its jobs wait, queued)."""
        return self._pool.can_run(template)

    def progress_of(self, job_id: int) -> Progress | None:
        """The latest progress ComfyUI reported for the job, while it is being followed."""
        attempt = self._attempt_of(job_id)
        return attempt.progress if attempt is not None else None

    # ----------------------------------------------------------------- claiming

    async def _claim_loop(self) -> None:
        while True:
            await self._kick.wait()
            self._kick.clear()
            try:
                await self._fill_slots()
            except Exception:  # noqa: BLE001 - the loop must survive a bad moment of the store
                log.exception("dispatch loop error")
                await asyncio.sleep(1.0)
                self.kick()

    async def _image_sweep_loop(self, images: StartImages) -> None:
        while True:
            await asyncio.sleep(self.config.image_sweep_interval)
            try:
                removed = await sweep_images(self.store, images)
            except Exception:  # noqa: BLE001 - a bad moment of the disk or the store: next hour
                log.exception("sweeping start pictures failed")
                continue
            if removed:
                log.info("removed %d start picture(s) past their keep time", removed)

    async def _fill_slots(self) -> None:
        if not self._accepting:
            return
        # Fill every backend's running slot before any prefetch slot: spread first, then deepen.
        # A backend that found nothing it can run is not asked again this round; the others are.
        dry: set[Slot] = set()
        for depth in range(1, 2 + self.config.prefetch):
            for slot in self._pool.slots:
                while slot not in dry and slot.open and len(slot.attempts) < depth:
                    if not await self._claim_into(slot, prefetch=depth > 1):
                        dry.add(slot)

    async def _claim_into(self, slot: Slot, *, prefetch: bool = False) -> bool:
        templates = self._pool.prefetchable(slot) if prefetch else slot.able
        if templates is not None and not templates:
            return False
        job = await self.scheduler.claim_next(slot.name, templates=templates, prefer=self._pool.preferred(slot),
                                              window=self.config.affinity_window)
        if job is None:
            return False
        attempt = Attempt(job, slot, fresh=True)
        slot.hold(attempt)
        self._spawn(attempt)
        await self._outcomes.observer.on_state(job)
        return True

    def _spawn(self, attempt: Attempt) -> None:
        self._attempts.append(attempt)
        attempt.task = asyncio.create_task(self._carry(attempt), name=f"job-{attempt.job_id}")

    async def _carry(self, attempt: Attempt) -> None:
        assert self._execution is not None  # attempts are spawned only once started
        try:
            await self._execution.run(attempt)
        finally:
            self._release(attempt)
            self.kick()

    def _release(self, attempt: Attempt) -> None:
        """Forget this attempt, and nothing of a newer attempt of the same job."""
        if attempt.slot is not None:
            attempt.slot.release(attempt)
        if attempt in self._attempts:
            self._attempts.remove(attempt)

    def _attempt_of(self, job_id: int) -> Attempt | None:
        """The newest attempt of the job that is still under way."""
        return next((a for a in reversed(self._attempts) if a.job_id == job_id), None)

    # ----------------------------------------------------------------- cancel

    async def cancel(self, job_id: int, by: int, *, is_admin: bool = False) -> CancelResult:
        """Cancel for the owner or an admin, wherever the job is: queued jobs leave the queue,
        prefetched ones leave ComfyUI's queue, a running one is interrupted (that prompt only)."""
        result = await self.scheduler.cancel(job_id, by, is_admin)
        if result.outcome is CancelOutcome.CANCELLED and result.job is not None:
            await self._outcomes.tell(result.job)
            if result.previous_state in (JobState.SUBMITTED, JobState.RUNNING):
                await self._stop_on_backend(result.job)
        return result

    async def purge_user(self, admin: QueueAdmin, guild_id: int, user_id: int, by: int) -> list[JobRecord]:
        """A moderator's purge: every unfinished job of the member is cancelled in one audited
        transaction (no quota back: purges are for abuse), status cards learn it, and prompts
        already on ComfyUI are taken off it so no GPU renders a video nobody will get."""
        jobs = await admin.purge_user(guild_id, user_id, by)
        for job in jobs:
            await self._outcomes.tell(job)
            if job.prompt_id is not None:
                await self._stop_on_backend(job)
        return jobs

    async def _stop_on_backend(self, job: JobRecord) -> None:
        attempt = self._attempt_of(job.id)
        if attempt is not None:
            if attempt.task is not None:
                attempt.task.cancel()
            if attempt.slot is not None:
                attempt.slot.release(attempt)  # the backend is free for the next job at once
        slot = self._pool.slot_of(job.backend)
        if slot is not None and job.prompt_id is not None:
            await self._pool.take_off(slot, job.prompt_id)
        self.kick()


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel and wait for them; a cancel of the caller itself still propagates."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            log.error("a dispatcher task ended with an error", exc_info=task.exception())
