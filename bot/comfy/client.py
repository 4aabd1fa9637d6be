"""HTTP side of one ComfyUI backend: submit, inspect, cancel, probe, download.

One `ComfyClient` per backend, sharing the aiohttp `ClientSession` its owner created. Transient
failures (connection errors, timeouts, 5xx) are retried with exponential backoff and then
reported as `BackendDown`. The websocket lives in `bot.comfy.events`.
"""

from __future__ import annotations

import asyncio
import enum
import os
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from bot.comfy.errors import BackendDown, ComfyError, DownloadTooLarge
from bot.comfy.protocol import HistoryEntry, OutputFile, QueueSnapshot, SubmitResponse, SystemStats
from bot.comfy.rejection import rejection_from_body
from bot.urls import display_url

__all__ = ["ComfyClient", "RetryPolicy", "Location", "Where"]

_CHUNK = 1 << 18


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before calling a backend down. Delays double up to `max_delay`."""

    attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 4.0
    request_timeout: float = 30.0

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * (2**attempt))


class Where(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    LOST = "lost"


@dataclass(frozen=True)
class Location:
    """Where a prompt is on its backend right now."""

    where: Where
    position: int | None = None  # prompts ahead of it (0 = running)
    history: HistoryEntry | None = None
    queue: QueueSnapshot | None = None


class ComfyClient:
    """The HTTP API of one ComfyUI server."""

    def __init__(
        self,
        url: str,
        session: aiohttp.ClientSession,
        *,
        token: str | None = None,
        token_in_query: bool = False,
        client_id: str | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.url = url.rstrip("/")
        self.name = display_url(self.url)
        self.session = session
        self.client_id = client_id or uuid.uuid4().hex
        self.retry = retry or RetryPolicy()
        self._token = token or None
        self._token_in_query = token_in_query
        self._sleep = sleep

    # ----------------------------------------------------------------- transport

    @property
    def headers(self) -> dict[str, str]:
        # No Origin header, ever: ComfyUI answers 403 when Origin and Host differ.
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def ws_url(self) -> str:
        parts = urlsplit(self.url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        query = f"clientId={self.client_id}"
        if self._token and self._token_in_query:
            query += f"&token={self._token}"
        return urlunsplit((scheme, parts.netloc, parts.path + "/ws", query, ""))

    def scrub(self, text: str) -> str:
        """Remove the token from any text that may reach a log or a person."""
        return text.replace(self._token, "***") if self._token else text

    async def _request(
        self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """One call with retries; returns (status, parsed JSON or text) for any status < 500."""
        last = "no answer"
        for attempt in range(self.retry.attempts):
            if attempt:
                await self._sleep(self.retry.delay(attempt - 1))
            try:
                timeout = aiohttp.ClientTimeout(total=self.retry.request_timeout)
                async with self.session.request(
                    method, self.url + path, json=json, params=params, headers=self.headers, timeout=timeout
                ) as resp:
                    body = await _read_body(resp)
                    if resp.status < 500:
                        return resp.status, body
                    last = f"HTTP {resp.status}"
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                last = type(exc).__name__ + (f": {exc}" if str(exc) else "")
        raise BackendDown(self.scrub(f"{self.name} is not answering ({last})"), backend=self.name)

    def _unexpected(self, what: str, status: int, body: Any) -> ComfyError:
        if status in (401, 403):
            hint = "check COMFYUI_TOKEN" if status == 401 else "the server refused the request (Origin/CORS or proxy rules)"
            return BackendDown(f"{self.name} answered {status} to {what}: {hint}", backend=self.name)
        return ComfyError(self.scrub(f"{self.name} answered {status} to {what}: {str(body)[:200]}"), backend=self.name)

    # ----------------------------------------------------------------- prompts

    async def submit(
        self, graph: dict[str, Any], *, prompt_id: str | None = None, extra_data: dict[str, Any] | None = None
    ) -> SubmitResponse:
        """Queue `graph`. Choose `prompt_id` (and persist it) first to make this idempotent.

        Raises ValidationFailed (the graph cannot run here) or BackendDown.
        """
        prompt_id = prompt_id or str(uuid.uuid4())
        payload: dict[str, Any] = {"prompt": graph, "client_id": self.client_id, "prompt_id": prompt_id}
        if extra_data:
            payload["extra_data"] = extra_data
        status, body = await self._request("POST", "/prompt", json=payload)
        if status == 200 and isinstance(body, dict):
            # Servers older than client-chosen ids ignore ours and answer with their own.
            return SubmitResponse.model_validate(body)
        if status == 409:
            # Our id is already queued: an earlier attempt went through (we crashed or a retry
            # raced the answer). That is success, not a duplicate job.
            return SubmitResponse(prompt_id=prompt_id, number=-1)
        if status == 400:
            raise rejection_from_body(body, self.name)
        raise self._unexpected("POST /prompt", status, body)

    async def queue(self) -> QueueSnapshot:
        status, body = await self._request("GET", "/queue")
        if status != 200 or not isinstance(body, dict):
            raise self._unexpected("GET /queue", status, body)
        return QueueSnapshot.from_wire(body)

    async def history(self, prompt_id: str) -> HistoryEntry | None:
        """The history entry, or None when the server has none (yet, or any more)."""
        status, body = await self._request("GET", f"/history/{prompt_id}")
        if status != 200 or not isinstance(body, dict):
            raise self._unexpected("GET /history", status, body)
        entry = body.get(prompt_id)
        return HistoryEntry.model_validate(entry) if entry else None

    async def locate(self, prompt_id: str) -> Location:
        """Find the prompt. Queue first, then history: ComfyUI writes history before it drops
        the prompt from the queue, so a prompt absent from both is really gone."""
        snapshot = await self.queue()
        if prompt_id in snapshot.running:
            return Location(Where.RUNNING, 0, queue=snapshot)
        position = snapshot.position(prompt_id)
        if position is not None:
            # Next in line with nothing running is still pending: 0 prompts ahead, not running.
            return Location(Where.PENDING, position, queue=snapshot)
        entry = await self.history(prompt_id)
        if entry is not None:
            return Location(Where.DONE, history=entry, queue=snapshot)
        return Location(Where.LOST, queue=snapshot)

    async def delete_pending(self, prompt_ids: Iterable[str]) -> None:
        """Remove prompts from the pending queue; never touches the running one."""
        status, body = await self._request("POST", "/queue", json={"delete": list(prompt_ids)})
        if status != 200:
            raise self._unexpected("POST /queue", status, body)

    async def interrupt(self, prompt_id: str) -> None:
        """Interrupt `prompt_id` if (and only if) it is the one running."""
        status, body = await self._request("POST", "/interrupt", json={"prompt_id": prompt_id})
        if status != 200:
            raise self._unexpected("POST /interrupt", status, body)

    async def cancel(self, prompt_id: str) -> Where:
        """Cancel our prompt wherever it is; returns where it was found."""
        await self.delete_pending([prompt_id])
        location = await self.locate(prompt_id)
        # Old servers ignore the prompt_id of /interrupt and stop whatever runs: only
        # interrupt when /queue says ours is the running one.
        if location.where is Where.RUNNING:
            await self.interrupt(prompt_id)
            return Where.RUNNING
        return Where.PENDING if location.where is Where.LOST else location.where

    # ----------------------------------------------------------------- capabilities

    async def system_stats(self) -> SystemStats:
        status, body = await self._request("GET", "/system_stats")
        if status != 200 or not isinstance(body, dict):
            raise self._unexpected("GET /system_stats", status, body)
        return SystemStats.model_validate(body)

    async def object_info(self, class_type: str) -> dict[str, Any] | None:
        """The node's definition, or None when the node is not installed."""
        status, body = await self._request("GET", f"/object_info/{class_type}")
        if status != 200 or not isinstance(body, dict):
            raise self._unexpected("GET /object_info", status, body)
        return body.get(class_type) or None

    async def models(self, folder: str) -> list[str] | None:
        """Model files in `folder`, or None when the server has no /models route (old)."""
        status, body = await self._request("GET", f"/models/{folder}")
        if status == 404:
            return None
        if status != 200 or not isinstance(body, list):
            raise self._unexpected("GET /models", status, body)
        return [str(name) for name in body]

    # ----------------------------------------------------------------- output

    async def download(self, file: OutputFile, dest: Path, *, max_bytes: int) -> int:
        """Stream the file from /view into `dest` (atomically); returns its size.

        Addressed by filename, subfolder and type only: the history's `fullpath` is the
        server's own path and is never used.
        """
        params = {"filename": file.filename, "subfolder": file.subfolder, "type": file.type}
        last = "no answer"
        for attempt in range(self.retry.attempts):
            if attempt:
                await self._sleep(self.retry.delay(attempt - 1))
            try:
                return await self._download_once(params, dest, max_bytes)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                last = type(exc).__name__
            except _ServerError as exc:
                last = f"HTTP {exc.status}"
        raise BackendDown(f"{self.name} failed to send {file.filename!r} ({last})", backend=self.name)

    async def _download_once(self, params: dict[str, str], dest: Path, max_bytes: int) -> int:
        timeout = aiohttp.ClientTimeout(total=None, sock_read=self.retry.request_timeout)
        async with self.session.get(self.url + "/view", params=params, headers=self.headers, timeout=timeout) as resp:
            if resp.status >= 500:
                raise _ServerError(resp.status)
            if resp.status != 200:
                raise self._unexpected(f"GET /view {params['filename']!r}", resp.status, "")
            if resp.content_length is not None and resp.content_length > max_bytes:
                raise DownloadTooLarge(
                    f"{params['filename']!r} is {resp.content_length} bytes, over the {max_bytes}-byte cap",
                    backend=self.name,
                )
            return await _stream_to_file(resp, dest, max_bytes, self.name)


class _ServerError(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


async def _read_body(resp: aiohttp.ClientResponse) -> Any:
    text = await resp.text()
    if "json" in (resp.content_type or "") and text:
        try:
            return await resp.json(content_type=None)
        except ValueError:
            return text
    return text


async def _stream_to_file(resp: aiohttp.ClientResponse, dest: Path, max_bytes: int, backend: str) -> int:
    """Write the body to `dest.part` off the event loop, then rename into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    handle = await asyncio.to_thread(open, part, "wb")
    size = 0
    try:
        async for chunk in resp.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise DownloadTooLarge(f"output is over the {max_bytes}-byte cap", backend=backend)
            await asyncio.to_thread(handle.write, chunk)
    except BaseException:
        await asyncio.to_thread(handle.close)
        await asyncio.to_thread(_unlink, part)
        raise
    await asyncio.to_thread(handle.close)
    await asyncio.to_thread(os.replace, part, dest)
    return size


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)

