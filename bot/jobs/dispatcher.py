"""The dispatcher: moves jobs from the durable queue onto ComfyUI backends and back out as files.

It owns the only loop that claims jobs. Every step is persisted before the side effect that
depends on it: the prompt_id is stored (claim) before POST /prompt, the file is on disk before
`fetched`, and `delivered` is stored with the message id after the post. After a crash,
`start()` re-attaches every unfinished job by its prompt_id. Delivery is a callback that must
be idempotent per job (it may be called again for a job whose post went out just before a
crash); the Discord implementation looks for its own earlier post before posting.

Each backend holds at most its running job plus `prefetch` waiting in ComfyUI's own queue, so
the GPU never idles between jobs while fairness and cancellation stay ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bot.comfy.backend import Backend
from bot.comfy.capabilities import TemplateNeeds
from bot.comfy.client import Where
from bot.comfy.errors import (
    BackendDown,
    ComfyError,
    DownloadTooLarge,
    ExecutionFailed,
    Interrupted,
    OutputMissing,
    ValidationFailed,
)
from bot.comfy.protocol import HistoryEntry
from bot.comfy.render import fetch_video
from bot.comfy.watch import Progress, Watch, watch_prompt
from bot.jobs.admin import QueueAdmin
from bot.jobs.scheduler import CancelOutcome, CancelResult, Fault, Scheduler
from bot.logs import job_context
from bot.ops.metrics import Metrics
from storage.interface import Store
from storage.records import JobRecord, JobState

__all__ = ["Dispatcher", "DispatchConfig", "JobObserver", "Deliver", "DeliveryFailed", "GraphBuilder"]

log = logging.getLogger(__name__)

GraphBuilder = Callable[[JobRecord], dict[str, Any]]


class DeliveryFailed(Exception):
    """Raised by a Deliver callback. `permanent` means retrying cannot help."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Deliver(Protocol):
    async def __call__(self, job: JobRecord, video: Path) -> int | None:
        """Post `video` for `job`; return the result message id. Must be idempotent per job."""


class JobObserver:
    """Hooks for whoever shows jobs to people (the status card). Default: do nothing."""

    async def on_state(self, job: JobRecord) -> None:  # noqa: B027 - optional hook
        pass

    async def on_progress(self, job: JobRecord, progress: Progress) -> None:  # noqa: B027
        pass


@dataclass
class DispatchConfig:
    output_dir: Path = Path("data/outputs")
    prefetch: int = 1  # prompts waiting in ComfyUI's queue beyond the running one
    max_attempts: int = 3
    health_interval: float = 5.0
    max_download_bytes: int = 512 << 20
    delivery_retries: int = 5
    delivery_backoff: float = 1.0
    watch: Watch = field(default_factory=Watch)
    clock: Callable[[], float] = time.time


@dataclass
class _Slot:
    """One backend as the dispatcher sees it."""

    backend: Backend
    up: bool = True
    usable: bool = True  # False when the backend lacks the workflow's nodes or models
    checked: bool = False  # the capability check ran while the backend answered
    jobs: set[int] = field(default_factory=set)
    abandoned: set[str] = field(default_factory=set)  # prompts we requeued elsewhere

    @property
    def name(self) -> str:
        return self.backend.name


