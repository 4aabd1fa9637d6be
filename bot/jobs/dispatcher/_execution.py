"""One attempt of one job from its backend to the channel: render it through
`bot.comfy.render` (persisting between the steps; its start picture, if any, uploaded to this
backend before each submission), move it to fetched once the file is on disk, then deliver it,
retrying a transient delivery failure.

Every step is persisted before the side effect that depends on it: the prompt_id is stored
(by the claim, or from the server's answer) before anything refers to it, the file is on disk
before `fetched`, and `delivered` is stored with the message id after the post. Delivery is
idempotent per job on the callback's side, so a post made just before a crash is found again
rather than made twice.

Several processes: every move is conditional on this process still holding the job; a move that
finds the job held elsewhere (adopted after this process lost its lease) ends the attempt
without touching the prompt. The post waits for a renewal of the job's lease. An adopted
fetched job whose file is on the dead process's disk is fetched again from the backend's
history by its prompt_id (`fail` as `output_lost` when the backend no longer has it).

The store unavailable (a database restart, a dropped connection): the attempt waits until it
answers again and then carries on as after a restart (re-attached to its prompt by prompt_id,
the delivery finding a post it made), so nothing fails for the outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from bot.comfy.client import Where
from bot.comfy.errors import BackendDown, ComfyError
from bot.comfy.previews import Preview
from bot.comfy.render import RenderHooks, fetch_video, render
from bot.comfy.watch import Progress
from bot.jobs.dispatcher._attempt import Attempt
from bot.jobs.dispatcher._backends import BackendPool, Slot
from bot.jobs.dispatcher._callbacks import Deliver, DeliveryFailed, ExtraDataBuilder, GraphBuilder
from bot.jobs.dispatcher._config import DispatchConfig
from bot.jobs.dispatcher._leases import Leases
from bot.jobs.dispatcher._outcomes import Outcomes
from bot.jobs.scheduler import Scheduler
from bot.jobs.start_images import StartImageLost, StartImages
from bot.logs import job_context
from storage.errors import StoreUnavailable
from storage.interface import Store
from storage.records import JobRecord, JobState

__all__ = ["Execution"]

log = logging.getLogger(__name__)

_IN_FLIGHT = (JobState.SUBMITTED, JobState.RUNNING)
# Waiting for the store to answer again: the first pause, doubled up to the cap.
_STORE_RETRY_FIRST, _STORE_RETRY_CAP = 0.2, 5.0


class _Superseded(Exception):
    """The job moved on (cancelled, requeued, adopted by another process): this attempt stops."""


class Execution:
    def __init__(self, store: Store, scheduler: Scheduler, pool: BackendPool, config: DispatchConfig,
                 graph_for: GraphBuilder, deliver: Deliver, outcomes: Outcomes, leases: Leases,
                 off_backend: Callable[[Attempt], None], images: StartImages | None = None,
                 extra_data_for: ExtraDataBuilder | None = None) -> None:
        self.store = store
        self.scheduler = scheduler
        self.pool = pool
        self.config = config
        self.graph_for = graph_for
        self.deliver = deliver
        self.outcomes = outcomes
        self.leases = leases
        self.off_backend = off_backend  # the job left its backend: the slot may take the next one
        self.images = images
        self.extra_data_for = extra_data_for

    async def run(self, attempt: Attempt) -> None:
        """Carry the attempt as far as it goes; any bug ends the job, never the dispatcher."""
        job = attempt.job
        with job_context(job=job.id, guild=job.guild_id, user=job.user_id):
            while True:
                try:
                    await self._carry(attempt)
                    return
                except asyncio.CancelledError:
                    raise
                except StoreUnavailable:
                    if not await self._store_back(attempt):
                        return
                except Exception:  # noqa: BLE001 - one job's bug must not stop the dispatcher
                    log.exception("job crashed")
                    with contextlib.suppress(StoreUnavailable):  # then its lease runs out: adopted
                        await self.outcomes.fail(attempt.job, "internal", "an internal error stopped this job")
                    return

    async def _carry(self, attempt: Attempt) -> None:
        if attempt.job.state in _IN_FLIGHT and attempt.slot is not None:
            await self._execute(attempt, attempt.slot)
        if attempt.job.state is JobState.FETCHED:
            self.off_backend(attempt)
            attempt.finishing = True
            await self._deliver(attempt)

    async def _store_back(self, attempt: Attempt) -> bool:
        """Wait until the store answers again; True when the job is still this process's to
        carry on with (then as after a restart: re-attached to its prompt by prompt_id)."""
        log.info("the database is unavailable: the job waits for it (ComfyUI keeps rendering)")
        delay = _STORE_RETRY_FIRST
        while True:
            await asyncio.sleep(delay)
            try:
                current = await self.store.jobs.get(attempt.job_id)
            except StoreUnavailable:
                delay = min(_STORE_RETRY_CAP, delay * 2)
                continue
            if current is None or not self.outcomes.mine(current):
                return False  # cancelled or adopted meanwhile: whoever moved it has taken over
            attempt.job, attempt.fresh = current, False
            return True

    # ----------------------------------------------------------------- rendering

    async def _execute(self, attempt: Attempt, slot: Slot) -> None:
        """Submit (or re-attach), follow, download; `attempt.job` is fetched when it worked."""
        try:
            await self._render(attempt, slot)
        except _Superseded:
            pass  # cancelled, requeued or adopted meanwhile: whoever moved it has taken over
        except StartImageLost as exc:
            await self.outcomes.fail(attempt.job, "image_lost", str(exc))
        except ComfyError as exc:
            await self.outcomes.after_error(attempt.job, slot, exc)

    async def _render(self, attempt: Attempt, slot: Slot) -> None:
        job = attempt.job
        assert job.prompt_id is not None  # the claim stored it
        path = self._video_path(job)
        graph = slot.backend.adapt(self.graph_for(job))
        images = await self.images.uploads(job) if self.images is not None else []
        extra_data = self.extra_data_for(job) if self.extra_data_for is not None else None
        # The prompt's events go to the process that claimed it (this one, or one whose job
        # this process adopted): listen as that process.
        async with self.pool.listening(slot, job.claimed_by) as (client, events):
            await render(client, events, graph, path, max_bytes=self.config.max_download_bytes,
                         watch=self.config.watch, hooks=self._hooks(attempt, slot), prompt_id=job.prompt_id,
                         reattach=not attempt.fresh, images=images, extra_data=extra_data)
        try:
            attempt.job = await self._fetched(attempt, path)
        finally:
            if attempt.job.state is not JobState.FETCHED:
                # Cancelled or adopted meanwhile (this task too, maybe): not ours to post. At
                # worst the file of a job just stored fetched goes: its next owner fetches again.
                path.unlink(missing_ok=True)

    def _hooks(self, attempt: Attempt, slot: Slot) -> RenderHooks:
        async def on_submitted(prompt_id: str) -> None:
            job = attempt.job
            if prompt_id == job.prompt_id:
                return
            # The server picked its own id: store it before anything refers to it, so that a
            # cancel and the re-attach after a restart find the prompt.
            assert job.prompt_id is not None
            if not await self.store.jobs.replace_prompt_id(job.id, job.prompt_id, prompt_id, self.config.clock(),
                                                           owner=self.outcomes.owner):
                await self.pool.take_off(slot, prompt_id)  # nobody will follow it
                raise _Superseded(job.id)
            attempt.job = await self.outcomes.current(job)

        async def on_progress(progress: Progress) -> None:
            attempt.progress = progress
            if progress.state == "running" and attempt.job.state is JobState.SUBMITTED:
                moved = await self.outcomes.move(attempt.job, JobState.RUNNING)
                if moved is None:
                    attempt.job = await self.outcomes.current(attempt.job)
                    if not self.outcomes.mine(attempt.job) or attempt.job.state not in _IN_FLIGHT:
                        raise _Superseded(attempt.job_id)  # another process follows it now
                else:
                    attempt.job = moved
            await self.outcomes.observer.on_progress(attempt.job, progress)

        async def on_preview(preview: Preview) -> None:
            await self.outcomes.observer.on_preview(attempt.job, preview)

        async def on_rendered() -> None:
            attempt.finishing = True

        return RenderHooks(on_submitted=on_submitted, on_progress=on_progress, on_preview=on_preview,
                           on_rendered=on_rendered)

    async def _fetched(self, attempt: Attempt, path: Path) -> JobRecord:
        """The video is on disk: move the job to fetched, unless it moved on meanwhile."""
        current = await self.outcomes.current(attempt.job)
        if current.state not in _IN_FLIGHT:
            return current
        if not await self.scheduler.mark_fetched(current, str(path), owner=self.outcomes.owner):
            return await self.outcomes.current(current)
        attempt.fetched_here = True
        return await self.outcomes.announce(current.id) or current

    # ----------------------------------------------------------------- delivery

    def _video_path(self, job: JobRecord) -> Path:
        """Where this process keeps the job's video: in its own data folder, whatever path the
        process that fetched it stored (that one's disk may be another volume)."""
        return self.config.output_dir / f"job-{job.id}.mp4"

    async def _deliver(self, attempt: Attempt) -> None:
        job = attempt.job
        path = self._video_path(job)
        if not path.is_file():
            fetched = await self._fetch_again(job)
            if fetched is None:
                return
            path = fetched
        try:
            message_id = await self._post(job, path)
        except _Superseded:
            log.info("the job is held by another process now: this one does not post it")
            return
        except DeliveryFailed as exc:
            await self.outcomes.fail(job, "delivery_failed", exc.reason)
            return
        if await self.outcomes.move(job, JobState.DELIVERED, result_message_id=message_id):
            path.unlink(missing_ok=True)

    async def _post(self, job: JobRecord, path: Path) -> int | None:
        """The message id of the post, made only while this process holds the job (its lease
        renewed just before). A transient failure is retried `delivery_retries` times with a
        doubling pause; a permanent one, or the last, is raised."""
        delay = self.config.delivery_backoff
        for tries_left in range(self.config.delivery_retries, -1, -1):
            if not await self.leases.confirm(job.id):
                raise _Superseded(job.id)
            try:
                return await self.deliver(job, path)
            except DeliveryFailed as exc:
                if exc.permanent or not tries_left:
                    raise
                log.warning("delivery failed, retrying: %s", exc.reason)
            await asyncio.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable: the last try returns or raises")

    async def _fetch_again(self, job: JobRecord) -> Path | None:
        """The video of a job fetched by another process (its file is on that process's disk),
        downloaded again from the backend's history by prompt_id; None when the job failed
        (`output_lost`: the backend no longer has it, or is not one of ours)."""
        slot = self.pool.slot_of(job.backend)
        path = self._video_path(job)
        if slot is not None and job.prompt_id is not None:
            log.info("the finished video is not on this disk: fetching it again from %s", slot.name)
            try:
                if await self._download_finished(slot, job.prompt_id, path):
                    return path
            except ComfyError as exc:
                await self.outcomes.fail(job, "output_lost", f"the finished video could not be fetched again: {exc.reason}")
                return None
        await self.outcomes.fail(job, "output_lost", "the finished video was lost before it could be posted")
        return None

    async def _download_finished(self, slot: Slot, prompt_id: str, path: Path) -> bool:
        """False when the backend no longer knows the prompt (restarted since). A backend
        that does not answer is asked again, for up to the stall timeout."""
        deadline = asyncio.get_running_loop().time() + self.config.watch.stall_seconds
        while True:
            try:
                located = await slot.backend.client.locate(prompt_id)
                break
            except BackendDown:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(self.config.health_interval)
        if located.where is not Where.DONE or located.history is None or not located.history.succeeded:
            return False
        await fetch_video(slot.backend.client, located.history, path, max_bytes=self.config.max_download_bytes)
        return True
