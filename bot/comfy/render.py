"""One prompt on one ComfyUI server, from graph to file: upload its pictures and submit it (or
re-attach to it), follow it, take it off the server when it stalls, download its video.

This is the only implementation of those steps. `wanbot generate` and the benchmarks call
`render` as it is; the dispatcher calls it too and persists between the steps through
`RenderHooks` (the prompt_id the server answered, progress, the moment the download starts)
and `reattach` (follow a prompt submitted by an earlier process instead of submitting).

Live previews are asked for per prompt (`extra_data`, see `bot.comfy.previews`) and handed to
`on_preview` as they arrive; a server or workflow that sends none changes nothing else.

A server older than client-chosen prompt ids ignores ours and answers with its own: every step
after the POST uses the id the server answered, and `on_submitted` hands it to the caller
before anything else happens, so a cancel or a later re-attach can find the prompt.

Pictures a graph reads (`InputImage`: a member's start picture) are uploaded right before every
POST /prompt, to the server that will run it, and the name the server gave each is written into
the LoadImage inputs that read it. So a job that moves to another server (a failover, a requeue)
or is submitted again to a ComfyUI that restarted finds its picture there; re-attaching to a
prompt the server still holds uploads nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.comfy.client import ComfyClient, Where
from bot.comfy.errors import ComfyError, OutputMissing, Stalled
from bot.comfy.events import EventStream, Subscription
from bot.comfy.protocol import HistoryEntry
from bot.comfy.watch import PreviewCallback, Progress, ProgressCallback, Watch, watch_prompt

__all__ = ["INPUT_SUBFOLDER", "InputImage", "RenderHooks", "RenderResult", "render", "fetch_video"]

# Where wanbot's pictures go in a ComfyUI input folder: apart from an operator's own files.
INPUT_SUBFOLDER = "wanbot"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderResult:
    prompt_id: str  # as the server knows it
    path: Path
    bytes: int
    queued_s: float
    running_s: float
    download_s: float


@dataclass(frozen=True)
class InputImage:
    """A picture the graph reads: stored on the server as `name` in `subfolder` of its input
    folder, and its name written into each (node id, input name) of `targets`."""

    name: str
    data: bytes
    targets: tuple[tuple[str, str], ...]
    subfolder: str = INPUT_SUBFOLDER


@dataclass(frozen=True)
class RenderHooks:
    """What a caller is told while its prompt runs; every hook is optional.

    `on_submitted(prompt_id)`: the server queued the prompt under `prompt_id` (its own id when
    it ignored ours). Not called when re-attaching to a prompt the server still knows.
    `on_progress(progress)`, `on_preview(preview)`: may be plain functions or coroutine functions.
    `on_rendered()`: the prompt finished; the download starts.
    """

    on_submitted: Callable[[str], Awaitable[None]] | None = None
    on_progress: ProgressCallback | None = None
    on_preview: PreviewCallback | None = None
    on_rendered: Callable[[], Awaitable[None]] | None = None


async def fetch_video(client: ComfyClient, entry: HistoryEntry, dest: Path, *, max_bytes: int) -> int:
    """Download the video of a finished prompt to `dest`; returns its size."""
    video = entry.video()
    if video is None:
        names = [f.filename for _, f in entry.files()] or ["nothing"]
        raise OutputMissing(
            f"the workflow finished on {client.name} but produced no video (outputs: {', '.join(names)})",
            backend=client.name,
        )
    return await client.download(video, dest, max_bytes=max_bytes)


class _Run:
    """One prompt being followed: the id the server knows it by and when it started running."""

    def __init__(self, client: ComfyClient, events: EventStream, graph: dict[str, Any], prompt_id: str,
                 watch: Watch | None, hooks: RenderHooks, images: Sequence[InputImage],
                 extra_data: dict[str, Any] | None) -> None:
        self.client = client
        self.events = events
        self.graph = graph
        self.images = images
        self.extra_data = extra_data
        self.prompt_id = prompt_id
        self.watch = watch
        self.hooks = hooks
        self.on_server = False  # the server may hold the prompt: cancelling it means something
        self.running_since: float | None = None

    async def progress(self, progress: Progress) -> None:
        if progress.state == "running" and self.running_since is None:
            self.running_since = time.monotonic()
        if self.hooks.on_progress is not None:
            result = self.hooks.on_progress(progress)
            if asyncio.iscoroutine(result):
                await result

    async def finish(self, reattach: bool) -> HistoryEntry:
        """Submit or re-attach, then follow to a successful history entry."""
        # Subscribe before submitting, so no early event is missed.
        sub = self.events.subscribe(self.prompt_id)
        try:
            if reattach:
                self.on_server = True
                located = await self.client.locate(self.prompt_id)
                reattach = located.where is not Where.LOST  # a restarted ComfyUI forgot it: send again
            if not reattach:
                sub = await self.submit(sub)
            return await watch_prompt(self.client, self.events, self.prompt_id, graph=self.graph,
                                      watch=self.watch, on_progress=self.progress,
                                      on_preview=self.hooks.on_preview, subscription=sub)
        finally:
            self.events.unsubscribe(sub)

    async def submit(self, sub: Subscription) -> Subscription:
        await self.upload_images()
        self.on_server = True  # from the POST on: the answer may be lost after the server queued it
        accepted = await self.client.submit(self.graph, prompt_id=self.prompt_id, extra_data=self.extra_data)
        if accepted.prompt_id != self.prompt_id:
            # An old server chose its own id. Its first events went unheard; the watch's first
            # poll of /queue and /history catches up.
            log.info("%s ignored our prompt_id and answered %s", self.client.name, accepted.prompt_id)
            self.events.unsubscribe(sub)
            self.prompt_id = accepted.prompt_id
            sub = self.events.subscribe(self.prompt_id)
        if self.hooks.on_submitted is not None:
            await self.hooks.on_submitted(self.prompt_id)
        return sub

    async def upload_images(self) -> None:
        """Each picture onto this server, its name into the inputs that read it (on a copy of
        the nodes touched: the caller's graph stays as it was)."""
        for image in self.images:
            stored = await self.client.upload_image(image.data, image.name, subfolder=image.subfolder)
            for node_id, input_name in image.targets:
                node = self.graph[node_id]
                self.graph = {**self.graph, node_id: {**node, "inputs": {**node["inputs"],
                                                                         input_name: stored.load_image_value}}}

    async def take_off(self) -> None:
        """Remove the prompt from the server (queue or GPU), as far as it answers."""
        if not self.on_server:
            return
        try:
            await self.client.cancel(self.prompt_id)
        except ComfyError as exc:
            log.warning("could not take prompt %s off %s: %s", self.prompt_id, self.client.name, exc.reason)


async def render(
    client: ComfyClient,
    events: EventStream,
    graph: dict[str, Any],
    dest: Path,
    *,
    max_bytes: int,
    watch: Watch | None = None,
    hooks: RenderHooks | None = None,
    prompt_id: str | None = None,
    reattach: bool = False,
    cancel_on_cancel: bool = False,
    images: Sequence[InputImage] = (),
    extra_data: dict[str, Any] | None = None,
) -> RenderResult:
    """Run `graph` on the backend (or, with `reattach`, follow `prompt_id` submitted earlier)
    and write its video to `dest`. `images` are uploaded before each submission; `extra_data`
    goes with the submission (the preview method).

    A stalled prompt is taken off the server before Stalled is raised: nobody waits for it any
    more. When the caller is cancelled, the prompt stays on the server (a restarted dispatcher
    re-attaches to it) unless `cancel_on_cancel` (the CLI's Ctrl-C). Raises ValidationFailed,
    ExecutionFailed, Interrupted, PromptLost, Stalled, BackendDown, OutputMissing or
    DownloadTooLarge.
    """
    if reattach and prompt_id is None:
        raise ValueError("re-attaching needs the prompt_id of the earlier submission")
    run = _Run(client, events, graph, prompt_id or str(uuid.uuid4()), watch, hooks or RenderHooks(), images,
               extra_data)
    started = time.monotonic()
    try:
        entry = await run.finish(reattach)
    except Stalled:
        await run.take_off()
        raise
    except asyncio.CancelledError:
        if cancel_on_cancel:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(run.take_off())
        raise
    finished = time.monotonic()
    if run.hooks.on_rendered is not None:
        await run.hooks.on_rendered()
    size = await fetch_video(client, entry, dest, max_bytes=max_bytes)
    done = time.monotonic()
    run_start = run.running_since or finished
    return RenderResult(
        prompt_id=run.prompt_id,
        path=dest,
        bytes=size,
        queued_s=run_start - started,
        running_s=finished - run_start,
        download_s=done - finished,
    )
