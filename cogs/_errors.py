"""Expected errors, turned into one ephemeral sentence in the member's language.

The one place where the errors a member can cause or meet — a refusal at admission
(`AdmissionRefused`), an invalid option (`RequestInvalid`), a clip too large for Discord
(`CannotFit`), the database briefly out of reach (`StoreUnavailable`: a restart, a dropped
connection), a Discord HTTP error with a known code, a failed app-command check — become
text. Every cog answers them the same way:

    text = describe(exc, interaction.locale)
    if text is None:
        raise                      # unexpected: let the tree's error hook log it
    await reply_error(interaction, text)

`reply_error` works in every state of an interaction: before the ack (an ephemeral reply),
after an ephemeral defer (the placeholder is edited), after a *public* defer (the "thinking…"
placeholder is deleted first, since the first followup after a defer would otherwise replace
it and stay public; `defer_public` defers so that this is known), and after a reply (an
ephemeral followup). Nothing here pings anyone. `on_app_command_error` is the tree-wide
hook for what a command lets escape: explained when expected, logged and apologised for
when not.
"""

from __future__ import annotations

import logging
import time

import discord
from discord import app_commands

from bot.delivery.fit import CannotFit
from bot.i18n import Message
from bot.jobs import StoreUnavailable
from bot.jobs.refusal import AdmissionRefused
from bot.workflows.request import RequestInvalid

__all__ = [
    "NO_MENTIONS",
    "QUEUE_UNAVAILABLE",
    "UNEXPECTED",
    "defer_public",
    "describe",
    "format_mb",
    "discord_code",
    "on_app_command_error",
    "placeholder_replaced",
    "reply_error",
    "token_is_dead",
]

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()

# `Interaction.extras` key set by `defer_public`: the placeholder is visible to everyone.
_PUBLIC_PLACEHOLDER = "wanbot_public_placeholder"

UNEXPECTED = Message(
    en="Something went wrong on our side. Please try again; if it keeps happening, tell a moderator.",
    zh="我们这边出了点问题。请重试；如果一直这样，请告诉管理员。",
)
QUEUE_UNAVAILABLE = Message(
    en="The video queue is briefly unavailable. Nothing you asked for earlier is lost; please try "
    "again in a minute.",
    zh="视频队列暂时无法使用。你之前的请求都不会丢失；请一分钟后再试。",
)
TOO_LARGE = Message(
    en="The video is {size_mb} MB, and even compressed it cannot get under this server's upload "
    "limit of {limit_mb} MB at a watchable quality. Try a shorter duration or a smaller size.",
    zh="视频有 {size_mb} MB，即使压缩也无法在保证画质的前提下低于本服务器 {limit_mb} MB 的上传上限。"
    "请缩短时长或选择更小的尺寸。",
)
NO_PERMISSION = Message(
    en="I am not allowed to post here. A moderator can give me Send Messages, Embed Links and "
    "Attach Files in this channel.",
    zh="我没有在此频道发言的权限。请管理员在此频道给我“发送消息”“嵌入链接”和“附加文件”权限。",
)
FILE_TOO_LARGE = Message(
    en="The file is over this server's upload limit.",
    zh="文件超过了本服务器的上传上限。",
)
EXPIRED = Message(
    en="This has expired. Please run the command again.",
    zh="操作已过期，请重新执行命令。",
)
MESSAGE_GONE = Message(
    en="That message no longer exists.",
    zh="该消息已不存在。",
)
CANNOT_DM = Message(
    en="I cannot send you direct messages (your privacy settings block them).",
    zh="无法给你发私信（你的隐私设置阻止了私信）。",
)
SLOW_DOWN = Message(
    en="Discord is asking me to slow down. Please try again in a few seconds.",
    zh="Discord 正在限制我的请求频率，请几秒后再试。",
)
GUILD_ONLY = Message(
    en="This command only works in a server, not in direct messages.",
    zh="此命令只能在服务器中使用，不能在私信中使用。",
)
NOT_ALLOWED = Message(
    en="You cannot use this command here.",
    zh="你不能在这里使用此命令。",
)
MISSING_PERMISSIONS = Message(
    en="You need these permissions: {permissions}.",
    zh="你需要以下权限：{permissions}。",
)

# Discord's JSON error codes we can explain to a member.
_CODES: dict[int, Message] = {
    50013: NO_PERMISSION,  # Missing Permissions
    50001: NO_PERMISSION,  # Missing Access
    40005: FILE_TOO_LARGE,  # Request entity too large
    50027: EXPIRED,  # Invalid Webhook Token: the 15-minute interaction token is dead
    10015: EXPIRED,  # Unknown Webhook
    10062: EXPIRED,  # Unknown interaction: acknowledged too late
    10008: MESSAGE_GONE,  # Unknown Message
    50007: CANNOT_DM,  # Cannot send messages to this user
}


