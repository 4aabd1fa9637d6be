"""The `wanbot run` process: logging, services, the Discord client, /healthz, and shutdown.

SIGTERM or SIGINT: stop accepting `/video` (members are told the bot is restarting), stop
claiming, give downloads and posts under way WANBOT_SHUTDOWN_GRACE seconds, leave prompts
running on ComfyUI, close Discord and HTTP sessions, exit 0. Every state is already
persisted, so the next start re-attaches.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

import discord

from bot import logs
from bot.app import WanBot
from bot.ops.health import build_health_server
from bot.services import Services
from bot.settings import Settings
from bot.workflows import TemplateError

__all__ = ["run_bot", "BotHealth"]

log = logging.getLogger(__name__)


class BotHealth:
    """What /healthz reads: the gateway and the backends, as the bot sees them now."""

    def __init__(self, bot: WanBot) -> None:
        self.bot = bot

    def gateway_connected(self) -> bool:
        return self.bot.is_ready() and not self.bot.is_closed()

    def backends(self) -> Sequence[tuple[str, bool]]:
        return [(view.name, view.up and view.usable) for view in self.bot.services.dispatcher.backend_views()]

    async def refresh_metrics(self) -> None:
        self.bot.services.metrics.set_gateway(self.gateway_connected())
        await self.bot.services.refresh_metrics()


def _secrets(settings: Settings) -> list[str]:
    return [s.get_secret_value() for s in (settings.discord_token, settings.comfyui_token) if s is not None]


def run_bot(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; the exit code for the CLI."""
    logs.install(level=settings.log_level, fmt=settings.log_format, secrets=_secrets(settings))
    try:
        return asyncio.run(_serve(settings))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130


async def _serve(settings: Settings) -> int:
    try:
        services = await Services.open(settings)
    except TemplateError as exc:
        print(f"wanbot: {exc}", file=sys.stderr)
        return 2
    bot = WanBot(services)
    health = build_health_server(settings, BotHealth(bot), services.metrics)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if health is not None:
        await health.start()
        log.info("health and metrics on %s", health.url)
    try:
        return await _run_until_stopped(bot, settings, stop)
    finally:
        if health is not None:
            await health.stop()


async def _run_until_stopped(bot: WanBot, settings: Settings, stop: asyncio.Event) -> int:
    assert settings.discord_token is not None
    client = asyncio.create_task(bot.start(settings.discord_token.get_secret_value()), name="discord")
    stopper = asyncio.create_task(stop.wait(), name="signal")
    await asyncio.wait({client, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if client.done():
        stopper.cancel()
        return _client_ended(client, bot)
    log.info("shutting down: no new videos; ComfyUI keeps what it has; the next start re-attaches")
    bot.services.accepting = False
    await bot.services.dispatcher.stop(settings.shutdown_grace)
    await bot.close()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await client
    log.info("stopped cleanly")
    return 0


def _client_ended(client: asyncio.Task[None], bot: WanBot) -> int:
    exc = client.exception()
    if isinstance(exc, discord.LoginFailure):
        print("wanbot: Discord rejected DISCORD_TOKEN: copy a fresh one from the Developer Portal "
              "(Bot → Reset Token) into .env", file=sys.stderr)
        return 2
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        print("wanbot: Discord refused an intent this bot did not ask for; please report this", file=sys.stderr)
        return 2
    if exc is not None:
        log.error("the Discord client stopped: %s", type(exc).__name__, exc_info=exc)
        return 1
    return 0
