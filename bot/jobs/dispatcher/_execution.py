"""One attempt of one job from its backend to the channel: render it through
`bot.comfy.render` (persisting between the steps; its start picture, if any, uploaded to this
backend before each submission), move it to fetched once the file is on disk, then deliver it,
retrying a transient delivery failure.

Every step is persisted before the side effect that depends on it: the prompt_id is stored
(by the claim, or from the server's answer) before anything refers to it, the file is on disk
before `fetched`, and `delivered` is stored with the message id after the post. Delivery is
idempotent per job on the callback's side, so a post made just before a crash is found again
rather than made twice.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from bot.comfy.errors import ComfyError
from bot.comfy.previews import Preview
from bot.comfy.render import RenderHooks, render
from bot.comfy.watch import Progress
from bot.jobs.dispatcher._attempt import Attempt
from bot.jobs.dispatcher._backends import BackendPool, Slot
from bot.jobs.dispatcher._callbacks import Deliver, DeliveryFailed, ExtraDataBuilder, GraphBuilder
from bot.jobs.dispatcher._config import DispatchConfig
from bot.jobs.dispatcher._outcomes import Outcomes
from bot.jobs.scheduler import Scheduler
from bot.jobs.start_images import StartImageLost, StartImages
from bot.logs import job_context
from storage.interface import Store
from storage.records import JobRecord, JobState

__all__ = ["Execution"]

log = logging.getLogger(__name__)

_IN_FLIGHT = (JobState.SUBMITTED, JobState.RUNNING)


class _Superseded(Exception):
    """The job moved on (cancelled, requeued) while its prompt was being submitted."""


class Execution:
    def __init__(self, store: Store, scheduler: Scheduler, pool: BackendPool, config: DispatchConfig,
                 graph_for: GraphBuilder, deliver: Deliver, outcomes: Outcomes,
                 images: StartImages | None = None, extra_data_for: ExtraDataBuilder | None = None) -> None:
        self.store = store
        self.scheduler = scheduler
        self.pool = pool
        self.config = config
        self.graph_for = graph_for
        self.deliver = deliver
        self.outcomes = outcomes
        self.images = images
        self.extra_data_for = extra_data_for

    async def run(self, attempt: Attempt) -> None:
        """Carry the attempt as far as it goes; any bug ends the job, never the dispatcher."""
        job = attempt.job
        with job_context(job=job.id, guild=job.guild_id, user=job.user_id):
            try:
                if job.state in _IN_FLIGHT and attempt.slot is not None:
                    await self._execute(attempt, attempt.slot)
                if attempt.job.state is JobState.FETCHED:
                    attempt.finishing = True
                    await self._deliver(attempt.job)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one job's bug must not stop the dispatcher
                log.exception("job crashed")
                await self.outcomes.fail(attempt.job, "internal", "an internal error stopped this job")

    # ----------------------------------------------------------------- rendering

    async def _execute(self, attempt: Attempt, slot: Slot) -> None:
        """Submit (or re-attach), follow, download; `attempt.job` is fetched when it worked."""
        try:
            await self._render(attempt, slot)
        except _Superseded:
            pass  # cancelled or requeued meanwhile: whoever moved it has taken over
        except StartImageLost as exc:
            await self.outcomes.fail(attempt.job, "image_lost", str(exc))
        except ComfyError as exc:
            await self.outcomes.after_error(attempt.job, slot, exc)

    async def _render(self, attempt: Attempt, slot: Slot) -> None:
        job = attempt.job
        assert job.prompt_id is not None  # the claim stored it
        path = self.config.output_dir / f"job-{job.id}.mp4"
        graph = slot.backend.adapt(self.graph_for(job))
        images = await self.images.uploads(job) if self.images is not None else []
        extra_data = self.extra_data_for(job) if self.extra_data_for is not None else None
        await render(slot.backend.client, slot.backend.events, graph, path,
                     max_bytes=self.config.max_download_bytes, watch=self.config.watch,
                     hooks=self._hooks(attempt, slot), prompt_id=job.prompt_id, reattach=not attempt.fresh,
                     images=images, extra_data=extra_data)
        attempt.job = await self._fetched(attempt.job, path)
        if attempt.job.state is not JobState.FETCHED:
            path.unlink(missing_ok=True)  # cancelled while we downloaded: nobody will post it

    def _hooks(self, attempt: Attempt, slot: Slot) -> RenderHooks:
        async def on_submitted(prompt_id: str) -> None:
            job = attempt.job
            if prompt_id == job.prompt_id:
                return
            # The server picked its own id: store it before anything refers to it, so that a
            # cancel and the re-attach after a restart find the prompt.
            assert job.prompt_id is not None
            if not await self.store.jobs.replace_prompt_id(job.id, job.prompt_id, prompt_id, self.config.clock()):
                await self.pool.take_off(slot, prompt_id)  # nobody will follow it
                raise _Superseded(job.id)
            attempt.job = await self.outcomes.current(job)

        async def on_progress(progress: Progress) -> None:
            attempt.progress = progress
            if progress.state == "running" and attempt.job.state is JobState.SUBMITTED:
                attempt.job = await self.outcomes.move(attempt.job, JobState.RUNNING) or attempt.job
            await self.outcomes.observer.on_progress(attempt.job, progress)

        async def on_preview(preview: Preview) -> None:
            await self.outcomes.observer.on_preview(attempt.job, preview)

        async def on_rendered() -> None:
            attempt.finishing = True

        return RenderHooks(on_submitted=on_submitted, on_progress=on_progress, on_preview=on_preview,
                           on_rendered=on_rendered)

    async def _fetched(self, job: JobRecord, path: Path) -> JobRecord:
        """The video is on disk: move the job to fetched, unless it moved on meanwhile."""
        current = await self.outcomes.current(job)
        if current.state not in _IN_FLIGHT:
            return current
        if not await self.scheduler.mark_fetched(current, str(path)):
            return await self.outcomes.current(current)
        return await self.outcomes.announce(current.id) or current

    # ----------------------------------------------------------------- delivery

    async def _deliver(self, job: JobRecord) -> None:
        path = Path(job.output_path or "")
        if not path.is_file():
            await self.outcomes.fail(job, "output_lost", "the finished video was lost before it could be posted")
            return
        try:
            message_id = await self._post(job, path)
        except DeliveryFailed as exc:
            await self.outcomes.fail(job, "delivery_failed", exc.reason)
            return
        if await self.outcomes.move(job, JobState.DELIVERED, result_message_id=message_id):
            path.unlink(missing_ok=True)

    async def _post(self, job: JobRecord, path: Path) -> int | None:
        """The message id of the post. A transient failure is retried `delivery_retries`
        times with a doubling pause; a permanent one, or the last, is raised."""
        delay = self.config.delivery_backoff
        for _ in range(self.config.delivery_retries):
            try:
                return await self.deliver(job, path)
            except DeliveryFailed as exc:
                if exc.permanent:
                    raise
                log.warning("delivery failed, retrying: %s", exc.reason)
            await asyncio.sleep(delay)
            delay *= 2
        return await self.deliver(job, path)
