"""A dispatcher on the test store and emulated ComfyUI backends, with a recording delivery
and a client whose calls a test can make fail on cue (`ScriptedClient`)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

from bot.comfy.backend import Backend
from bot.comfy.client import ComfyClient
from bot.comfy.events import EventStream
from bot.comfy.watch import Watch
from bot.identity import ProcessIdentity
from bot.jobs import JobRequest, JobState, Requester, Scheduler
from bot.jobs.dispatcher import DeliveryFailed, DispatchConfig, Dispatcher, JobObserver
from bot.jobs.start_images import START_IMAGE_PARAM, StartImages
from bot.ops.metrics import Metrics
from bot.workflows import load_template
from storage import JobRecord, Store
from tests.comfy.conftest import FAST_RETRY
from tests.fakes.comfyui import FakeComfyUI
from tests.jobs.conftest import Jobs, member, video

__all__ = ["Deliveries", "Rig", "ScriptedClient", "queue_depths"]


class Deliveries:
    """A Deliver callback that records every call; can be told to fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, bytes]] = []
        self.fail_next: list[DeliveryFailed] = []

    async def __call__(self, job: JobRecord, path: Path) -> int:
        if self.fail_next:
            raise self.fail_next.pop(0)
        self.calls.append((job.id, path.read_bytes()))
        return 900_000 + job.id

    def count(self) -> Counter[int]:
        return Counter(job_id for job_id, _ in self.calls)


