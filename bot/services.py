"""The composition root: every long-lived part of wanbot, built once from the settings.

`Services.open(settings)` opens the database, builds admission, the scheduler, the backends
and the dispatcher, and owns the single aiohttp session of the backend pool. The Discord bot,
the crash test's worker process and the benchmarks all start from here, so they run the same
wiring. Delivery and the status-card observer are given to `start(deliver, observer)` by
whoever can post (the video cogs), because the Discord client does not exist yet when this is
built; nothing is swapped in afterwards.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.comfy.backend import Backend
from bot.comfy.previews import DEFAULT_PREVIEW_METHOD, preview_extra_data
from bot.comfy.watch import Watch
from bot.jobs import Admission, Clock, EtaModel, Limits, QueueAdmin, RateLimiter, Scheduler, SystemClock
from bot.jobs.dispatcher import Deliver, DispatchConfig, Dispatcher, JobObserver
from bot.jobs.reads import JobReads
from bot.jobs.start_images import StartImages, image_ref_of
from bot.ops.metrics import Metrics
from bot.settings import Settings
from bot.startup import check_outputs, open_database
from bot.workflows import Template, load_templates, pick_template
from storage import JobRecord, JobState, Store

__all__ = ["Services"]

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    db: Store
    clock: Clock
    rate: RateLimiter
    eta: EtaModel
    scheduler: Scheduler
    admission: Admission
    admin: QueueAdmin
    templates: dict[str, Template]
    backends: list[Backend]
    dispatcher: Dispatcher
    session: aiohttp.ClientSession
    # Built once, in `open`: the dispatcher counts into it and /metrics renders it.
    metrics: Metrics
    # Members' start pictures, kept beside the outputs (the cogs store and show them).
    images: StartImages
    # False once shutdown began: /video answers "restarting, try again in a minute".
    accepting: bool = True
    _stopped: bool = field(default=False, init=False, repr=False)

    @property
    def default_template(self) -> Template:
        return next(iter(self.templates.values()))

    @functools.cached_property
    def reads(self) -> JobReads:
        """Everything the cogs read about jobs, the queue and the backends."""
        return JobReads(self.db, self.scheduler, self.dispatcher, self.backends, self.clock)

    @classmethod
    async def open(cls, settings: Settings, *, clock: Clock | None = None,
                   dispatch: DispatchConfig | None = None) -> "Services":
        """Build everything; nothing talks to ComfyUI until `start()`.

        Raises TemplateError for a bad WANBOT_WORKFLOW (checked before the database opens) and
        StartupError when the database or the outputs folder cannot be opened or written."""
        templates = load_templates(settings.workflows)
        clock = clock or SystemClock()
        await check_outputs(settings.output_dir)
        db = await open_database(settings.database)
        rate = RateLimiter(db.quotas, clock)
        eta = EtaModel(db.runs, clock)
        config = dispatch or DispatchConfig(
            output_dir=settings.output_dir, max_attempts=settings.max_attempts,
            max_download_bytes=settings.max_download_mb << 20, affinity_window=settings.affinity_window,
            watch=Watch(stall_seconds=settings.stall_seconds), clock=clock.now, lease=settings.lease_seconds)
        session = aiohttp.ClientSession()
        token = settings.comfyui_token.get_secret_value() if settings.comfyui_token else None
        # The process's identity is its ComfyUI clientId: its prompts' progress comes back to it,
        # and a process that adopts its jobs after it died knows which clientId to listen as.
        backends = [Backend.create(url, session, token=token, token_in_query=settings.comfyui_token_in_query,
                                   client_id=config.identity.id)
                    for url in settings.comfyui_urls]
        scheduler = Scheduler(db, clock, rate, eta=eta, backends=[b.name for b in backends])
        limits = Limits(videos_per_hour=settings.videos_per_hour, burst=settings.burst,
                        max_active=settings.max_active)
        admission = Admission(db, scheduler, rate, clock, defaults=limits, max_queued=settings.max_queued)

        def template_for(job: JobRecord) -> Template:
            # The job's own template while it is configured; else one of the same kind.
            return pick_template(templates, job.template, image=image_ref_of(job) is not None)

        def graph_for(job: JobRecord) -> dict[str, Any]:
            return template_for(job).render(job.params)

        def extra_data_for(job: JobRecord) -> dict[str, Any]:
            method = template_for(job).preview_method or DEFAULT_PREVIEW_METHOD
            return preview_extra_data("none" if settings.preview == "off" else method)

        images = StartImages(settings.output_dir, keep_for=settings.image_keep_days * 86_400,
                             targets=lambda job: tuple(template_for(job).image_targets))
        metrics = Metrics(job_states=[s.value for s in JobState])
        dispatcher = Dispatcher(db, scheduler, backends, graph_for, config=config,
                                templates=templates, metrics=metrics, images=images,
                                extra_data_for=extra_data_for)
        return cls(settings, db, clock, rate, eta, scheduler, admission, QueueAdmin(db, clock), templates,
                   backends, dispatcher, session, metrics, images)

    async def start(self, deliver: Deliver, observer: JobObserver | None = None) -> None:
        """Check the backends, re-attach unfinished jobs, start dispatching: videos are posted
        through `deliver` (idempotent per job) and jobs shown through `observer`."""
        await self.dispatcher.start(deliver, observer)

    async def stop(self, grace: float = 0.0) -> None:
        """Stop taking videos and dispatching (ComfyUI keeps its prompts; the next start
        re-attaches). Downloads and posts under way get `grace` seconds to finish. Once: the
        bot stops before it disconnects and closes after, and only the first call decides."""
        if self._stopped:
            return
        self._stopped = True
        self.accepting = False
        await self.dispatcher.stop(grace)

    async def close(self, grace: float = 0.0) -> None:
        """`stop(grace)` unless already stopped, then close the session and the database."""
        try:
            await self.stop(grace)
        finally:
            await self.session.close()
            await self.db.close()

    async def refresh_metrics(self) -> None:
        summary = await self.scheduler.summary()
        self.metrics.set_jobs({s.value: n for s, n in summary.by_state.items()},
                              summary.by_state.get(JobState.QUEUED, 0))
        for view in self.dispatcher.backend_views():
            self.metrics.set_backend(view.name, view.up and view.usable, bool(view.job_ids))
