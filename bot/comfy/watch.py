"""Following one submitted prompt to its end: events when the socket is up, polling when not.

The outcome comes from history, never from an event alone: `execution_success` is sent before
history is written, so completion is "history holds the prompt". A prompt in neither /queue nor
/history is lost (the server restarted). There is no overall deadline — a slow but healthy job
must not fail — only a stall detector: no event and no queue movement for `stall_seconds`. A
prompt still waiting in ComfyUI's queue also counts any traffic on the backend's socket as
life: it may wait behind a long render of ours whose events go to that render's watcher.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from bot.comfy.client import ComfyClient, Location, Where
from bot.comfy.errors import Interrupted, PromptLost, Stalled
from bot.comfy.events import Event, EventStream, Subscription
from bot.comfy.execution_error import execution_failure
from bot.comfy.previews import Preview
from bot.comfy.protocol import HistoryEntry

__all__ = ["PreviewCallback", "Progress", "ProgressCallback", "Watch", "watch_prompt", "failure_from_history"]


@dataclass(frozen=True)
class Progress:
    """What a person wants to see about a prompt right now."""

    prompt_id: str
    state: str = "queued"  # queued | running
    position: int | None = None  # prompts ahead (while queued)
    node: str | None = None
    node_class: str | None = None
    value: int = 0
    max: int = 0
    sampling: bool = False  # the progress is the sampler's steps (what users care about)

    @property
    def fraction(self) -> float:
        return self.value / self.max if self.max else 0.0


ProgressCallback = Callable[[Progress], Any]
PreviewCallback = Callable[[Preview], Any]


@dataclass
class Watch:
    """Knobs for following a prompt."""

    stall_seconds: float = 600.0
    poll_connected: float = 10.0  # reconcile this often even while events flow
    poll_disconnected: float = 1.0
    history_grace: float = 2.0  # after execution_success, how long to wait for history
    clock: Callable[[], float] = time.monotonic


def failure_from_history(entry: HistoryEntry, backend: str) -> Exception:
    """The error a failed history entry stands for."""
    interrupted = entry.message("execution_interrupted")
    if interrupted is not None:
        return Interrupted(f"the prompt was interrupted on {backend}", backend=backend)
    return execution_failure(entry.message("execution_error") or {}, backend)


class _Follower:
    """State of one watch: the last progress and the last sign of life."""

    def __init__(self, client: ComfyClient, events: EventStream, prompt_id: str, graph: dict[str, Any],
                 watch: Watch, on_progress: ProgressCallback | None, on_preview: PreviewCallback | None) -> None:
        self.client = client
        self.events = events
        self.messages_seen = events.messages_seen
        self.prompt_id = prompt_id
        self.graph = graph
        self.watch = watch
        self.on_progress = on_progress
        self.on_preview = on_preview
        self.progress = Progress(prompt_id)
        self.last_alive = watch.clock()
        self.last_queue_sign: tuple[Any, ...] | None = None
        self.success_at: float | None = None

    def alive(self) -> None:
        self.last_alive = self.watch.clock()

    async def emit(self, progress: Progress) -> None:
        if progress == self.progress:
            return
        self.progress = progress
        if self.on_progress is not None:
            result = self.on_progress(progress)
            if asyncio.iscoroutine(result):
                await result

    async def show(self, preview: Preview) -> None:
        if self.on_preview is not None:
            result = self.on_preview(preview)
            if asyncio.iscoroutine(result):
                await result

    def class_of(self, node: str | None) -> str | None:
        return self.graph.get(node, {}).get("class_type") if node else None

    async def on_event(self, event: Event) -> HistoryEntry | None:
        """Apply one event; returns the history entry when the prompt is finished."""
        self.alive()
        kind, data = event.type, event.data
        if kind == "execution_error":
            raise execution_failure(data, self.client.name)
        if kind == "execution_interrupted":
            raise Interrupted(f"the prompt was interrupted on {self.client.name}", backend=self.client.name)
        if kind == "preview" and event.preview is not None:
            await self.show(event.preview)
        elif kind == "execution_success":
            self.success_at = self.watch.clock()
        elif kind == "execution_start":
            await self.emit(replace(self.progress, state="running", position=0))
        elif kind == "executing" and data.get("node") is None:
            return await self.finished_history()
        elif kind == "executing":
            node = str(data["node"])
            await self.emit(replace(self.progress, state="running", position=0, node=node,
                                    node_class=self.class_of(node), value=0, max=0, sampling=False))
        elif kind == "progress":
            node = str(data.get("node") or self.progress.node or "")
            node_class = self.class_of(node) or ""
            await self.emit(replace(self.progress, state="running", position=0, node=node,
                                    node_class=node_class, value=int(data.get("value", 0)),
                                    max=int(data.get("max", 0)), sampling="Sampler" in node_class))
        return None

    async def finished_history(self) -> HistoryEntry:
        """History right after `executing: null`; retried briefly for servers that lag."""
        for _ in range(20):
            entry = await self.client.history(self.prompt_id)
            if entry is not None:
                return self.outcome(entry)
            await asyncio.sleep(0.05)
        location = await self.client.locate(self.prompt_id)
        return await self.on_location(location) or self.lost()

    def outcome(self, entry: HistoryEntry) -> HistoryEntry:
        if not entry.succeeded:
            raise failure_from_history(entry, self.client.name)
        return entry

    def lost(self) -> HistoryEntry:
        raise PromptLost(
            f"{self.client.name} no longer knows prompt {self.prompt_id} (restarted?)", backend=self.client.name
        )

    async def on_location(self, location: Location) -> HistoryEntry | None:
        if location.where is Where.DONE and location.history is not None:
            return self.outcome(location.history)
        if location.where is Where.LOST:
            return self.lost()
        queue = location.queue
        sign = (location.where, location.position, tuple(queue.running) if queue else ())
        if sign != self.last_queue_sign:
            self.last_queue_sign = sign
            self.alive()
        if location.where is Where.PENDING:
            await self.emit(replace(self.progress, state="queued", position=location.position))
        elif self.progress.state != "running":
            await self.emit(replace(self.progress, state="running", position=0))
        return None

    def check_stall(self) -> None:
        if self.progress.state == "queued" and self.events.messages_seen != self.messages_seen:
            # Waiting behind a render whose events we receive (our own prefetch): not stalled.
            self.messages_seen = self.events.messages_seen
            self.alive()
        idle = self.watch.clock() - self.last_alive
        if idle > self.watch.stall_seconds:
            raise Stalled(
                f"prompt {self.prompt_id} on {self.client.name} showed no progress for {idle:.0f} s",
                backend=self.client.name,
            )


async def watch_prompt(
    client: ComfyClient,
    events: EventStream,
    prompt_id: str,
    *,
    graph: dict[str, Any] | None = None,
    watch: Watch | None = None,
    on_progress: ProgressCallback | None = None,
    on_preview: PreviewCallback | None = None,
    subscription: Subscription | None = None,
) -> HistoryEntry:
    """Wait until `prompt_id` finishes; return its (successful) history entry. Live previews
    of the prompt, if the server sends any, go to `on_preview`.

    Pass the `subscription` taken before submitting so no early event is missed. Raises
    ExecutionFailed, Interrupted, PromptLost, Stalled or BackendDown.
    """
    watch = watch or Watch()
    sub = subscription or events.subscribe(prompt_id)
    follower = _Follower(client, events, prompt_id, graph or {}, watch, on_progress, on_preview)
    try:
        return await _follow(follower, events, sub)
    finally:
        events.unsubscribe(sub)


async def _follow(follower: _Follower, events: EventStream, sub: Subscription) -> HistoryEntry:
    watch = follower.watch
    reconnects = events.reconnects
    last_poll = float("-inf")  # reconcile at once: the prompt may have moved before we subscribed
    while True:
        now = watch.clock()
        connected = events.connected.is_set()
        due = last_poll + (watch.poll_connected if connected else watch.poll_disconnected)
        if events.reconnects != reconnects:
            # Events in the gap are lost for good: find out where the prompt is now.
            reconnects, due = events.reconnects, now
        if follower.success_at is not None and now - follower.success_at > watch.history_grace:
            # Succeeded but `executing: null` never came (socket dropped): ask history.
            follower.success_at, due = None, now
        if now >= due:
            last_poll = now
            entry = await follower.on_location(await follower.client.locate(follower.prompt_id))
            if entry is not None:
                return entry
            follower.check_stall()
            continue
        # Wake at least every poll_disconnected to notice a dropped socket promptly.
        event = await sub.get(timeout=min(due - now, watch.poll_disconnected))
        if event is not None:
            entry = await follower.on_event(event)
            if entry is not None:
                return entry
