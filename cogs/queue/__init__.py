"""The queue feature: `/queue`, `/cancel` and `/history` (see `cog.py`).

Modules: `cog` (the commands) and `_ui` (their embeds and sentences). What they read is
`bot.jobs.reads`; how a job is described (`cogs._job_text`) and how a command answers
(`cogs._replies`) are shared with the admin feature.
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
