"""The Discord client: `WanBot`, the process that `wanbot run` starts.

The bot owns the `Services` (database, queue, dispatcher, backends) for its lifetime: they are
started in `setup_hook` (after login, before the gateway connects, so persistent buttons and
the dispatcher are ready before the first interaction) and closed in `close`. Everything the
members see lives in the `cogs` extension, loaded by name so that `bot/` never imports `cogs/`.
"""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from bot.services import Services

__all__ = ["WanBot", "EXTENSION"]

log = logging.getLogger(__name__)

EXTENSION = "cogs"


class WanBot(commands.AutoShardedBot):
    """discord.py's sharded bot with wanbot's services attached.

    No privileged intents: slash commands and buttons need none, and a bot without them is
    invited without extra review.
    """

    def __init__(self, services: Services, **options: object) -> None:
        options.setdefault("intents", discord.Intents.default())
        options.setdefault("allowed_mentions", discord.AllowedMentions.none())
        # A prefix nobody types: every command is a slash command.
        super().__init__(command_prefix=commands.when_mentioned, help_command=None, **options)  # type: ignore[arg-type]
        self.services = services

    async def setup_hook(self) -> None:
        await self.load_extension(EXTENSION)
        await self.services.start()

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            await self.services.close()
