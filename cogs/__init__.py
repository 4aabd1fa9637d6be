"""Everything members and moderators see on Discord, loaded by `WanBot` as one extension.

`setup(bot)` installs the command translator and the tree-wide error hook, and loads each feature's cog module (each has its
own `setup`). Feature packages keep their UI (embeds, views) in private `_ui` modules beside
the cog, as python-discord does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs._errors import on_app_command_error
from cogs._i18n import CommandTranslator

if TYPE_CHECKING:
    from bot.app import WanBot

# Each is a module or package with `async def setup(bot)`.
FEATURES: tuple[str, ...] = ("cogs.video", "cogs.queue", "cogs.admin")


async def setup(bot: "WanBot") -> None:
    """discord.py's extension entry point."""
    await bot.tree.set_translator(CommandTranslator())
    # Tree-wide, for every feature's commands: expected errors explained, the rest logged.
    bot.tree.error(on_app_command_error)
    for feature in FEATURES:
        await bot.load_extension(feature)
