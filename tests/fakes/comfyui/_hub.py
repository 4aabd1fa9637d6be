"""Websocket fan-out: which socket gets which message, in order, and what is lost.

Owns: the sid -> socket table (with each socket's feature flags, from its first message) and
one publisher task, like ComfyUI's PromptServer. Messages are
queued by the worker and sent in order by the publisher, so a slow client never stalls the job.
A message for a sid with no open socket is dropped (never replayed); sid None means broadcast.
Every message is also appended to `log` so tests can see what was emitted, delivered or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["Emitted", "Hub"]


@dataclass(frozen=True)
class Emitted:
    """One message the server produced: JSON (`type`/`data`) or binary (`payload`)."""

    sid: str | None
    type: str
    data: Any
    payload: bytes | None = None


@dataclass
class _Socket:
    ws: web.WebSocketResponse
    request: web.Request
    feature_flags: dict[str, Any] = field(default_factory=dict)


class Hub:
    def __init__(self) -> None:
        self.sockets: dict[str, _Socket] = {}
        self.log: list[Emitted] = []
        self._outbox: asyncio.Queue[Emitted] = asyncio.Queue()
        self._publisher: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._publisher is None:
            self._publisher = asyncio.create_task(self._publish(), name="fake-comfyui-publisher")

    async def stop(self) -> None:
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
            self._publisher = None

    # -- producing -----------------------------------------------------------------------------

    def send(self, event: str, data: Any, sid: str | None) -> None:
        """Queue a JSON message for `sid` (None: every socket)."""
        message = Emitted(sid, event, data)
        self.log.append(message)
        self._outbox.put_nowait(message)

    def send_bytes(self, payload: bytes, sid: str | None) -> None:
        message = Emitted(sid, "binary", None, payload)
        self.log.append(message)
        self._outbox.put_nowait(message)

    async def drain(self) -> None:
        """Wait until everything queued so far has been handed to the sockets."""
        await self._outbox.join()

    def forget_pending(self) -> None:
        """Process restart: queued, unsent messages die with the process."""
        while not self._outbox.empty():
            self._outbox.get_nowait()
            self._outbox.task_done()

    # -- sockets -------------------------------------------------------------------------------

    def attach(self, sid: str, ws: web.WebSocketResponse, request: web.Request) -> None:
        # A second socket with the same clientId replaces the first (the real server does too).
        self.sockets[sid] = _Socket(ws, request)

    def set_feature_flags(self, sid: str, ws: web.WebSocketResponse, flags: dict[str, Any]) -> None:
        current = self.sockets.get(sid)
        if current is not None and current.ws is ws:
            current.feature_flags = flags

    def supports(self, sid: str | None, feature: str) -> bool:
        """comfy_api.feature_flags.supports_feature: only a connected socket that announced it."""
        sock = self.sockets.get(sid) if sid is not None else None
        return sock is not None and sock.feature_flags.get(feature) is True

    def detach(self, sid: str, ws: web.WebSocketResponse) -> None:
        # Only forget the sid if it is still this socket: a reconnect may already own it.
        current = self.sockets.get(sid)
        if current is not None and current.ws is ws:
            del self.sockets[sid]

    async def send_now(self, ws: web.WebSocketResponse, event: str, data: Any) -> None:
        """Connect-time messages go straight out, ahead of the queue (as in the real server)."""
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(json.dumps({"type": event, "data": data}))

    async def close_all(self, *, graceful: bool) -> None:
        """Close every socket. Not graceful = the TCP connection just dies (crash, proxy drop)."""
        sockets = list(self.sockets.values())
        self.sockets.clear()
        for sock in sockets:
            if graceful:
                with contextlib.suppress(Exception):
                    await sock.ws.close(code=1001, message=b"going away")
            elif sock.request.transport is not None:
                sock.request.transport.abort()

    # -- publishing ----------------------------------------------------------------------------

    async def _publish(self) -> None:
        while True:
            message = await self._outbox.get()
            try:
                await self._deliver(message)
            finally:
                self._outbox.task_done()

    async def _deliver(self, message: Emitted) -> None:
        targets = list(self.sockets.values()) if message.sid is None else (
            [self.sockets[message.sid]] if message.sid in self.sockets else [])
        for sock in targets:
            # A socket that died mid-send loses the message, like the real server.
            with contextlib.suppress(ConnectionError, RuntimeError):
                if message.payload is not None:
                    await sock.ws.send_bytes(message.payload)
                else:
                    await sock.ws.send_str(json.dumps({"type": message.type, "data": message.data}))
