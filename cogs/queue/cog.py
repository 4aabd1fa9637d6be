"""`/queue`, `/cancel` and `/history`: the member's view of the queue and of their own jobs.

The cog parses options, asks `bot/` (reads through `bot.jobs.reads`, cancels through the
dispatcher) and renders with `_ui`; `/history` carries the video feature's Remix buttons, one
per listed job (that feature answers them); who may cancel what is the scheduler's rule
(owner or moderator), moderator status is `cogs._permissions`. Every answer is ephemeral (it
is about the caller's own jobs and would only clutter the channel) and mentions nobody.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.jobs import CancelOutcome, JobRecord
from bot.jobs.scheduler import CANCEL_MESSAGES
from bot.services import Services
from cogs._i18n import loc
from cogs._permissions import is_moderator
from cogs._replies import answer, refuse
from cogs.queue._ui import (
    NO_JOB_TO_CANCEL,
    cancel_choice_name,
    history_embed,
    queue_embed,
)
from cogs.video import remix_buttons

if TYPE_CHECKING:
    from bot.app import WanBot

__all__ = ["QueueCog"]

_CHOICES_MAX = 25  # Discord's limit for autocomplete answers


def _guild_id(interaction: discord.Interaction) -> int:
    # Every command here is guild_only: Discord never sends them from a DM.
    assert interaction.guild_id is not None
    return interaction.guild_id


class QueueCog(commands.Cog):
    """Members' queue commands."""

    def __init__(self, bot: WanBot) -> None:
        self.services: Services = bot.services

    def _moderator(self, interaction: discord.Interaction) -> bool:
        return is_moderator(interaction.user, self.services.settings.admin_role)

    # ------------------------------------------------------------------------- /queue

    @app_commands.command(
        name=loc("queue", zh="队列"),
        description=loc("See the video queue, the servers and your place in it",
                        zh="查看视频队列、生成服务器和你的排位"),
    )
    @app_commands.guild_only()
    async def queue(self, interaction: discord.Interaction) -> None:
        guild_id = _guild_id(interaction)
        snapshot = await self.services.reads.queue(guild_id, interaction.user.id)
        await answer(interaction, embed=queue_embed(snapshot, guild_id, interaction.locale))

    # ------------------------------------------------------------------------- /cancel

    @app_commands.command(
        name=loc("cancel", zh="取消"),
        description=loc("Cancel a video you asked for (default: your latest one)",
                        zh="取消你请求的视频（默认：最近的一个）"),
    )
    @app_commands.rename(job=loc("job", zh="编号"))
    @app_commands.describe(job=loc("The video's number, e.g. 12 for #12", zh="视频编号，例如 #12 填 12"))
    @app_commands.guild_only()
    async def cancel(self, interaction: discord.Interaction, job: app_commands.Range[int, 1] | None = None) -> None:
        # A running job is interrupted on its ComfyUI server: network time, so ack first.
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild_id, user_id = _guild_id(interaction), interaction.user.id
        record = await self._cancel_target(guild_id, user_id, job)
        if record is None:
            await refuse(interaction, NO_JOB_TO_CANCEL if job is None else CANCEL_MESSAGES[CancelOutcome.NOT_FOUND],
                         job_id=job)
            return
        # A moderator's power stops at their own server's jobs.
        is_admin = record.guild_id == guild_id and self._moderator(interaction)
        result = await self.services.dispatcher.cancel(record.id, user_id, is_admin=is_admin)
        if result.outcome is CancelOutcome.CANCELLED:
            await answer(interaction, result.render(interaction.locale, record.id))
        else:
            await refuse(interaction, CANCEL_MESSAGES[result.outcome], job_id=record.id)

    async def _cancel_target(self, guild_id: int, user_id: int, job_id: int | None) -> JobRecord | None:
        """The job named (None if it does not exist or is another server's and not the
        caller's: no hint that it exists), or the caller's latest cancellable one."""
        if job_id is None:
            return await self.services.reads.latest_cancellable(guild_id, user_id)
        record = await self.services.reads.job(job_id)
        if record is None or (record.guild_id != guild_id and record.user_id != user_id):
            return None
        return record

    @cancel.autocomplete("job")
    async def _cancel_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[int]]:
        """The caller's cancellable jobs; a moderator sees every one of the server's."""
        everyone = self._moderator(interaction)
        jobs = await self.services.reads.cancel_candidates(_guild_id(interaction), interaction.user.id,
                                                           everyone=everyone)
        typed = str(current or "").strip().lstrip("#").casefold()
        choices = []
        for job in jobs:
            if typed and not (str(job.id).startswith(typed) or typed in str(job.params.get("prompt", "")).casefold()):
                continue
            choices.append(app_commands.Choice(name=cancel_choice_name(job, interaction.locale), value=job.id))
            if len(choices) == _CHOICES_MAX:
                break
        return choices

    # ------------------------------------------------------------------------- /history

    @app_commands.command(
        name=loc("history", zh="历史"),
        description=loc("Your last videos: state, settings, seed and a link to each result",
                        zh="你最近的视频：状态、参数、种子和结果链接"),
    )
    @app_commands.rename(count=loc("count", zh="数量"))
    @app_commands.describe(count=loc("How many to show (1-10, default 5)", zh="显示几个（1-10，默认 5）"))
    @app_commands.guild_only()
    async def history(self, interaction: discord.Interaction, count: app_commands.Range[int, 1, 10] = 5) -> None:
        jobs = await self.services.reads.history(_guild_id(interaction), interaction.user.id, count)
        locale = interaction.locale
        await answer(interaction, embed=history_embed(jobs, locale), view=remix_buttons(jobs, locale))