class Dispatcher:
    def __init__(
        self,
        store: Store,
        scheduler: Scheduler,
        backends: list[Backend],
        graph_for: GraphBuilder,
        deliver: Deliver,
        *,
        config: DispatchConfig | None = None,
        observer: JobObserver | None = None,
        needs: TemplateNeeds | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.scheduler = scheduler
        self.slots = [_Slot(b) for b in backends]
        self.graph_for = graph_for
        self.deliver = deliver
        self.config = config or DispatchConfig()
        self.observer = observer or JobObserver()
        self.needs = needs  # when given, a backend must pass the capability check to get work
        self.metrics = metrics
        self.progress: dict[int, Progress] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        # Jobs downloading or posting: work worth finishing at shutdown (following a prompt
        # is not: ComfyUI keeps rendering and the next start re-attaches).
        self._finishing: set[int] = set()
        self._kick = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._accepting = True

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Re-attach every unfinished job, then start claiming."""
        self.config.output_dir.mkdir(parents=True, exist_ok=True)
        for slot in self.slots:
            slot.backend.start()
        await asyncio.gather(*(self._check(slot) for slot in self.slots))
        await self.recover()
        self._loops = [asyncio.create_task(self._claim_loop(), name="dispatch"),
                       asyncio.create_task(self._health_loop(), name="health")]
        self.kick()

    async def stop(self, grace: float = 0.0) -> None:
        """Stop claiming; let downloads and posts under way finish for up to `grace` seconds;
        stop following the rest. Jobs keep running on ComfyUI and are re-attached by the next
        start (their state is already persisted)."""
        self._accepting = False
        finishing = [t for job_id, t in self._tasks.items() if job_id in self._finishing]
        following = [t for job_id, t in self._tasks.items() if job_id not in self._finishing]
        await _cancel_all(self._loops + following)
        if finishing and grace > 0:
            await asyncio.wait(finishing, timeout=grace)
        await _cancel_all(finishing)
        for slot in self.slots:
            await slot.backend.close()

    def kick(self) -> None:
        """Something changed (a job was queued, a slot freed, a backend came back)."""
        self._kick.set()

    async def wait_idle(self) -> None:
        """Until no job is being followed or delivered (tests and benchmarks)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    def slot_of(self, name: str | None) -> _Slot | None:
        return next((s for s in self.slots if s.name == name), None)

    # ----------------------------------------------------------------- recovery

    async def recover(self) -> int:
        """Pick up every job a previous process left unfinished; returns how many it follows."""
        await self._sweep_outputs()
        resumed = 0
        for job in await self.store.jobs.in_states([JobState.SUBMITTED, JobState.RUNNING, JobState.FETCHED]):
            slot = self.slot_of(job.backend)
            if job.state is not JobState.FETCHED and slot is None:
                await self._requeue(job, f"backend {job.backend} is no longer configured")
                continue
            if slot is not None and job.state is not JobState.FETCHED:
                slot.jobs.add(job.id)
            self._spawn(job, slot, fresh=False)
            resumed += 1
        return resumed

    async def _sweep_outputs(self) -> None:
        """Remove videos left behind by a crash between `delivered` and the file's removal."""
        keep = {f"job-{job.id}.mp4" for job in await self.store.jobs.in_states([JobState.FETCHED])}
        for path in self.config.output_dir.glob("job-*.mp4*"):
            if path.name not in keep:
                path.unlink(missing_ok=True)

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

    async def _fill_slots(self) -> None:
        if not self._accepting:
            return
        # Fill every backend's running slot before any prefetch slot: spread first, then deepen.
        for depth in range(1, 2 + self.config.prefetch):
            for slot in self.slots:
                while slot.up and slot.usable and len(slot.jobs) < depth:
                    if not await self._claim_into(slot):
                        return

    async def _claim_into(self, slot: _Slot) -> bool:
        job = await self.scheduler.claim_next(slot.name)
        if job is None:
            return False
        slot.jobs.add(job.id)
        await self.observer.on_state(job)
        self._spawn(job, slot, fresh=True)
        return True

    def _spawn(self, job: JobRecord, slot: _Slot | None, *, fresh: bool) -> None:
        task = asyncio.create_task(self._run(job, slot, fresh), name=f"job-{job.id}")
        self._tasks[job.id] = task

    # ----------------------------------------------------------------- one job

    async def _run(self, job: JobRecord, slot: _Slot | None, fresh: bool) -> None:
        with job_context(job=job.id, guild=job.guild_id, user=job.user_id):
            try:
                if job.state in (JobState.SUBMITTED, JobState.RUNNING) and slot is not None:
                    job = await self._execute(job, slot, fresh)
                if job.state is JobState.FETCHED:
                    self._finishing.add(job.id)
                    await self._deliver(job, slot)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one job's bug must not stop the dispatcher
                log.exception("job crashed")
                await self._fail(job, "internal", "an internal error stopped this job")
            finally:
                if slot is not None:
                    slot.jobs.discard(job.id)
                self._tasks.pop(job.id, None)
                self._finishing.discard(job.id)
                self.progress.pop(job.id, None)
                self.kick()

    async def _execute(self, job: JobRecord, slot: _Slot, fresh: bool) -> JobRecord:
        """Submit (or re-attach), follow, download. Returns the job as it is now."""
        try:
            entry = await self._follow(job, slot, fresh)
            self._finishing.add(job.id)
            return await self._fetch(job, slot, entry)
        except ValidationFailed as exc:
            await self._rejected(job, slot, exc)
        except Interrupted as exc:
            await self._interrupted(job, exc)
        except ExecutionFailed as exc:
            await self._fail(job, exc.kind, exc.reason)
        except (OutputMissing, DownloadTooLarge) as exc:
            await self._fail(job, "no_output", exc.reason)
        except ComfyError as exc:  # BackendDown, PromptLost, Stalled
            if isinstance(exc, BackendDown):
                self._mark_down(slot)
            await self._retry_or_fail(job, slot, exc.reason)
        return job

    async def _follow(self, job: JobRecord, slot: _Slot, fresh: bool) -> HistoryEntry:
        client, events = slot.backend.client, slot.backend.events
        assert job.prompt_id is not None
        graph = slot.backend.adapt(self.graph_for(job))
        state = {"job": job}

        async def on_progress(progress: Progress) -> None:
            self.progress[job.id] = progress
            current = state["job"]
            if progress.state == "running" and current.state is JobState.SUBMITTED:
                state["job"] = await self._move(current, JobState.RUNNING) or current
            await self.observer.on_progress(state["job"], progress)

        async with events.subscription(job.prompt_id) as sub:
            if not fresh:
                location = await client.locate(job.prompt_id)
                if location.where is Where.DONE and location.history is not None:
                    return location.history
                fresh = location.where is Where.LOST  # a restarted ComfyUI forgot it: send again
            if fresh:
                await client.submit(graph, prompt_id=job.prompt_id)
            return await watch_prompt(client, events, job.prompt_id, graph=graph, watch=self.config.watch,
                                      on_progress=on_progress, subscription=sub)

    async def _fetch(self, job: JobRecord, slot: _Slot, entry: HistoryEntry) -> JobRecord:
        path = self.config.output_dir / f"job-{job.id}.mp4"
        await fetch_video(slot.backend.client, entry, path, max_bytes=self.config.max_download_bytes)
        current = await self.store.jobs.get(job.id)
        if current is None or current.state not in (JobState.SUBMITTED, JobState.RUNNING):
            path.unlink(missing_ok=True)  # cancelled while we downloaded
            return current or job
        if not await self.scheduler.mark_fetched(current, str(path)):
            return await self._current(current)
        return await self._announce(current.id) or current

    async def _deliver(self, job: JobRecord, slot: _Slot | None) -> None:
        path = Path(job.output_path or "")
        if not path.is_file():
            await self._fail(job, "output_lost", "the finished video was lost before it could be posted")
            return
        delay = self.config.delivery_backoff
        for attempt in range(self.config.delivery_retries):
            try:
                message_id = await self.deliver(job, path)
                break
            except DeliveryFailed as exc:
                if exc.permanent or attempt == self.config.delivery_retries - 1:
                    await self._fail(job, "delivery_failed", exc.reason)
                    return
                log.warning("delivery failed, retrying: %s", exc.reason)
                await asyncio.sleep(delay)
                delay *= 2
        if await self._move(job, JobState.DELIVERED, result_message_id=message_id):
            path.unlink(missing_ok=True)

    # ----------------------------------------------------------------- outcomes

    async def _announce(self, job_id: int) -> JobRecord | None:
        """Read the job after a transition and tell the observer."""
        job = await self.store.jobs.get(job_id)
        if job is not None:
            log.info("job is %s", job.state.value)
            self._count(job)
            await self.observer.on_state(job)
        return job

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

    async def _move(self, job: JobRecord, to: JobState, **fields: Any) -> JobRecord | None:
        """Persist a transition; the new record, or None when someone else moved it first."""
        if not await self.store.jobs.transition(job.id, job.state, to, self.config.clock(), **fields):
            return None
        return await self._announce(job.id)

    async def _current(self, job: JobRecord) -> JobRecord:
        return await self.store.jobs.get(job.id) or job

    async def _fail(self, job: JobRecord, code: str, reason: str, *, fault: Fault = Fault.SYSTEM) -> None:
        current = await self._current(job)
        if not current.is_active:
            return
        log.warning("job failed (%s): %s", code, reason)
        if await self.scheduler.fail(current, code, reason[:1000], fault):
            await self._announce(current.id)

    async def _requeue(self, job: JobRecord, reason: str) -> None:
        current = await self._current(job)
        if current.state in (JobState.SUBMITTED, JobState.RUNNING):
            log.info("requeued: %s", reason)
            if await self.scheduler.requeue(current):
                await self._announce(current.id)

    async def _retry_or_fail(self, job: JobRecord, slot: _Slot, reason: str) -> None:
        current = await self._current(job)
        if current.state is JobState.CANCELLED:
            return
        if job.prompt_id:
            await self._abandon(slot, job.prompt_id)
        if current.attempts >= self.config.max_attempts:
            await self._fail(current, "backend_failed", f"gave up after {current.attempts} attempts: {reason}")
        else:
            await self._requeue(current, reason)

    async def _rejected(self, job: JobRecord, slot: _Slot, exc: ValidationFailed) -> None:
        backend_lacks = bool(exc.missing_packs) or any(p.kind == "value_not_in_list" and "model file" in p.text
                                                        for p in exc.problems)
        if backend_lacks:
            # The server is missing a node pack or model: stop sending it work; run `wanbot check`.
            slot.usable = False
            log.error("backend %s cannot run the workflow: %s", slot.name, exc.reason)
            await self._retry_or_fail(job, slot, exc.reason)
        else:
            await self._fail(job, "rejected", exc.reason, fault=Fault.USER)

    async def _interrupted(self, job: JobRecord, exc: Interrupted) -> None:
        current = await self._current(job)
        if current.state is not JobState.CANCELLED:  # someone pressed Cancel in ComfyUI itself
            await self._fail(current, "interrupted", exc.reason)

    # ----------------------------------------------------------------- cancel

    async def cancel(self, job_id: int, by: int, *, is_admin: bool = False) -> CancelResult:
        """Cancel for the owner or an admin, wherever the job is: queued jobs leave the queue,
        prefetched ones leave ComfyUI's queue, a running one is interrupted (that prompt only)."""
        result = await self.scheduler.cancel(job_id, by, is_admin)
        if result.outcome is CancelOutcome.CANCELLED and result.job is not None:
            self._count(result.job)
            await self.observer.on_state(result.job)
            if result.previous_state in (JobState.SUBMITTED, JobState.RUNNING):
                await self._stop_on_backend(result.job)
        return result

    async def purge_user(self, admin: QueueAdmin, guild_id: int, user_id: int, by: int) -> list[JobRecord]:
        """A moderator's purge: every unfinished job of the member is cancelled in one audited
        transaction (no quota back: purges are for abuse), status cards learn it, and prompts
        already on ComfyUI are taken off it so no GPU renders a video nobody will get."""
        jobs = await admin.purge_user(guild_id, user_id, by)
        for job in jobs:
            self._count(job)
            await self.observer.on_state(job)
            if job.prompt_id is not None:
                await self._stop_on_backend(job)
        return jobs

    async def _stop_on_backend(self, job: JobRecord) -> None:
        task = self._tasks.get(job.id)
        if task is not None:
            task.cancel()
        slot = self.slot_of(job.backend)
        if slot is None or job.prompt_id is None:
            return
        slot.jobs.discard(job.id)
        try:
            await slot.backend.client.cancel(job.prompt_id)
        except ComfyError as exc:
            slot.abandoned.add(job.prompt_id)  # cleaned up when the backend answers again
            log.warning("could not cancel on %s: %s", slot.name, exc.reason)
        self.kick()

    async def _abandon(self, slot: _Slot, prompt_id: str) -> None:
        """We give up on this prompt here: take it off the backend now, or once it answers."""
        if slot.up:
            with contextlib.suppress(ComfyError):
                await slot.backend.client.cancel(prompt_id)
                return
        slot.abandoned.add(prompt_id)

    # ----------------------------------------------------------------- health

    def _mark_down(self, slot: _Slot) -> None:
        if slot.up:
            log.warning("backend %s is down", slot.name)
        slot.up = False

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.health_interval)
            await asyncio.gather(*(self._probe(slot) for slot in self.slots))

    async def _check(self, slot: _Slot) -> None:
        """Capability check; an unreachable backend is checked again when it answers."""
        if self.needs is None:
            slot.checked = True
            return
        report = await slot.backend.prepare(self.needs)
        slot.checked = report.reachable
        slot.up = report.reachable
        slot.usable = report.ok or not report.reachable

    async def _probe(self, slot: _Slot) -> None:
        try:
            await slot.backend.client.system_stats()
        except ComfyError:
            self._mark_down(slot)
            return
        was_up = slot.up
        if slot.checked:
            slot.up = True
        else:
            await self._check(slot)
        if slot.up and not was_up:
            log.info("backend %s is up again", slot.name)
            await self._forget_abandoned(slot)
            self.kick()

    async def _forget_abandoned(self, slot: _Slot) -> None:
        """Prompts we gave to another backend must not also run here after a blip."""
        stale, slot.abandoned = list(slot.abandoned), set()
        if not stale:
            return
        with contextlib.suppress(ComfyError):
            for prompt_id in stale:
                await slot.backend.client.cancel(prompt_id)


async def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