class ScriptedClient(ComfyClient):
    """The real client, except that a call named in `script` first raises what is queued for
    it there, one exception per call; `spent[name]` is set once its script ran out. Names:
    "system_stats", and "cancel <prompt_id>" for the cancel of that prompt."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.script: dict[str, list[BaseException]] = {}
        self.spent: dict[str, asyncio.Event] = {}

    def fail(self, name: str, *errors: BaseException) -> asyncio.Event:
        self.script.setdefault(name, []).extend(errors)
        return self.spent.setdefault(name, asyncio.Event())

    def _next_failure(self, name: str) -> BaseException | None:
        queued = self.script.get(name)
        if not queued:
            return None
        error = queued.pop(0)
        if not queued:
            self.spent[name].set()
        return error

    async def system_stats(self) -> Any:
        if (error := self._next_failure("system_stats")) is not None:
            raise error
        return await super().system_stats()

    async def cancel(self, prompt_id: str) -> Any:
        if (error := self._next_failure(f"cancel {prompt_id}")) is not None:
            raise error
        return await super().cancel(prompt_id)


def queue_depths(fake: FakeComfyUI) -> list[int]:
    """Prompts on the emulator (running + pending) after each change of its queue, from now on."""
    depths: list[int] = []
    notify = fake.queue._notify  # noqa: SLF001 - the emulator's queue-change hook

    def record() -> None:
        depths.append(len(fake.queue_pending) + (fake.running is not None))
        notify()
    fake.queue._notify = record  # noqa: SLF001
    return depths


def _graph(job: JobRecord) -> dict[str, Any]:
    return load_template(job.template).render(job.params)


class Rig:
    def __init__(self, jobs: Jobs, session: aiohttp.ClientSession, tmp: Path) -> None:
        self.jobs, self.session, self.tmp = jobs, session, tmp
        # Real uuid4 prompt ids: a real ComfyUI refuses anything else.
        self.scheduler = Scheduler(jobs.db, jobs.clock, jobs.rate, eta=jobs.eta)
        self.deliveries = Deliveries()
        self.dispatchers: list[Dispatcher] = []
        # The process the backends and the dispatcher belong to (another one: pass `identity`).
        self.identity = ProcessIdentity.new()

    @property
    def outputs(self) -> Path:
        return self.tmp / "outputs"

    def backend(self, fake: FakeComfyUI, identity: ProcessIdentity | None = None) -> Backend:
        client_id = (identity or self.identity).id
        return Backend.create(fake.url, self.session, retry=FAST_RETRY, heartbeat=5, client_id=client_id)

    def scripted(self, fake: FakeComfyUI, identity: ProcessIdentity | None = None) -> Backend:
        """A backend whose client fails on cue (see ScriptedClient)."""
        client = ScriptedClient(fake.url, self.session, retry=FAST_RETRY, client_id=(identity or self.identity).id)
        return Backend(client, EventStream(client, heartbeat=5))

    def images(self, keep_for: float = 3600.0) -> StartImages:
        """The start pictures beside the outputs, bound to each job's template's LoadImage."""
        return StartImages(self.outputs, keep_for=keep_for,
                           targets=lambda job: tuple(load_template(job.template).image_targets))

    def dispatcher(self, *fakes: FakeComfyUI | Backend, prefetch: int = 1, max_attempts: int = 3,
                   metrics: Metrics | None = None, images: StartImages | None = None,
                   templates: Sequence[str] = ("wan-native", "wan-native-i2v", "wan-wrapper-i2v"),
                   identity: ProcessIdentity | None = None, store: Store | None = None,
                   outputs: Path | None = None, **config: Any) -> Dispatcher:
        """A dispatcher of this rig's process, or (`identity`, `store`, `outputs`) of another
        process on the same database, with its own disk."""
        identity = identity or self.identity
        backends = [f if isinstance(f, Backend) else self.backend(f, identity) for f in fakes]
        settings = DispatchConfig(
            output_dir=outputs or self.outputs, prefetch=prefetch, max_attempts=max_attempts, health_interval=0.1,
            delivery_backoff=0.01, watch=Watch(stall_seconds=5, poll_connected=0.3, poll_disconnected=0.1),
            clock=self.jobs.clock.now, identity=identity)
        for name, value in config.items():
            setattr(settings, name, value)
        scheduler = self.scheduler if store is None else Scheduler(store, self.jobs.clock, self.jobs.rate,
                                                                   eta=self.jobs.eta)
        dispatcher = Dispatcher(store or self.jobs.db, scheduler, backends, _graph, config=settings,
                                templates={name: load_template(name) for name in templates}, metrics=metrics,
                                images=images)
        self.dispatchers.append(dispatcher)
        return dispatcher

    async def start(self, dispatcher: Dispatcher, observer: JobObserver | None = None) -> Dispatcher:
        """Start it with the recording delivery."""
        await dispatcher.start(self.deliveries, observer)
        return dispatcher

    async def enqueue(self, user: int, prompt: str = "a cat", template: str = "wan-native") -> JobRecord:
        return await self._queued(member(user), replace(video(prompt, frames=17), template=template))

    async def enqueue_i2v(self, user: int, image_ref: str, template: str = "wan-native-i2v") -> JobRecord:
        """An image-to-video job starting from the kept picture `image_ref` (square frame)."""
        params = {"prompt": "the picture comes alive", "frames": 17, "width": 624, "height": 624, "steps": 15,
                  START_IMAGE_PARAM: image_ref}
        return await self._queued(member(user), JobRequest(template, params))

    async def _queued(self, requester: Requester, request: JobRequest) -> JobRecord:
        job = await self.scheduler.enqueue(requester, request)
        for d in self.dispatchers:
            d.kick()
        return job

    async def until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        async def poll() -> None:
            while not predicate():
                await asyncio.sleep(0.02)
        await asyncio.wait_for(poll(), timeout)

    async def job(self, job_id: int) -> JobRecord:
        record = await self.jobs.db.jobs.get(job_id)
        assert record is not None
        return record

    async def states(self, *ids: int) -> list[JobState]:
        return [(await self.job(i)).state for i in ids]

    async def reach(self, job_id: int, *states: JobState, timeout: float = 10.0) -> JobRecord:
        """Until the job is in one of `states`; returns it."""
        async def poll() -> JobRecord:
            while (job := await self.job(job_id)).state not in states:
                await asyncio.sleep(0.02)
            return job
        return await asyncio.wait_for(poll(), timeout)

    async def settle(self, *ids: int, timeout: float = 10.0) -> list[JobState]:
        done = (JobState.DELIVERED, JobState.FAILED, JobState.CANCELLED)

        async def poll() -> None:
            while not all(s in done for s in await self.states(*ids)):
                await asyncio.sleep(0.02)
        await asyncio.wait_for(poll(), timeout)
        return await self.states(*ids)
