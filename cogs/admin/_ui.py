"""The admin feature's sentences and embeds: confirmations, limits, channels, blocked words,
backend health and the audit log, in English and Chinese.

Pure rendering over records the cog has read; nothing here touches the store. Moderator-typed
text (blocked words) is escaped like member text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import discord

from bot.comfy.capabilities import BackendReport
from bot.i18n import Message
from bot.jobs import AuditEntry, GuildSettings, Limits
from bot.jobs.limits import LIMIT_FIELDS
from bot.jobs.reads import BackendLine
from cogs._job_text import escape_text, job_label, running_text

__all__ = [
    "DRAINED",
    "DRAINING",
    "LIMITS_INVALID",
    "NOT_MODERATOR",
    "PAUSED",
    "PURGED",
    "PURGED_NONE",
    "RESUMED",
    "UNDRAINED",
    "audit_embed",
    "backends_embed",
    "channels_text",
    "limits_embed",
    "words_text",
]

ADMIN_COLOR = discord.Colour.dark_teal()

NOT_MODERATOR = Message(
    "Only moderators (Manage Server, or the bot's admin role) can use this command.",
    "只有管理员（拥有“管理服务器”权限或机器人的管理身份组）可以使用此命令。",
)
PAUSED = Message(
    "⏸️ Video generation is paused on this server. Queued videos keep their place; "
    "what is rendering finishes. `/wanbot resume` starts it again.",
    "⏸️ 已暂停本服务器的视频生成。排队的视频保留位置，正在生成的会完成。使用 `/视频管理 恢复` 重新开始。",
)
RESUMED = Message("▶️ Video generation is running again on this server.", "▶️ 本服务器的视频生成已恢复。")
DRAINING = Message(
    "🚧 Draining (all servers): no new videos are accepted or started. "
    "{rendering} still rendering or being posted.",
    "🚧 正在排空（所有服务器）：不接受也不开始新视频。仍有 {rendering} 个在生成或发送中。",
)
DRAINED = Message(
    "🚧 Draining (all servers), and nothing is rendering any more: it is safe to restart the bot.",
    "🚧 正在排空（所有服务器），且已没有正在生成的视频：现在可以安全重启机器人。",
)
UNDRAINED = Message(
    "▶️ Draining stopped: the queue accepts and starts videos again.",
    "▶️ 已停止排空：队列重新接受并开始生成视频。",
)
LIMITS_INVALID = Message("Those limits are not valid: {reason}", "这些限额无效：{reason}")
PURGED = Message(
    "🧹 Cancelled {count} videos of {user}: {jobs}.",
    "🧹 已取消 {user} 的 {count} 个视频：{jobs}。",
)
PURGED_NONE = Message("{user} has no video queued or rendering.", "{user} 没有排队中或生成中的视频。")

CHANNELS_SOME = Message("`/video` can be used in: {channels}", "`/video` 可在以下频道使用：{channels}")
CHANNELS_ALL = Message("`/video` can be used in every channel.", "`/video` 可在所有频道使用。")
WORDS_SOME = Message("Blocked words ({count}): {words}", "屏蔽词（{count} 个）：{words}")
WORDS_NONE = Message("No words are blocked on this server.", "本服务器没有屏蔽词。")

LIMITS_TITLE = Message("Limits", "限额")
LIMITS_DEFAULTS = Message("Defaults (set by the operator)", "默认值（运营者设置）")
LIMITS_GUILD = Message("This server's override", "本服务器的覆盖值")
LIMITS_ROLES = Message("Role adjustments (added on top; the largest applies)", "身份组调整（叠加在上面；取最大者）")
LIMITS_NONE = Message("none", "无")
LIMIT_NAMES: dict[str, Message] = {
    "videos_per_hour": Message("videos per hour", "每小时视频数"),
    "burst": Message("in a row", "连续上限"),
    "max_active": Message("active at once", "同时进行上限"),
    "priority": Message("priority", "优先级"),
}

BACKENDS_TITLE = Message("Generation servers", "生成服务器")
BACKEND_UP = Message("🟢 up", "🟢 在线")
BACKEND_DOWN = Message("🔴 down", "🔴 离线")
BACKEND_UNUSABLE = Message(
    "🟠 cannot run the workflow (run `wanbot check`)", "🟠 无法运行工作流（请运行 `wanbot check`）"
)
BACKEND_VERSION = Message("ComfyUI {version} · {device}", "ComfyUI {version} · {device}")
BACKEND_VRAM = Message("VRAM free: {free} of {total} GiB (at the last check)",
                       "空闲显存：{free} / {total} GiB（上次检查时）")
BACKEND_NOT_CHECKED = Message("not checked yet", "尚未检查")
BACKEND_IDLE = Message("idle", "空闲")
BACKEND_RUNNING = Message("running: {job} — {progress}", "正在生成：{job} — {progress}")
BACKEND_OTHER_GUILD = Message("running: #{job_id} (another server)", "正在生成：#{job_id}（其他服务器）")
BACKEND_WAITING = Message("{n} more waiting in its queue", "其队列中另有 {n} 个")
BACKEND_RUNS = Message("✅ runs: {names}", "✅ 可运行：{names}")
BACKEND_CANNOT_RUN = Message("⛔ cannot run `{name}`: {reason}", "⛔ 无法运行 `{name}`：{reason}")

AUDIT_TITLE = Message("Audit log", "审计日志")
AUDIT_NONE = Message("No admin actions yet.", "还没有管理操作。")
AUDIT_ACTIONS: dict[str, Message] = {
    "pause": Message("paused the queue", "暂停了队列"),
    "resume": Message("resumed the queue", "恢复了队列"),
    "drain": Message("started draining (all servers)", "开始排空（所有服务器）"),
    "undrain": Message("stopped draining (all servers)", "停止排空（所有服务器）"),
    "purge": Message("purged the videos of", "清除了以下成员的视频："),
    "cancel": Message("cancelled", "取消了"),
    "set_limits": Message("set the limits", "设置了限额"),
    "set_role_limits": Message("set the limits of", "设置了以下身份组的限额："),
    "set_channels": Message("set the video channels", "设置了视频频道"),
    "set_blocked_words": Message("set the blocked words", "设置了屏蔽词"),
}

_GIB = 1 << 30
_DESCRIPTION_MAX = 4096


def _mentions(prefix: str, ids: Iterable[int]) -> str:
    return ", ".join(f"<{prefix}{i}>" for i in ids)


# ----------------------------------------------------------------------------- rules


def channels_text(settings: GuildSettings, locale: object | None) -> str:
    if not settings.allowed_channels:
        return CHANNELS_ALL.render(locale)
    return CHANNELS_SOME.render(locale, channels=_mentions("#", settings.allowed_channels))


def words_text(settings: GuildSettings, locale: object | None) -> str:
    if not settings.blocked_words:
        return WORDS_NONE.render(locale)
    # Spoilered: a moderator opening the list should not have a wall of slurs thrown at them.
    words = ", ".join(f"||{escape_text(word)}||" for word in settings.blocked_words)
    return WORDS_SOME.render(locale, count=len(settings.blocked_words), words=words)[:2000]


def _limits_line(values: Mapping[str, Any], locale: object | None, *, signed: bool = False) -> str:
    parts = []
    for name in LIMIT_FIELDS:
        if name in values:
            value = values[name]
            shown = f"{value:+g}" if signed else f"{value:g}"
            parts.append(f"{LIMIT_NAMES[name].render(locale)} **{shown}**")
    return " · ".join(parts) or LIMITS_NONE.render(locale)


def limits_embed(defaults: Limits, settings: GuildSettings, locale: object | None) -> discord.Embed:
    """The three layers of limits, in the order `effective_limits` applies them."""
    embed = discord.Embed(title=LIMITS_TITLE.render(locale), colour=ADMIN_COLOR)
    base = {name: getattr(defaults, name) for name in LIMIT_FIELDS}
    embed.add_field(name=LIMITS_DEFAULTS.render(locale), value=_limits_line(base, locale), inline=False)
    embed.add_field(name=LIMITS_GUILD.render(locale), value=_limits_line(settings.limits, locale), inline=False)
    roles = "\n".join(f"<@&{role_id}>: {_limits_line(delta, locale, signed=True)}"
                      for role_id, delta in settings.role_limits.items())
    embed.add_field(name=LIMITS_ROLES.render(locale), value=(roles or LIMITS_NONE.render(locale))[:1024],
                    inline=False)
    return embed


# ----------------------------------------------------------------------------- backends


def backends_embed(lines: Sequence[BackendLine], guild_id: int, locale: object | None) -> discord.Embed:
    """One field per backend: health, what the last check found, what it runs now."""
    embed = discord.Embed(title=BACKENDS_TITLE.render(locale), colour=ADMIN_COLOR)
    for line in lines[:25]:  # Discord's field limit; nobody runs 25 GPUs behind one bot yet
        embed.add_field(name=line.name[:256], value=_backend_value(line, guild_id, locale)[:1024], inline=False)
    return embed


def _backend_value(line: BackendLine, guild_id: int, locale: object | None) -> str:
    status = BACKEND_UP if line.up and line.usable else BACKEND_DOWN if not line.up else BACKEND_UNUSABLE
    lines = [status.render(locale), *_report_lines(line.report, locale), *_capability_lines(line, locale)]
    if line.running is None:
        lines.append(BACKEND_IDLE.render(locale))
    elif line.running.guild_id != guild_id:
        # Backends are shared between servers: another server's prompt is not ours to show.
        lines.append(BACKEND_OTHER_GUILD.render(locale, job_id=line.running.id))
    else:
        lines.append(BACKEND_RUNNING.render(locale, job=job_label(line.running, locale, 40),
                                            progress=running_text(line, locale)))
    if line.waiting:
        lines.append(BACKEND_WAITING.render(locale, n=line.waiting))
    return "\n".join(lines)


def _capability_lines(line: BackendLine, locale: object | None) -> list[str]:
    """Which workflows it runs and, for each one it cannot, the check's (or ComfyUI's) reason."""
    if line.able is None or not line.unable:
        return []
    lines = [BACKEND_RUNS.render(locale, names=", ".join(f"`{n}`" for n in line.able))] if line.able else []
    for name, reason in line.unable.items():
        lines.append(BACKEND_CANNOT_RUN.render(locale, name=name, reason=escape_text(reason[:300])))
    return lines


def _report_lines(report: BackendReport | None, locale: object | None) -> list[str]:
    if report is None or not report.reachable:
        return [BACKEND_NOT_CHECKED.render(locale)]
    lines = [BACKEND_VERSION.render(locale, version=escape_text(report.version), device=escape_text(report.device))]
    if report.vram_total:
        lines.append(BACKEND_VRAM.render(locale, free=f"{report.vram_free / _GIB:.1f}",
                                         total=f"{report.vram_total / _GIB:.1f}"))
    return lines


# ----------------------------------------------------------------------------- audit


def audit_embed(entries: Sequence[AuditEntry], locale: object | None) -> discord.Embed:
    """Newest first: when, who, what, on what."""
    lines = [_audit_line(entry, locale) for entry in entries]
    description = "\n".join(lines) or AUDIT_NONE.render(locale)
    while len(description) > _DESCRIPTION_MAX:  # drop the oldest lines that do not fit
        lines.pop()
        description = "\n".join(lines)
    return discord.Embed(title=AUDIT_TITLE.render(locale), description=description, colour=ADMIN_COLOR)


def _audit_line(entry: AuditEntry, locale: object | None) -> str:
    action = AUDIT_ACTIONS.get(entry.action)
    parts = [f"<t:{int(entry.at)}:R>", f"<@{entry.actor_id}>",
             action.render(locale) if action else f"`{escape_text(entry.action)}`"]
    target = _target(entry.target)
    if target:
        parts.append(target)
    details = _details(entry.details)
    if details:
        parts.append(details)
    return " ".join(parts)


def _target(target: str | None) -> str:
    kind, _, value = (target or "").partition(":")
    if not value.isdigit():
        return ""  # "queue", "limits", "channels": the action already says it
    return {"user": f"<@{value}>", "role": f"<@&{value}>", "job": f"#{value}"}.get(kind, "")


def _details(details: Mapping[str, Any]) -> str:
    shown = []
    for key, value in details.items():
        if key == "channels":
            shown.append(_mentions("#", value) or "—")
        elif key == "jobs":
            shown.append(", ".join(f"#{job}" for job in value) or "—")
        elif value is not None:
            shown.append(f"`{key}={json.dumps(value, ensure_ascii=False, separators=(',', ':'))}`")
    return " ".join(shown)[:300]
