"""The emulated server's memory: the prompt queue, the running prompt and the history.

Owns: ComfyUI's PromptQueue semantics. Pending prompts sit in a heap ordered by (number,
prompt_id) and GET /queue shows the raw heap (unsorted, as the real server does); one prompt
runs at a time; history is written when a prompt finishes and is capped at 10,000 entries,
oldest dropped first. Everything here is lost on restart, like the real process memory,
except what the tests read about the server's whole life: the most prompts it ever held at
once (pending + running), in total and per client id.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_HISTORY", "PromptQueue", "QueueItem"]

MAX_HISTORY = 10_000


@dataclass
class QueueItem:
    number: float
    prompt_id: str
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    outputs: list[str]

    @property
    def client_id(self) -> str | None:
        return self.extra_data.get("client_id")

    def wire(self) -> list[Any]:
        """The 5-element list GET /queue and history["prompt"] show."""
        return [self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs]

    def __lt__(self, other: QueueItem) -> bool:
        return (self.number, self.prompt_id) < (other.number, other.prompt_id)


class PromptQueue:
    """Pending heap + running slot + history, with a callback on every queue change (the
    server broadcasts a `status` message from it)."""

    def __init__(self, on_change: Callable[[], None]) -> None:
        self._on_change = on_change
        self._heap: list[QueueItem] = []
        self.running: QueueItem | None = None
        self.history: dict[str, dict[str, Any]] = {}
        self._changed = asyncio.Event()
        self._paused = False
        # The most prompts held at once (pending + running), over the server's life.
        self.most_held = 0
        self.most_held_by_client: dict[str | None, int] = {}

    # -- queue ---------------------------------------------------------------------------------

    @property
    def remaining(self) -> int:
        """queue_remaining: pending plus running."""
        return len(self._heap) + (1 if self.running is not None else 0)

    def pending_wire(self) -> list[list[Any]]:
        return [item.wire() for item in self._heap]

    def pending_ids(self) -> list[str]:
        """Pending prompt ids in execution order."""
        return [item.prompt_id for item in sorted(self._heap)]

    def knows(self, prompt_id: str) -> bool:
        return (prompt_id in self.history or any(i.prompt_id == prompt_id for i in self._heap)
                or (self.running is not None and self.running.prompt_id == prompt_id))

    def put(self, item: QueueItem) -> None:
        heapq.heappush(self._heap, item)
        self._notify()

    def delete(self, prompt_id: str) -> bool:
        """Remove a pending prompt; the running one is never touched."""
        for index, item in enumerate(self._heap):
            if item.prompt_id == prompt_id:
                self._heap.pop(index)
                heapq.heapify(self._heap)
                self._notify()
                return True
        return False

    def clear_pending(self) -> None:
        self._heap.clear()
        self._notify()

    @property
    def paused(self) -> bool:
        return self._paused

    def set_paused(self, paused: bool) -> None:
        self._paused = paused
        self._changed.set()

    @property
    def idle(self) -> bool:
        return not self._heap and self.running is None

    async def get(self) -> QueueItem:
        """Wait for a pending prompt (and for the queue to be resumed), then mark it running."""
        while not self._heap or self._paused:
            self._changed.clear()
            await self._changed.wait()
        item = heapq.heappop(self._heap)
        self.running = item
        self._notify()
        return item

    async def wait_changed(self) -> None:
        self._changed.clear()
        await self._changed.wait()

    def task_done(self, item: QueueItem, outputs: dict[str, Any], meta: dict[str, Any],
                  status: dict[str, Any]) -> None:
        """Write history for the running prompt, free the slot, announce the change."""
        if len(self.history) >= MAX_HISTORY:
            self.history.pop(next(iter(self.history)))
        entry: dict[str, Any] = {"prompt": item.wire(), "outputs": {}, "status": status}
        entry.update({"outputs": outputs, "meta": meta})
        self.history[item.prompt_id] = entry
        self.running = None
        self._notify()

    def drop_running(self) -> None:
        self.running = None
        self._changed.set()

    def _notify(self) -> None:
        self._note_held()
        self._changed.set()
        self._on_change()

    def _note_held(self) -> None:
        held = [*self._heap, *([self.running] if self.running is not None else [])]
        self.most_held = max(self.most_held, len(held))
        by_client: dict[str | None, int] = {}
        for item in held:
            by_client[item.client_id] = by_client.get(item.client_id, 0) + 1
        for client, count in by_client.items():
            self.most_held_by_client[client] = max(self.most_held_by_client.get(client, 0), count)

    # -- history -------------------------------------------------------------------------------

    def history_slice(self, max_items: int | None, offset: int = -1) -> dict[str, Any]:
        """GET /history: the newest `max_items` entries (ComfyUI's offset arithmetic)."""
        if offset < 0 and max_items is not None:
            offset = len(self.history) - max_items
        out: dict[str, Any] = {}
        for index, (key, value) in enumerate(self.history.items()):
            if index < offset:
                continue
            out[key] = value
            if max_items is not None and index >= max_items + offset:
                break
        return out

    def wipe(self) -> None:
        """Process restart: nothing survives."""
        self._heap.clear()
        self.running = None
        self.history.clear()
        self._changed.set()
