"""The dispatcher's life and its loops: start (check the backends, adopt what a gone process
left, claim), stop (let go of this process's jobs), claiming onto backends (spread first, then
deepen to `prefetch`, never prefetching a job an idle backend could run; each backend takes only
templates it can run, preferring the one it has loaded, and only while the backend's jobs of
every process leave it room), the heartbeat and adoption, cancel wherever a job is, and what
others may read about the backends and the jobs.

Woken by the store's change notices (this process's or, on PostgreSQL, any process's): a job
queued, released or cancelled, settings and switches saved, jobs let go. A cancel of a job this
process follows, made by any process, stops it following at once (the prompt is taken off its
backend by whoever can). A slow poll is the safety net for notices lost while a listener
reconnects. The module is this long because the loops share the attempts they act on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence

from bot.comfy.backend import Backend
from bot.comfy.capabilities import TemplateNeeds
from bot.comfy.watch import Progress
from bot.identity import ProcessIdentity
from bot.jobs.admin import QueueAdmin
from bot.jobs.dispatcher._attempt import Attempt
from bot.jobs.dispatcher._backends import BackendPool, BackendView, Slot
from bot.jobs.dispatcher._callbacks import Deliver, ExtraDataBuilder, GraphBuilder, JobObserver
from bot.jobs.dispatcher._config import DispatchConfig
from bot.jobs.dispatcher._execution import Execution
from bot.jobs.dispatcher._leases import Leases
from bot.jobs.dispatcher._outcomes import Outcomes
from bot.jobs.dispatcher._recovery import adopted_attempts, sweep_images, sweep_outputs
from bot.jobs.scheduler import CancelOutcome, CancelResult, ClaimGate, Scheduler
from bot.jobs.start_images import StartImages
from bot.ops.metrics import Metrics
from storage.changes import Change, ChangeKind
from storage.errors import StoreUnavailable
from storage.interface import Store
from storage.records import JobRecord, JobState

__all__ = ["Dispatcher"]

log = logging.getLogger(__name__)

# Notices after which a backend another process had filled may have room again.
_ROOM_MADE = (ChangeKind.RELEASED, ChangeKind.CANCELLED, ChangeKind.RESYNC, ChangeKind.ADOPTABLE)


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
        for backend in backends:
            if backend.client.client_id != self.identity.id:
                # Else the prompts it queues send their events where an adopter cannot guess.
                raise ValueError(f"backend {backend.name} speaks as ComfyUI client {backend.client.client_id}, "
                                 f"not as this process ({self.identity.id})")
        self.graph_for = graph_for
        self.extra_data_for = extra_data_for
        self.metrics = metrics
        self.images = images  # jobs' start pictures: uploaded with each submission, swept hourly
        self._pool = BackendPool(backends, templates=templates, interval=self.config.health_interval,
                                 on_up=self.kick)
        self._leases = Leases(store, self.config)
        # Until start() there is nobody to show jobs to; cancels before it are only persisted.
        self._outcomes = Outcomes(store, scheduler, self._pool, self.config, JobObserver(), metrics)
        self._execution: Execution | None = None
        self._attempts: list[Attempt] = []  # every attempt with a task that has not ended, oldest first
        self._kick = asyncio.Event()
        self._adopt_now = asyncio.Event()
        self._cancelled: asyncio.Queue[int] = asyncio.Queue()  # cancels heard of jobs followed here
        self._loops: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._accepting = True
        self._claimed = False  # a job was claimed under this identity (its clientId queued prompts)
        self._rejoining = False  # becoming a new identity: no claims meanwhile

    @property
    def identity(self) -> ProcessIdentity:
        return self.config.identity

    # ----------------------------------------------------------------- lifecycle

    async def start(self, deliver: Deliver, observer: JobObserver | None = None) -> None:
        """Check the backends, adopt the jobs whose lease has run out (a previous life of this
        process, another process that died), then start claiming. Videos are posted through
        `deliver` (idempotent per job) and jobs shown through `observer`."""
        if self._execution is not None:
            raise RuntimeError("the dispatcher is already started")
        self._outcomes = Outcomes(self.store, self.scheduler, self._pool, self.config, observer or JobObserver(),
                                  self.metrics)
        self._execution = Execution(self.store, self.scheduler, self._pool, self.config, self.graph_for, deliver,
                                    self._outcomes, self._leases, self._off_backend, self.images,
                                    self.extra_data_for)
        self.config.output_dir.mkdir(parents=True, exist_ok=True)
        log.info("this process is %s (lease %g s)", self.identity, self.config.lease)
        self._leases.begin()
        await self._pool.start()
        await sweep_outputs(self.store, self.config.output_dir)
        if self.images is not None:
            await sweep_images(self.store, self.images)
        await self._adopt()
        # Jobs queued, released or cancelled, settings changed, jobs let go: here or elsewhere.
        self._unsubscribe = self.store.subscribe(self._heard)
        self._loops = [asyncio.create_task(self._claim_loop(), name="dispatch"),
                       asyncio.create_task(self._pool.health_loop(), name="health"),
                       asyncio.create_task(self._poll_loop(), name="poll"),
                       asyncio.create_task(self._heartbeat_loop(), name="heartbeat"),
                       asyncio.create_task(self._adoption_loop(), name="adoption"),
                       asyncio.create_task(self._cancel_loop(), name="cancels")]
        if self.images is not None:
            self._loops.append(asyncio.create_task(self._image_sweep_loop(self.images), name="image-sweep"))
        self.kick()

    async def stop(self, grace: float = 0.0) -> None:
        """Stop claiming; let downloads and posts under way finish for up to `grace` seconds;
        stop following the rest, and let go of every job held here so that another process
        (or the next start) adopts it at once. Jobs keep running on ComfyUI meanwhile."""
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
        if self._execution is not None:
            await self._leases.release()
        await self._pool.close()

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.poll_interval)
            self._slots_may_have_room()
            self.kick()

    def kick(self) -> None:
        """Something changed (a job was queued, a slot freed, a backend came back)."""
        self._kick.set()

    def _heard(self, change: Change) -> None:
        """A change notice (called on the event loop; only sets flags)."""
        if change.kind in _ROOM_MADE:
            self._slots_may_have_room()
        self.kick()
        if change.kind in (ChangeKind.ADOPTABLE, ChangeKind.RESYNC):
            self._adopt_now.set()
        if change.kind is ChangeKind.CANCELLED and change.job_id is not None and self._attempt_of(change.job_id):
            self._cancelled.put_nowait(change.job_id)

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
        """The latest progress ComfyUI reported for the job, while this process follows it
        (None for a job another process holds: its progress is that process's)."""
        attempt = self._attempt_of(job_id)
        return attempt.progress if attempt is not None else None

    def follows(self, job_id: int) -> bool:
        """This process follows the job now (another process may, on a shared queue)."""
        return self._attempt_of(job_id) is not None

    def fetched_here(self, job_id: int) -> bool:
        """The attempt delivering the job now is the one that fetched it: no post of it can
        exist yet (the delivery may skip looking for one). False for a retry, a restart and a
        job adopted from another process."""
        attempt = self._attempt_of(job_id)
        return attempt is not None and attempt.fetched_here

    @property
    def store_unavailable(self) -> str | None:
        """Why the database did not answer the last heartbeat or adoption (None: it did)."""
        return self._leases.unavailable

    # ----------------------------------------------------------------- claiming

    async def _claim_loop(self) -> None:
        while True:
            await self._kick.wait()
            self._kick.clear()
            try:
                await self._fill_slots()
            except StoreUnavailable as exc:
                self._leases.failed(exc)
                await asyncio.sleep(1.0)
                self.kick()
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
        if not self._accepting or self._rejoining or all(slot.full or not slot.open for slot in self._pool.slots):
            return  # nothing to ask the database until a job leaves a backend
        gate = await self.scheduler.claim_gate()
        if gate.draining:
            return
        # Fill every backend's running slot before any prefetch slot: spread first, then deepen.
        # The store counts each backend's jobs of every process: a backend that is full, or
        # found nothing it can run, is not asked again at this depth.
        deepest = 1 + self.config.prefetch
        busy: set[Slot] = set()
        for depth in range(1, deepest + 1):
            for slot in self._pool.slots:
                while not slot.full and slot.open and len(slot.attempts) < depth \
                        and await self._claim_into(slot, depth, gate, busy):
                    pass
            if depth == 1 and depth < deepest:
                busy = await self._busy_elsewhere()
        # A backend full of other processes' jobs is not asked again at each job queued anywhere
        # (every process hears every one): only once a job leaves a backend.
        for slot in self._pool.slots:
            if slot.open and not slot.full and len(slot.attempts) < deepest:
                slot.full = await self.scheduler.in_flight(slot.name) >= deepest

    async def _busy_elsewhere(self) -> set[Slot]:
        """The backends without a job of this process that run another process's: not idle, so
        they do not hold back this process's prefetch."""
        return {slot for slot in self._pool.slots
                if slot.open and not slot.attempts and await self.scheduler.in_flight(slot.name) > 0}

    def _slots_may_have_room(self) -> None:
        for slot in self._pool.slots:
            slot.full = False

    async def _claim_into(self, slot: Slot, depth: int, gate: ClaimGate, busy: set[Slot]) -> bool:
        templates = self._pool.prefetchable(slot, busy) if depth > 1 else slot.able
        if templates is not None and not templates:
            return False
        job = await self.scheduler.claim_next(slot.name, templates=templates, prefer=self._pool.preferred(slot),
                                              window=self.config.affinity_window, lease=self._leases.lease(),
                                              capacity=depth, gate=gate)
        if job is None:
            return False
        self._claimed = True
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

    def _off_backend(self, attempt: Attempt) -> None:
        """The job left its backend (fetched): its slot may take the next job while it posts."""
        if attempt.slot is not None:
            attempt.slot.release(attempt)
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

    # ----------------------------------------------------------------- leases

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat)
            if self._leases.lapsed():
                await self._rejoin()
            held = {a.job_id for a in self._attempts}  # before the statement: claims after it are not missed
            try:
                kept = await self._leases.renew(held)
            except StoreUnavailable:
                continue
            for job_id in sorted(held - kept):
                with contextlib.suppress(StoreUnavailable):
                    await self._lost(job_id)
            self._adopt_now.set()

    async def _adoption_loop(self) -> None:
        wait = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._adopt_now.wait()
            self._adopt_now.clear()
            wait = self.config.heartbeat
            if not self._accepting or not self._leases.may_adopt():
                continue
            try:
                await self._adopt()
                wait = await self._leases.next_adoption_in()
            except StoreUnavailable:
                continue
            except Exception:  # noqa: BLE001 - the loop must survive a bad moment of the store
                log.exception("adoption failed")

    async def _adopt(self) -> None:
        jobs = [job for job in await self._leases.adopt() if self._attempt_of(job.id) is None]
        for job in jobs:
            log.info("adopted job %d (%s on %s, claimed by process %s): its holder's lease ran out", job.id,
                     job.state.value, job.backend or "-", (job.claimed_by or "-")[:8])
        for attempt in await adopted_attempts(jobs, self._pool, self._outcomes):
            self._spawn(attempt)

    async def _lost(self, job_id: int) -> None:
        """The heartbeat found the job no longer held here: stop following it."""
        attempt = self._attempt_of(job_id)
        job = await self.store.jobs.get(job_id)
        if attempt is None or job is None:
            return
        if job.state is JobState.CANCELLED:
            await self._stop_on_backend(job)
        elif job.owner not in (None, self.identity.id):
            log.warning("job %d is held by process %s now (this one lost its lease): no longer following it",
                        job_id, job.owner[:8])
            self._stop_following(attempt)
        # Else this process moved it on itself (finished, requeued) and the attempt is ending.

    async def _rejoin(self) -> None:
        """No heartbeat reached the database for a whole lease (a pause, a partition, a long
        outage): other processes may have adopted any job held here, and be listening as this
        process's ComfyUI clientId for those prompts. So this process stops following everything
        (ComfyUI keeps the prompts), becomes a new identity with a new clientId (the old one is
        left to the adopters), and lets the old identity's jobs go: whoever is up adopts them,
        this process included. Moves stay safe meanwhile: they are conditional on the owner."""
        old, claimed = self.identity, self._claimed
        self._leases.begin()
        if not self._attempts and not claimed:
            return  # nobody can be listening as this identity: nothing to hand over
        self._rejoining = True
        try:
            for attempt in list(self._attempts):
                self._stop_following(attempt)
            tasks = [attempt.task for attempt in self._attempts if attempt.task is not None]
            if tasks:
                await asyncio.wait(tasks)
            self.config.identity = ProcessIdentity.new()
            self._claimed = False
            log.warning("this process could not renew its leases for %g s: it lets go of its jobs and goes on as %s "
                        "(was %s)", self.config.lease, self.identity, old.short)
            for slot in self._pool.slots:
                slot.backend.client.client_id = self.identity.id
                await slot.backend.events.drop()  # it reconnects as the new identity
            await self._leases.release(old.id)
        finally:
            self._rejoining = False
        self._adopt_now.set()
        self.kick()

    def _stop_following(self, attempt: Attempt) -> None:
        if attempt.task is not None:
            attempt.task.cancel()
        if attempt.slot is not None:
            attempt.slot.release(attempt)

    # ----------------------------------------------------------------- cancel

    async def cancel(self, job_id: int, by: int, *, is_admin: bool = False) -> CancelResult:
        """Cancel for the owner or an admin, wherever the job is: queued jobs leave the queue,
        prefetched ones leave ComfyUI's queue, a running one is interrupted (that prompt only).
        The process that follows it (this one or another) stops at the cancel notice."""
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

    async def _cancel_loop(self) -> None:
        """Cancels made anywhere of jobs followed here (from the change notices)."""
        while True:
            job_id = await self._cancelled.get()
            try:
                job = await self.store.jobs.get(job_id)
                if job is not None and job.state is JobState.CANCELLED:
                    await self._stop_on_backend(job)
            except Exception:  # noqa: BLE001 - the heartbeat finds the job gone anyway
                log.exception("stopping a cancelled job failed")

    async def _stop_on_backend(self, job: JobRecord) -> None:
        attempt = self._attempt_of(job.id)
        if attempt is not None:
            self._stop_following(attempt)  # the backend is free for the next job at once
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
