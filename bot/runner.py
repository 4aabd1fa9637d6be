"""The `wanbot run` process: logging, services, /healthz, the Discord client, and how it ends.

It ends in one of two ways. SIGTERM or SIGINT (at any point, start-up included): stop accepting
`/video` (members are told the bot is restarting), stop claiming, give downloads and posts
under way WANBOT_SHUTDOWN_GRACE seconds, leave prompts running on ComfyUI, close Discord and
HTTP sessions, exit 0; every state is already persisted, so the next start re-attaches. Or a
fatal problem (`bot.fatal`): a start-up problem a setting can fix, Discord refusing or not
answering, or the Discord client ending for any other reason. Then everything opened is
closed the same way, one log record says why, and the exit code is non-zero, so that Docker
(`restart: unless-stopped`) or Kubernetes starts it again; nothing retries for ever here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

from bot import logs
from bot.app import WanBot
from bot.fatal import EXIT_CONFIG, EXIT_FAILED, Fatal, discord_fatal
from bot.ops.health import build_health_server
from bot.services import Services
from bot.settings import Settings
from bot.startup import serve_health
from bot.workflows import TemplateError

__all__ = ["BotHealth", "run_bot"]

log = logging.getLogger(__name__)


class BotHealth:
    """What /healthz reads: the gateway, the backends and the database, as the bot sees them
    now. The server starts before the bot exists (a taken port must fail before logging in), so
    the gateway reads as disconnected until `bot` is set."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.bot: WanBot | None = None

    def gateway_connected(self) -> bool:
        return self.bot is not None and self.bot.is_ready() and not self.bot.is_closed()

    def backends(self) -> Sequence[tuple[str, bool]]:
        return [(view.name, view.up and view.usable) for view in self.services.dispatcher.backend_views()]

    def database_up(self) -> bool:
        """From the dispatcher's heartbeat (a few seconds old at most)."""
        return self.services.dispatcher.store_unavailable is None

    async def refresh_metrics(self) -> None:
        self.services.metrics.set_gateway(self.gateway_connected())
        await self.services.refresh_metrics()


def _secrets(settings: Settings) -> list[str]:
    tokens = [s.get_secret_value() for s in (settings.discord_token, settings.comfyui_token) if s is not None]
    return tokens + settings.database.secrets


def run_bot(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT or a fatal problem; the exit code for the CLI."""
    logs.install(level=settings.log_level, fmt=settings.log_format, secrets=_secrets(settings))
    try:
        return asyncio.run(_serve(settings))
    except KeyboardInterrupt:  # Ctrl-C in the instant before the signal handlers are set
        return 130


async def _serve(settings: Settings) -> int:
    stop = _stop_on_signals()
    try:
        async with contextlib.AsyncExitStack() as opened:
            services = await _open_services(settings)
            opened.push_async_callback(services.close)
            sources = BotHealth(services)
            health = build_health_server(settings, sources, services.metrics)
            if health is not None:
                await serve_health(health)
                opened.push_async_callback(health.stop)
            if stop.is_set():
                return _stopped("before logging in to Discord")
            bot = WanBot(services)
            sources.bot = bot
            return await _run_until_stopped(bot, settings, stop)
    except Fatal as fatal:
        # The cause is the message itself, so it reads the same in text and JSON logs; only a
        # cause nobody foresaw carries its traceback.
        log.error("%s", fatal.line, exc_info=fatal.__cause__ if fatal.unexpected else None)
        return fatal.exit_code
    except Exception as exc:  # noqa: BLE001 - a bug: still one record and an exit, never a hang
        log.error("wanbot stopped on an unexpected error: %s: %s", type(exc).__name__, exc, exc_info=exc)
        return EXIT_FAILED


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, from the first moment: Ctrl-C during start-up is a
    stop like any other, never a KeyboardInterrupt through half-opened resources."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _open_services(settings: Settings) -> Services:
    try:
        return await Services.open(settings)
    except TemplateError as exc:
        raise Fatal(f"WANBOT_WORKFLOW: {exc}", EXIT_CONFIG) from exc


async def _run_until_stopped(bot: WanBot, settings: Settings, stop: asyncio.Event) -> int:
    assert settings.discord_token is not None
    client = asyncio.create_task(bot.start(settings.discord_token.get_secret_value()), name="discord")
    stopper = asyncio.create_task(stop.wait(), name="signal")
    try:
        await asyncio.wait({client, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if client.done():
        # Logging in, the gateway, or a gateway that closed for good: discord.py gave up.
        await bot.close()
        raise discord_fatal(_outcome(client), shard_count=settings.shard_count)
    log.info("shutting down: no new videos; ComfyUI keeps what it has; the next start re-attaches")
    # The client task may be mid-login or mid-start-up: end it first, so shutdown does not
    # race it for the services it is starting.
    client.cancel()
    await asyncio.wait({client})
    _outcome(client)
    await bot.shutdown(settings.shutdown_grace)
    return _stopped()


def _outcome(client: asyncio.Task[None]) -> BaseException | None:
    """The exception the client ended with (None if it returned or was cancelled), collected
    so that asyncio does not report it as never retrieved."""
    if client.cancelled():
        return None
    return client.exception()


def _stopped(when: str = "") -> int:
    log.info("stopped cleanly%s", f" {when}" if when else "")
    return 0

