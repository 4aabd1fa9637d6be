"""What wraps every route: request recording, injected failures, the token proxy, Origin check.

Owns the order a real deployment has: the test harness sees every request first, then an
injected failure (a flaky proxy or a crashing server) may answer instead, then the auth proxy
in front of ComfyUI wants a bearer token, then ComfyUI itself rejects a cross-origin request.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from tests.fakes.comfyui._uploads import FormPart, parse_form

if TYPE_CHECKING:
    from tests.fakes.comfyui._fake import FakeComfyUI

__all__ = ["InjectedFailure", "RecordedRequest", "middlewares", "route_of"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_of(path: str) -> str:
    """'/api/prompt' -> '/prompt': every route answers with and without the /api prefix."""
    return path[4:] if path == "/api" or path.startswith("/api/") else path


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it, before any check ran."""

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    body: bytes = b""

    @property
    def route(self) -> str:
        return route_of(self.path)

    @property
    def bearer(self) -> str | None:
        value = self.headers.get("Authorization", "")
        return value[7:] if value.startswith("Bearer ") else None

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, FormPart]:
        """The multipart form the request carried (POST /upload/image), by field name."""
        return parse_form(self.body, self.headers.get("Content-Type", ""))


@dataclass
class InjectedFailure:
    """Answer the next matching request with `status` (0 = drop the connection). With `after`,
    the request is handled first (a prompt gets queued) and only the response is lost."""

    status: int = 500
    path: str | None = None
    after: bool = False

    def matches(self, route: str) -> bool:
        if self.path is None:
            return route != "/ws"  # a blanket failure hits HTTP calls, not websocket upgrades
        return route == route_of(self.path)


def _failure_response(request: web.Request, status: int) -> web.StreamResponse:
    if status == 0:
        if request.transport is not None:
            request.transport.abort()
        # Nothing reaches the client; aiohttp just finds the connection gone.
        return web.Response(status=500)
    if status == 500:
        return web.Response(status=500, text="500 Internal Server Error\n\nServer got itself in trouble")
    reason = web.Response(status=status).reason
    return web.Response(status=status, text=f"{status}: {reason}")


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost":  # the real server asks DNS; we never do
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _origin_rejected(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> bool:
    """ComfyUI's origin_only_middleware: on a loopback Host, Origin must name the same host
    (and port, when both carry one). No Origin header: allowed."""
    if "Host" not in headers or "Origin" not in headers:
        return False
    host_domain = headers["Host"].lower()
    parsed = urllib.parse.urlparse(headers["Origin"])
    origin_domain: str | None = parsed.netloc.lower()
    host_parsed = urllib.parse.urlsplit("//" + host_domain)
    loopback = _is_loopback(host_parsed.hostname)
    host_cmp: str | None = host_domain
    if parsed.port is None:
        host_cmp = host_parsed.hostname
    if host_parsed.port is None:
        origin_domain = parsed.hostname
    return bool(loopback and host_cmp and origin_domain and host_cmp != origin_domain)


def _token_ok(request: web.Request, token: str) -> bool:
    return (request.headers.get("Authorization") == f"Bearer {token}"
            or request.query.get("token") == token)


def middlewares(fake: FakeComfyUI) -> list[Any]:
    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read() if request.can_read_body else b""
        fake.requests.append(RecordedRequest(request.method, request.path, dict(request.query),
                                             CIMultiDictProxy(CIMultiDict(request.headers)), body))
        return await handler(request)

    @web.middleware
    async def injected(request: web.Request, handler: Handler) -> web.StreamResponse:
        failure = fake.take_failure(route_of(request.path))
        if failure is None:
            return await handler(request)
        if failure.after:
            await handler(request)
        return _failure_response(request, failure.status)

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if fake.require_token and not _token_ok(request, fake.require_token):
            return web.Response(status=401, text="401: Unauthorized")
        return await handler(request)

    @web.middleware
    async def origin_only(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _origin_rejected(request.headers):
            return web.Response(status=403)
        return await handler(request)

    return [record, injected, auth, origin_only]
