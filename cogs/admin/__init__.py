"""The admin feature: the `/wanbot` command group for moderators (see `cog.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.admin.cog import AdminCog

if TYPE_CHECKING:
    from bot.app import WanBot

__all__ = ["AdminCog", "setup"]


async def setup(bot: WanBot) -> None:
    """discord.py's extension entry point."""
    await bot.add_cog(AdminCog(bot))
