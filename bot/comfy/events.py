"""The websocket of one ComfyUI backend: connect, heartbeat, reconnect, route events.

ComfyUI sends a prompt's events only to the socket whose clientId submitted it and drops them
when that socket is down, so this module keeps one socket per backend under the client's fixed
clientId, reconnects with the same id, and counts reconnects: whoever waits on a prompt must
reconcile with /queue and /history after a reconnect because events in the gap are gone.

Binary frames are live previews (`bot.comfy.previews`), delivered as `preview` events. Every
connection first announces `supports_preview_metadata`, so a current server sends previews
with their prompt_id; a type 1 preview (an older server) has none and goes to the prompt the
socket last saw executing, and to nobody when that is unknown (right after a reconnect, until
the next `executing`), so that no prompt ever gets another's preview. A corrupt frame is
dropped and logged once per prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.comfy.client import ComfyClient
from bot.comfy.previews import FEATURE_FLAGS, CorruptFrame, Preview, parse_frame

__all__ = ["Event", "EventStream", "Subscription"]

log = logging.getLogger(__name__)

_SUBSCRIPTION_BUFFER = 2048
_CORRUPT_LOGGED = 256  # prompts whose corrupt previews were logged already (oldest forgotten)
_PROMPT_ENDS = ("execution_success", "execution_error", "execution_interrupted")


@dataclass(frozen=True)
class Event:
    """A JSON message, or (type `preview`, with `preview` set) a live preview image."""

    type: str
    data: dict[str, Any]
    preview: Preview | None = None

    @property
    def prompt_id(self) -> str | None:
        value = self.data.get("prompt_id")
        return value if isinstance(value, str) else None


@dataclass
class Subscription:
    """Events for one prompt, in arrival order."""

    prompt_id: str
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(_SUBSCRIPTION_BUFFER))

    def put(self, event: Event) -> None:
        if self.queue.full():
            # Only a stuck consumer fills this; dropping the oldest keeps the newest progress.
            self.queue.get_nowait()
        self.queue.put_nowait(event)

    async def get(self, timeout: float | None) -> Event | None:
        """The next event, or None after `timeout` seconds."""
        # asyncio.timeout, not wait_for: on 3.11 wait_for returns an event that arrives in the
        # same loop iteration as a cancel and swallows the cancel (a stop would then hang).
        try:
            async with asyncio.timeout(timeout):
                return await self.queue.get()
        except TimeoutError:
            return None


class EventStream:
    """Keeps the backend's websocket open and fans its events out by prompt_id."""

    def __init__(
        self,
        client: ComfyClient,
        *,
        heartbeat: float = 20.0,
        reconnect_min: float = 0.5,
        reconnect_max: float = 15.0,
    ) -> None:
        self.client = client
        self.heartbeat = heartbeat
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.connected = asyncio.Event()
        self.reconnects = 0  # bumps on every successful (re)connect after the first
        self.queue_remaining: int | None = None
        # Every message counts: a prompt waiting behind another of ours sees none of its own
        # events, but this moving proves the backend is alive (see watch.py's stall check).
        self.messages_seen = 0
        self._subs: dict[str, list[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._connects = 0
        self._executing: str | None = None  # the prompt this socket last saw start a node
        self._corrupt_logged: OrderedDict[str, None] = OrderedDict()

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"comfy-ws {self.client.name}")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])  # a cancel of close() itself still propagates
        self.connected.clear()

    async def wait_connected(self, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self.connected.wait()
        except TimeoutError:
            return False
        return True

    async def drop(self) -> None:
        """Close the current socket (it reconnects); used when a watcher suspects it is stale."""
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()

    # ----------------------------------------------------------------- routing

    def subscribe(self, prompt_id: str) -> Subscription:
        """Subscribe BEFORE submitting the prompt, so no early event is missed."""
        sub = Subscription(prompt_id)
        self._subs.setdefault(prompt_id, []).append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.prompt_id, [])
        if sub in subs:
            subs.remove(sub)
        if not subs:
            self._subs.pop(sub.prompt_id, None)

    @contextlib.asynccontextmanager
    async def subscription(self, prompt_id: str) -> AsyncIterator[Subscription]:
        sub = self.subscribe(prompt_id)
        try:
            yield sub
        finally:
            self.unsubscribe(sub)

    def _dispatch(self, event: Event) -> None:
        if event.type == "status":
            info = event.data.get("status", {}).get("exec_info", {})
            if isinstance(info.get("queue_remaining"), int):
                self.queue_remaining = info["queue_remaining"]
        prompt_id = event.prompt_id
        if prompt_id is None:
            return
        self._follow_execution(event, prompt_id)
        for sub in self._subs.get(prompt_id, ()):
            sub.put(event)

    def _follow_execution(self, event: Event, prompt_id: str) -> None:
        """Which prompt runs now, as far as this socket can tell (for type 1 previews)."""
        starts = event.type == "execution_start" or (event.type == "executing" and event.data.get("node") is not None)
        if starts:
            self._executing = prompt_id
        elif prompt_id == self._executing and (event.type == "executing" or event.type in _PROMPT_ENDS):
            self._executing = None

    # ----------------------------------------------------------------- the socket

    async def _run(self) -> None:
        delay = self.reconnect_min
        while True:
            try:
                await self._connect_and_read()
                delay = self.reconnect_min
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any socket failure means: reconnect
                log.info("comfy websocket %s down: %s", self.client.name, self.client.scrub(type(exc).__name__))
            finally:
                self.connected.clear()
                self._ws = None
            await asyncio.sleep(delay)
            delay = min(self.reconnect_max, delay * 2)

    async def _connect_and_read(self) -> None:
        async with self.client.session.ws_connect(
            self.client.ws_url(),
            headers=self.client.headers,
            heartbeat=self.heartbeat,  # client pings: ComfyUI sends no heartbeat of its own
            max_msg_size=0,
        ) as ws:
            self._ws = ws
            self._executing = None  # whatever ran may have ended while we were away
            # ComfyUI reads feature flags from the first message only.
            await ws.send_json(FEATURE_FLAGS)
            self._connects += 1
            if self._connects > 1:
                self.reconnects += 1
            self.connected.set()
            log.debug("comfy websocket %s connected", self.client.name)
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    self._on_text(msg.data)
                elif msg.type is aiohttp.WSMsgType.BINARY:
                    self._on_binary(msg.data)
                elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                    break

    def _on_text(self, text: str) -> None:
        self.messages_seen += 1
        try:
            raw = json.loads(text)
        except ValueError:
            return
        if isinstance(raw, dict) and isinstance(raw.get("type"), str):
            data = raw.get("data")
            self._dispatch(Event(raw["type"], data if isinstance(data, dict) else {}))

    def _on_binary(self, data: bytes) -> None:
        self.messages_seen += 1
        try:
            preview = parse_frame(data, time.monotonic())
        except CorruptFrame as exc:
            self._log_corrupt(self._executing, str(exc))
            return
        if preview is None:
            return
        prompt_id = preview.prompt_id or self._executing
        if prompt_id is None:
            log.debug("comfy websocket %s: a preview of an unknown prompt, dropped", self.client.name)
            return
        for sub in self._subs.get(prompt_id, ()):
            sub.put(Event("preview", {"prompt_id": prompt_id, "node": preview.node_id}, preview))

    def _log_corrupt(self, prompt_id: str | None, why: str) -> None:
        key = prompt_id or "?"
        if key in self._corrupt_logged:
            return
        self._corrupt_logged[key] = None
        if len(self._corrupt_logged) > _CORRUPT_LOGGED:
            self._corrupt_logged.popitem(last=False)
        log.warning("comfy websocket %s: dropped a corrupt preview frame (prompt %s): %s",
                    self.client.name, key, why)
