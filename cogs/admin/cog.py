"""`/wanbot …`: the moderators' command group (pause, resume, drain, limits, channels, blocked
words, purge, backends, audit).

Who may use it: members with Manage Server, or the role named by WANBOT_ADMIN_ROLE. The group
carries `default_permissions(manage_guild=True)` so Discord hides it from everyone else, and
every command checks `is_moderator` again at run time, because a server admin can grant the
command to anyone in Server Settings → Integrations and the configured role usually lacks
Manage Server. The actions themselves, and their audit entries, are `bot.jobs.QueueAdmin`'s.
Answers are ephemeral and mention nobody.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.jobs import GuildSettings, LimitsError
from bot.services import Services
from cogs._i18n import loc
from cogs._permissions import is_moderator
from cogs._replies import answer, refuse
from cogs.admin import _ui as ui
from cogs.admin._edits import (
    add_channel,
    add_words,
    merge_limits,
    remove_channel,
    remove_words,
)

if TYPE_CHECKING:
    from bot.app import WanBot

__all__ = ["AdminCog"]

_ON_OFF = [
    app_commands.Choice(name=loc("on", zh="开启"), value="on"),
    app_commands.Choice(name=loc("off", zh="关闭"), value="off"),
]


def _guild_id(interaction: discord.Interaction) -> int:
    assert interaction.guild_id is not None  # the group is guild_only
    return interaction.guild_id


class AdminCog(commands.Cog):
    """The `/wanbot` group."""

    wanbot = app_commands.Group(
        name=loc("wanbot", zh="视频管理"),
        description=loc("Moderate the video queue", zh="管理视频队列"),
        guild_only=True,
        allowed_contexts=app_commands.AppCommandContext(guild=True),
        default_permissions=discord.Permissions(manage_guild=True),
    )
    channels = app_commands.Group(
        name=loc("channels", zh="频道"),
        description=loc("Where /video may be used", zh="/video 可以在哪些频道使用"),
        parent=wanbot,
    )
    words = app_commands.Group(
        name=loc("blocked-words", zh="屏蔽词"),
        description=loc("Words prompts may not contain", zh="提示词中不允许出现的词"),
        parent=wanbot,
    )

    def __init__(self, bot: WanBot) -> None:
        self.services: Services = bot.services

    async def _allowed(self, interaction: discord.Interaction) -> bool:
        """The run-time half of the permission check; answers the refusal itself."""
        if is_moderator(interaction.user, self.services.settings.admin_role):
            return True
        await refuse(interaction, ui.NOT_MODERATOR)
        return False

    async def _settings(self, interaction: discord.Interaction) -> GuildSettings:
        return await self.services.reads.guild_settings(_guild_id(interaction))

    # ------------------------------------------------------------------------- the queue

    @wanbot.command(name=loc("pause", zh="暂停"),
                    description=loc("Stop starting videos on this server", zh="暂停本服务器的视频生成"))
    async def pause(self, interaction: discord.Interaction) -> None:
        if not await self._allowed(interaction):
            return
        await self.services.admin.pause(_guild_id(interaction), interaction.user.id)
        await answer(interaction, ui.PAUSED.render(interaction.locale))

    @wanbot.command(name=loc("resume", zh="恢复"),
                    description=loc("Start videos on this server again", zh="恢复本服务器的视频生成"))
    async def resume(self, interaction: discord.Interaction) -> None:
        if not await self._allowed(interaction):
            return
        await self.services.admin.resume(_guild_id(interaction), interaction.user.id)
        self.services.dispatcher.kick()  # the guild's queued jobs may start now
        await answer(interaction, ui.RESUMED.render(interaction.locale))

    @wanbot.command(name=loc("drain", zh="排空"),
                    description=loc("Before a restart: accept and start nothing new (all servers)",
                                    zh="重启前使用：不接受也不开始新视频（所有服务器）"))
    @app_commands.rename(mode=loc("mode", zh="状态"))
    @app_commands.describe(mode=loc("on: drain; off: back to normal", zh="开启：排空；关闭：恢复正常"))
    @app_commands.choices(mode=_ON_OFF)
    async def drain(self, interaction: discord.Interaction, mode: str) -> None:
        if not await self._allowed(interaction):
            return
        admin, locale = self.services.admin, interaction.locale
        if mode == "off":
            await admin.undrain(interaction.user.id)
            self.services.dispatcher.kick()
            await answer(interaction, ui.UNDRAINED.render(locale))
            return
        await admin.drain(interaction.user.id)
        if await admin.is_drained():
            await answer(interaction, ui.DRAINED.render(locale))
            return
        busy = await self.services.reads.until_drained()
        await answer(interaction, ui.DRAINING.render(locale, rendering=busy))

    @wanbot.command(name=loc("purge", zh="清除"),
                    description=loc("Cancel every queued or rendering video of a member",
                                    zh="取消某成员所有排队中和生成中的视频"))
    @app_commands.rename(user=loc("member", zh="成员"))
    @app_commands.describe(user=loc("Whose videos to cancel", zh="要取消谁的视频"))
    async def purge(self, interaction: discord.Interaction, user: discord.Member | discord.User) -> None:
        if not await self._allowed(interaction):
            return
        # Interrupting prompts on ComfyUI is network time: ack first.
        await interaction.response.defer(ephemeral=True, thinking=True)
        jobs = await self.services.dispatcher.purge_user(self.services.admin, _guild_id(interaction), user.id,
                                                         interaction.user.id)
        locale = interaction.locale
        if not jobs:
            await answer(interaction, ui.PURGED_NONE.render(locale, user=user.mention))
            return
        ids = ", ".join(f"#{job.id}" for job in jobs)
        await answer(interaction, ui.PURGED.render(locale, count=len(jobs), user=user.mention, jobs=ids))

    # ------------------------------------------------------------------------- limits

    @wanbot.command(name=loc("limits", zh="限额"),
                    description=loc("Show or change the limits (with a role: that role's adjustment)",
                                    zh="查看或修改限额（指定身份组时：该身份组的调整值）"))
    @app_commands.rename(
        videos_per_hour=loc("videos_per_hour", zh="每小时视频数"), burst=loc("burst", zh="连续上限"),
        max_active=loc("max_active", zh="同时进行上限"), priority=loc("priority", zh="优先级"),
        role=loc("role", zh="身份组"), reset=loc("reset", zh="重置"),
    )
    @app_commands.describe(
        videos_per_hour=loc("Videos a member may make per hour", zh="每位成员每小时可生成的视频数"),
        burst=loc("Videos a member may make in a row before waiting", zh="成员无需等待可连续生成的视频数"),
        max_active=loc("Videos a member may have queued or rendering at once", zh="成员同时排队或生成的视频数上限"),
        priority=loc("Higher goes first (use with a role)", zh="数值越高越先生成（配合身份组使用）"),
        role=loc("Change this role's adjustment instead (added on top)", zh="改为修改该身份组的调整值（叠加）"),
        reset=loc("Clear the server's override (or the role's adjustment) first", zh="先清除本服务器的覆盖值（或身份组的调整值）"),
    )
    async def limits(
        self,
        interaction: discord.Interaction,
        videos_per_hour: app_commands.Range[float, -1000, 1000] | None = None,
        burst: app_commands.Range[int, -100, 100] | None = None,
        max_active: app_commands.Range[int, -100, 100] | None = None,
        priority: app_commands.Range[int, -10, 10] | None = None,
        role: discord.Role | None = None,
        reset: bool = False,
    ) -> None:
        if not await self._allowed(interaction):
            return
        given = {"videos_per_hour": videos_per_hour, "burst": burst, "max_active": max_active, "priority": priority}
        settings = await self._settings(interaction)
        if reset or any(value is not None for value in given.values()):
            try:
                settings = await self._set_limits(interaction, settings, given, role, reset)
            except LimitsError as exc:
                await refuse(interaction, ui.LIMITS_INVALID, reason=str(exc))
                return
        embed = ui.limits_embed(self.services.admission.defaults, settings, interaction.locale)
        await answer(interaction, embed=embed)

    async def _set_limits(self, interaction: discord.Interaction, settings: GuildSettings,
                          given: dict[str, Any], role: discord.Role | None, reset: bool) -> GuildSettings:
        guild_id, by, admin = _guild_id(interaction), interaction.user.id, self.services.admin
        if role is None:
            return await admin.set_limits(guild_id, by, merge_limits({} if reset else settings.limits, given))
        current = {} if reset else settings.role_limits.get(str(role.id), {})
        delta = merge_limits(current, given)
        return await admin.set_role_limits(guild_id, by, role.id, delta or None)

    # ------------------------------------------------------------------------- channels

    @channels.command(name=loc("add", zh="添加"),
                      description=loc("Allow /video in a channel (then only in the listed ones)",
                                      zh="允许在某频道使用 /video（之后仅限列出的频道）"))
    @app_commands.rename(channel=loc("channel", zh="频道"))
    @app_commands.describe(channel=loc("The channel to allow", zh="要允许的频道"))
    async def channels_add(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        await self._edit_channels(interaction, lambda current: add_channel(current, channel.id))

    @channels.command(name=loc("remove", zh="移除"),
                      description=loc("Stop allowing /video in a channel", zh="不再允许在某频道使用 /video"))
    @app_commands.rename(channel=loc("channel", zh="频道"))
    @app_commands.describe(channel=loc("The channel to remove", zh="要移除的频道"))
    async def channels_remove(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        await self._edit_channels(interaction, lambda current: remove_channel(current, channel.id))

    @channels.command(name=loc("clear", zh="清空"),
                      description=loc("Allow /video in every channel again", zh="重新允许在所有频道使用 /video"))
    async def channels_clear(self, interaction: discord.Interaction) -> None:
        await self._edit_channels(interaction, lambda current: [])

    @channels.command(name=loc("list", zh="列表"), description=loc("Where /video may be used", zh="/video 可用的频道"))
    async def channels_list(self, interaction: discord.Interaction) -> None:
        if await self._allowed(interaction):
            await answer(interaction, ui.channels_text(await self._settings(interaction), interaction.locale))

    async def _edit_channels(self, interaction: discord.Interaction,
                             edit: Callable[[Sequence[int]], list[int]]) -> None:
        if not await self._allowed(interaction):
            return
        current = (await self._settings(interaction)).allowed_channels
        settings = await self.services.admin.set_allowed_channels(
            _guild_id(interaction), interaction.user.id, edit(current))
        await answer(interaction, ui.channels_text(settings, interaction.locale))

    # ------------------------------------------------------------------------- blocked words

    @words.command(name=loc("add", zh="添加"),
                   description=loc("Block words in prompts (comma-separated)", zh="屏蔽提示词中的词（用逗号分隔）"))
    @app_commands.rename(text=loc("words", zh="词语"))
    @app_commands.describe(text=loc("e.g. gore, 血腥 — also catches other cases, widths and traditional forms",
                                    zh="例如：gore, 血腥——也会匹配大小写、全半角和繁体写法"))
    async def words_add(self, interaction: discord.Interaction, text: app_commands.Range[str, 1, 1000]) -> None:
        await self._edit_words(interaction, lambda current: add_words(current, text))

    @words.command(name=loc("remove", zh="移除"),
                   description=loc("Unblock words (comma-separated)", zh="取消屏蔽词（用逗号分隔）"))
    @app_commands.rename(text=loc("words", zh="词语"))
    @app_commands.describe(text=loc("The words to unblock", zh="要取消屏蔽的词"))
    async def words_remove(self, interaction: discord.Interaction, text: app_commands.Range[str, 1, 1000]) -> None:
        await self._edit_words(interaction, lambda current: remove_words(current, text))

    @words.command(name=loc("list", zh="列表"), description=loc("Show the blocked words", zh="显示屏蔽词"))
    async def words_list(self, interaction: discord.Interaction) -> None:
        if await self._allowed(interaction):
            await answer(interaction, ui.words_text(await self._settings(interaction), interaction.locale))

    async def _edit_words(self, interaction: discord.Interaction,
                          edit: Callable[[Sequence[str]], list[str]]) -> None:
        if not await self._allowed(interaction):
            return
        current = (await self._settings(interaction)).blocked_words
        settings = await self.services.admin.set_blocked_words(
            _guild_id(interaction), interaction.user.id, edit(current))
        await answer(interaction, ui.words_text(settings, interaction.locale))

    # ------------------------------------------------------------------------- looking

    @wanbot.command(name=loc("backends", zh="后端"),
                    description=loc("Health of the ComfyUI servers and what they are running",
                                    zh="ComfyUI 服务器的状态和正在生成的内容"))
    async def backends(self, interaction: discord.Interaction) -> None:
        if not await self._allowed(interaction):
            return
        lines = await self.services.reads.backends()
        await answer(interaction, embed=ui.backends_embed(lines, _guild_id(interaction), interaction.locale))

    @wanbot.command(name=loc("audit", zh="审计"),
                    description=loc("Recent admin actions", zh="最近的管理操作"))
    @app_commands.rename(count=loc("count", zh="数量"))
    @app_commands.describe(count=loc("How many entries (1-25, default 10)", zh="显示几条（1-25，默认 10）"))
    async def audit(self, interaction: discord.Interaction, count: app_commands.Range[int, 1, 25] = 10) -> None:
        if not await self._allowed(interaction):
            return
        entries = await self.services.reads.audit(_guild_id(interaction), count)
        await answer(interaction, embed=ui.audit_embed(entries, interaction.locale))
