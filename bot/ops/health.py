"""The operator's HTTP endpoint: `/healthz` (is the bot able to serve?) and `/metrics` (Prometheus).

Owns the small aiohttp server, the health rule and the JSON it answers. It knows neither
discord.py nor the dispatcher: whoever wires the bot passes a `HealthSources` (two cheap,
synchronous reads of state the bot already tracks) and the `Metrics`. If the sources also have
an async `refresh_metrics()`, it runs before each /metrics render, so gauges such as jobs by state
are pulled from the store at scrape time instead of being pushed on every change.

Healthy means: the Discord gateway is connected AND at least one ComfyUI backend is up AND (when
the sources report it, `ReportsDatabase`) the database answers. Anything else answers 503 with the
reasons in words. Bodies name backends by URL with credentials and query strings removed; no
token or exception text ever reaches a response.

`/livez` answers 200 whenever the process serves it: Kubernetes' liveness probe, for which only a
wedged process is a reason to restart (a GPU or Discord outage is not; /healthz, the readiness
probe, reports those).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

from aiohttp import web

from bot.urls import display_url
from bot.ops.metrics import Metrics

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = [
    "DATABASE_DOWN",
    "GATEWAY_DOWN",
    "NO_BACKEND_UP",
    "Health",
    "HealthServer",
    "HealthSources",
    "RefreshesMetrics",
    "ReportsDatabase",
    "assess",
    "build_health_server",
]

log = logging.getLogger("wanbot.ops.health")

GATEWAY_DOWN = "discord gateway not connected"
NO_BACKEND_UP = "no ComfyUI backend is up"
DATABASE_DOWN = "database unavailable (the bot keeps retrying; prompts on ComfyUI keep rendering)"


class HealthSources(Protocol):
    """What /healthz reads. Both are called on the event loop for every probe: keep them cheap
    (return state the bot already holds; do no I/O)."""

    def gateway_connected(self) -> bool: ...

    def backends(self) -> Sequence[tuple[str, bool]]:
        """Every configured backend as `(url, up)`."""
        ...


@runtime_checkable
class RefreshesMetrics(Protocol):
    """Optional on a `HealthSources`: pull current figures into `Metrics` before a scrape."""

    async def refresh_metrics(self) -> None: ...


@runtime_checkable
class ReportsDatabase(Protocol):
    """Optional on a `HealthSources`: whether the database answered the bot's last call (cheap,
    no I/O: the bot calls it every few seconds anyway)."""

    def database_up(self) -> bool: ...


@dataclass(frozen=True)
class Health:
    """One health verdict; `reasons` is empty exactly when `ok`."""

    gateway_connected: bool
    backends: tuple[tuple[str, bool], ...]
    reasons: tuple[str, ...]
    database_up: bool | None = None  # None: not reported

    @property
    def ok(self) -> bool:
        return not self.reasons

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "ok" if self.ok else "unavailable",
            "gateway": "connected" if self.gateway_connected else "disconnected",
            "backends": [{"url": url, "up": up} for url, up in self.backends],
        }
        if self.database_up is not None:
            body["database"] = "up" if self.database_up else "down"
        if self.reasons:
            body["reasons"] = list(self.reasons)
        return body


def assess(gateway_connected: bool, backends: Sequence[tuple[str, bool]], database_up: bool | None = None) -> Health:
    """Apply the health rule to what the sources report."""
    shown = tuple((display_url(url), bool(up)) for url, up in backends)
    reasons: list[str] = []
    if not gateway_connected:
        reasons.append(GATEWAY_DOWN)
    if not any(up for _, up in shown):
        reasons.append(f"{NO_BACKEND_UP}: {_describe_down(shown)}")
    if database_up is False:
        reasons.append(DATABASE_DOWN)
    return Health(gateway_connected=bool(gateway_connected), backends=shown, reasons=tuple(reasons),
                  database_up=database_up)


def _describe_down(backends: Sequence[tuple[str, bool]]) -> str:
    if not backends:
        return "none configured"
    return ", ".join(f"{url} down" for url, _ in backends)


class HealthServer:
    """Serves /healthz and /metrics on `host:port` (port 0 picks a free port; read `.port` after
    `start()`). Start and stop it from the bot's event loop.

    `refresh_timeout` bounds `refresh_metrics()`: a hung store must not hang the scrape, which
    would also hide the backend and gateway gauges that matter most while something is wrong.
    """

    def __init__(
        self,
        host: str,
        port: int,
        sources: HealthSources,
        metrics: Metrics,
        *,
        refresh_timeout: float = 5.0,
    ) -> None:
        self.host = host
        self._port = port
        self.sources = sources
        self.metrics = metrics
        self.refresh_timeout = refresh_timeout
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The bound port once started (the requested one before)."""
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/livez", self._livez)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def start(self) -> None:
        """Bind and serve. Raises OSError when the address is taken or not local to this host."""
        if self._runner is not None:
            raise RuntimeError("health server already started")
        # access_log=None: Docker probes every 30 s and Prometheus scrapes every 15 s; an access
        # line for each would bury the job logs.
        runner = web.AppRunner(self._app(), access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        log.info("health and metrics on %s (/healthz, /livez, /metrics)", self.url)

    async def stop(self) -> None:
        """Stop serving; safe to call twice or before `start()`."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def health(self) -> Health:
        """The current verdict. A source that raises counts as unhealthy, with a reason that names
        the exception type only: its message could carry a URL with a token."""
        try:
            database = self.sources.database_up() if isinstance(self.sources, ReportsDatabase) else None
            return assess(self.sources.gateway_connected(), self.sources.backends(), database)
        except Exception as exc:
            log.exception("health sources failed")
            return Health(gateway_connected=False, backends=(), reasons=(f"health check failed: {type(exc).__name__}",))

    async def _healthz(self, request: web.Request) -> web.Response:
        verdict = self.health()
        return web.json_response(verdict.body(), status=200 if verdict.ok else 503, headers=_NO_STORE)

    async def _livez(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"}, headers=_NO_STORE)

    async def _metrics(self, request: web.Request) -> web.Response:
        await self._refresh()
        body, content_type = self.metrics.render()
        return web.Response(body=body, headers={"Content-Type": content_type, **_NO_STORE})

    async def _refresh(self) -> None:
        """Pull scrape-time figures; on failure, serve the last good values and count the failure."""
        try:
            self.metrics.set_gateway(self.sources.gateway_connected())
            if isinstance(self.sources, RefreshesMetrics):
                async with asyncio.timeout(self.refresh_timeout):  # not wait_for: it can swallow a cancel
                    await self.sources.refresh_metrics()
        except Exception:
            log.warning("refreshing metrics failed; serving the last values", exc_info=True)
            self.metrics.refresh_failed()


_NO_STORE = {"Cache-Control": "no-store"}


def build_health_server(settings: Settings, sources: HealthSources, metrics: Metrics) -> HealthServer | None:
    """The server `settings` ask for, or None when WANBOT_HTTP_PORT is 0 (disabled)."""
    if settings.http_port == 0:
        return None
    return HealthServer(settings.http_host, settings.http_port, sources, metrics)
