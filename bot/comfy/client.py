"""HTTP side of one ComfyUI backend: upload pictures, submit, inspect, cancel, probe, download.

One `ComfyClient` per backend, sharing the aiohttp `ClientSession` its owner created. Every call
runs under one `RetryPolicy`: transient failures (connection errors, timeouts, 5xx) are retried
with backoff and jitter inside an overall time budget, then reported as `BackendDown`. An answer
that shows the server will not serve us as configured is told apart at once, without retries:
401 (`TokenRefused`), 403 (`BackendRefused`), 404 or a web page (`NotComfyUI`). The websocket
lives in `bot.comfy.events`.
"""

from __future__ import annotations

import asyncio
import copy
import enum
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from pydantic import ValidationError
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_random,
)

from bot.comfy.errors import BackendDown, BackendRefused, ComfyError, DownloadTooLarge, NotComfyUI, TokenRefused
from bot.comfy.protocol import HistoryEntry, OutputFile, QueueSnapshot, SubmitResponse, SystemStats, UploadedImage
from bot.comfy.rejection import rejection_from_body
from bot.urls import display_url

__all__ = ["ComfyClient", "RetryPolicy", "Location", "Where"]

_CHUNK = 1 << 18


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one call before calling the backend down.

    Up to `attempts` tries; between them `base_delay` doubling up to `max_delay`, plus up to
    `jitter` seconds at random. Each try gets `connect_timeout` to connect and `attempt_timeout`
    for the whole answer. The call as a whole, retries and waits included, gets `budget`: a
    server that accepts connections and never answers is reported after `budget` seconds, not
    after attempts × timeouts. A download's budget bounds its retries, not its transfer.
    """

    attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 4.0
    jitter: float = 0.25
    connect_timeout: float = 3.0
    # ComfyUI answers its API from memory in milliseconds, even while a render runs.
    attempt_timeout: float = 6.0
    budget: float = 10.0

    def retrying(self, sleep: Callable[[float], Awaitable[None]]) -> AsyncRetrying:
        return AsyncRetrying(
            stop=stop_after_attempt(self.attempts) | stop_after_delay(self.budget),
            wait=wait_exponential(multiplier=self.base_delay, max=self.max_delay) + wait_random(0, self.jitter),
            retry=retry_if_exception(_transient),
            sleep=sleep,
            reraise=True,
        )


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

    def as_client(self, client_id: str) -> ComfyClient:
        """The same server, session and token, speaking as another clientId: to hear the
        events of a prompt another process queued under its own id."""
        clone = copy.copy(self)
        clone.client_id = client_id
        return clone

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
        self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None,
        form: Callable[[], aiohttp.FormData] | None = None,
    ) -> tuple[int, Any]:
        """One call under the retry policy; returns (status, parsed JSON or text) for any status < 500.

        `form` builds a multipart body, afresh for each try (aiohttp sends a FormData once).
        A web page comes back as `_WEB_PAGE`, never as its text. Raises BackendDown.
        """
        budget = asyncio.timeout(self.retry.budget)
        try:
            async with budget:
                async for attempt in self.retry.retrying(self._sleep):
                    with attempt:
                        return await self._request_once(method, path, json, params, form)
        except aiohttp.InvalidURL:
            raise ComfyError(f"{self.name} is not a valid URL", backend=self.name) from None
        except _TRANSIENT as exc:
            why = f"no answer within {self.retry.budget:g} s" if budget.expired() else self._why(exc)
            raise BackendDown(self.scrub(f"{self.name} is not answering ({why})"), backend=self.name) from None
        raise AssertionError("unreachable: the retry loop returns or raises")

    async def _request_once(
        self, method: str, path: str, json: Any, params: dict[str, str] | None,
        form: Callable[[], aiohttp.FormData] | None = None,
    ) -> tuple[int, Any]:
        timeout = aiohttp.ClientTimeout(total=self.retry.attempt_timeout, sock_connect=self.retry.connect_timeout)
        async with self.session.request(
            method, self.url + path, json=json, params=params, data=form() if form else None,
            headers=self.headers, timeout=timeout,
        ) as resp:
            if resp.status >= 500:
                raise _ServerError(resp.status)
            return resp.status, await _read_body(resp)

    def _why(self, exc: BaseException) -> str:
        """The last attempt's failure in a few words, without the URL (the reason has it)."""
        if isinstance(exc, _ServerError):
            return f"HTTP {exc.status}"
        if isinstance(exc, aiohttp.ClientConnectorError):
            exc = exc.os_error  # its own text repeats the host and port
        if isinstance(exc, socket.gaierror):
            return "host name not found"
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            return "the connection closed without an answer"
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return f"no connection within {self.retry.connect_timeout:g} s"
        if isinstance(exc, asyncio.TimeoutError):
            return f"no answer within {self.retry.attempt_timeout:g} s"
        if isinstance(exc, OSError) and exc.errno:
            return os.strerror(exc.errno).lower()
        return type(exc).__name__

    def _unexpected(self, what: str, status: int, body: Any, *, api: bool = True) -> ComfyError:
        """The error for an answer that is not the one ComfyUI gives. `api`: a JSON route, where a
        404 or a web page means the URL points at some other server."""
        if status == 401:
            token = "COMFYUI_TOKEN is set but refused" if self._token else "COMFYUI_TOKEN is not set"
            return TokenRefused(f"{self.name} answered 401: the token is missing or wrong ({token})",
                                backend=self.name)
        if status == 403:
            return BackendRefused(f"{self.name} answered 403 to {what}: the server refused the request "
                                  "(Origin/CORS or proxy rules)", backend=self.name)
        if api and (status == 404 or body is _WEB_PAGE or (status == 200 and not isinstance(body, (dict, list)))):
            answer = "a web page" if body is _WEB_PAGE else f"HTTP {status}" if status != 200 else "something other than JSON"
            return NotComfyUI(f"{self.name} is not a ComfyUI server (it answered {what} with {answer})",
                              backend=self.name)
        shown = "a web page" if body is _WEB_PAGE else str(body)[:200]
        return ComfyError(self.scrub(f"{self.name} answered {status} to {what}: {shown}"), backend=self.name)

    # ----------------------------------------------------------------- inputs

    async def upload_image(self, data: bytes, name: str, *, subfolder: str = "") -> UploadedImage:
        """Put a picture in the server's input folder (POST /upload/image) under `subfolder`,
        replacing a file of that name, so a retried or repeated upload stays one file.

        Returns where it went (`load_image_value` is what LoadImage takes). Raises BackendDown,
        or ComfyError when the server refuses the file.
        """
        def form() -> aiohttp.FormData:
            body = aiohttp.FormData()
            body.add_field("image", data, filename=name, content_type="image/png")
            body.add_field("subfolder", subfolder)
            body.add_field("type", "input")
            body.add_field("overwrite", "true")
            return body

        status, body = await self._request("POST", "/upload/image", form=form)
        if status != 200 or not isinstance(body, dict):
            raise self._unexpected(f"POST /upload/image {name!r}", status, body, api=status != 400)
        try:
            return UploadedImage.model_validate(body)
        except ValidationError:
            raise self._unexpected(f"POST /upload/image {name!r}", status, body) from None

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
        try:
            return SystemStats.model_validate(body)
        except ValidationError:
            raise NotComfyUI(f"{self.name} is not a ComfyUI server (its GET /system_stats is not ComfyUI's)",
                             backend=self.name) from None

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
        try:
            async for attempt in self.retry.retrying(self._sleep):
                with attempt:
                    return await self._download_once(params, dest, max_bytes)
        except _TRANSIENT as exc:
            raise BackendDown(f"{self.name} failed to send {file.filename!r} ({self._why(exc)})",
                              backend=self.name) from None
        raise AssertionError("unreachable: the retry loop returns or raises")

    async def _download_once(self, params: dict[str, str], dest: Path, max_bytes: int) -> int:
        # No total: a large file on a slow link may take long; a stalled one does not.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.retry.connect_timeout,
                                        sock_read=self.retry.attempt_timeout)
        async with self.session.get(self.url + "/view", params=params, headers=self.headers, timeout=timeout) as resp:
            if resp.status >= 500:
                raise _ServerError(resp.status)
            if resp.status != 200:
                raise self._unexpected(f"GET /view {params['filename']!r}", resp.status, "", api=False)
            if resp.content_length is not None and resp.content_length > max_bytes:
                raise DownloadTooLarge(
                    f"{params['filename']!r} is {resp.content_length} bytes, over the {max_bytes}-byte cap",
                    backend=self.name,
                )
            return await _stream_to_file(resp, dest, max_bytes, self.name)


class _ServerError(Exception):
    def __init__(self, status: int) -> None:
        self.status = status


# Worth another try: the network, a timeout, a 5xx. Not a URL that cannot be requested at all.
_TRANSIENT = (aiohttp.ClientError, asyncio.TimeoutError, OSError, _ServerError)


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, _TRANSIENT) and not isinstance(exc, aiohttp.InvalidURL)


class _WebPage:
    """The body of an HTML answer: ComfyUI's API never sends one, and it is never shown."""

    def __repr__(self) -> str:
        return "<a web page>"


_WEB_PAGE = _WebPage()


async def _read_body(resp: aiohttp.ClientResponse) -> Any:
    if resp.content_type == "text/html":
        return _WEB_PAGE
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