def format_mb(size: int) -> str:
    """Bytes as megabytes (MiB, as Discord counts its limits), one decimal."""
    return f"{size / (1 << 20):.1f}"


def discord_code(exc: BaseException) -> int | None:
    """Discord's JSON error code of an HTTP error (its HTTP status when the body had none)."""
    if not isinstance(exc, discord.HTTPException):
        return None
    return exc.code or exc.status


def token_is_dead(exc: BaseException) -> bool:
    """The interaction token can no longer be used (expired after 15 minutes, or unknown):
    switch to the bot token rather than fail."""
    if not isinstance(exc, discord.HTTPException):
        return False
    return exc.code in (50027, 10015, 10062) or exc.status == 401


def describe(exc: BaseException, locale: object | None, *, now: float | None = None) -> str | None:
    """The sentence for an expected error in `locale`'s language, or None for a bug.

    `now` (epoch seconds) is when the member reads it, for "try again in …" waits."""
    if isinstance(exc, app_commands.CommandInvokeError):
        exc = exc.original
    if isinstance(exc, AdmissionRefused):
        return exc.render(locale, time.time() if now is None else now)
    if isinstance(exc, RequestInvalid):
        return exc.render(locale)
    if isinstance(exc, StoreUnavailable):
        return QUEUE_UNAVAILABLE.render(locale)
    if isinstance(exc, CannotFit):
        return TOO_LARGE.render(locale, size_mb=format_mb(exc.size), limit_mb=format_mb(exc.limit))
    if isinstance(exc, discord.HTTPException):
        if exc.status == 429:
            return SLOW_DOWN.render(locale)
        message = _CODES.get(exc.code)
        return message.render(locale) if message else None
    return _describe_check(exc, locale)


def _describe_check(exc: BaseException, locale: object | None) -> str | None:
    if isinstance(exc, app_commands.NoPrivateMessage):
        return GUILD_ONLY.render(locale)
    if isinstance(exc, app_commands.MissingPermissions):
        permissions = ", ".join(p.replace("_", " ") for p in exc.missing_permissions)
        return MISSING_PERMISSIONS.render(locale, permissions=permissions)
    if isinstance(exc, app_commands.CheckFailure):
        return NOT_ALLOWED.render(locale)
    return None


async def defer_public(interaction: discord.Interaction) -> int | None:
    """Defer with a public "thinking…" placeholder (that will become the answer), noting it:
    until `placeholder_replaced`, an error reply removes the placeholder instead of turning
    it into a public error. Returns the placeholder's message id when Discord says it."""
    callback = await interaction.response.defer(thinking=True)
    interaction.extras[_PUBLIC_PLACEHOLDER] = True
    return callback.message_id if callback is not None else None


def placeholder_replaced(interaction: discord.Interaction) -> None:
    """The public placeholder now holds the real answer: later errors go in followups."""
    interaction.extras.pop(_PUBLIC_PLACEHOLDER, None)


async def reply_error(interaction: discord.Interaction, text: str) -> bool:
    """Tell only the member `text`, whatever was already sent; False if Discord refused
    (the token died or the interaction is gone: logged, nothing else can reach them)."""
    try:
        await _reply_ephemeral(interaction, text)
    except discord.HTTPException as exc:
        log.warning("could not answer interaction with an error: %s/%s", exc.status, exc.code)
        return False
    return True


async def _reply_ephemeral(interaction: discord.Interaction, text: str) -> None:
    response = interaction.response
    if not response.is_done():
        await response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        return
    if interaction.extras.pop(_PUBLIC_PLACEHOLDER, False):
        # After a public defer the first followup would replace the placeholder and stay
        # public, so the placeholder goes first; the followup is then a message of its own.
        try:
            await interaction.delete_original_response()
        except discord.NotFound:
            pass
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        return
    if response.type is discord.InteractionResponseType.deferred_channel_message:
        # An ephemeral "thinking…" of our own: the answer takes its place.
        await interaction.edit_original_response(content=text, embed=None, view=None, allowed_mentions=NO_MENTIONS)
        return
    await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)


async def on_app_command_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
    """The command tree's error hook (`bot.tree.error(on_app_command_error)`)."""
    text = describe(error, interaction.locale)
    if text is None:
        name = interaction.command.qualified_name if interaction.command else "?"
        log.error("command /%s failed", name, exc_info=getattr(error, "original", error))
        text = UNEXPECTED.render(interaction.locale)
    await reply_error(interaction, text)
