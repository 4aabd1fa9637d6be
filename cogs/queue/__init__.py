"""The queue feature: `/queue`, `/cancel` and `/history` (see `cog.py`).

Modules: `cog` (the commands), `_ui` (their embeds and sentences), and three the admin feature
shares: `reads` (what the views read, backends included), `describe` (how a job is described)
and `replies` (how a command answers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.queue.cog import QueueCog

if TYPE_CHECKING:
    from bot.app import WanBot

__all__ = ["QueueCog", "setup"]


async def setup(bot: WanBot) -> None:
    """discord.py's extension entry point."""
    await bot.add_cog(QueueCog(bot))
