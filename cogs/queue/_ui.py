"""The queue feature's embeds and sentences: `/queue`, `/history`, `/cancel`'s choices.

Pure rendering: each function takes records already read (`bot.jobs.reads`) and a locale and
returns an embed or a string, so the look can change without touching the cog.
"""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.i18n import Message
from bot.jobs import JobPlace, JobRecord
from bot.jobs.reads import BackendLine, QueueSnapshot
from bot.jobs.refusal import format_wait
from cogs._job_text import (
    job_label,
    jump_url,
    params_text,
    prompt_excerpt,
    running_text,
    state_name,
)

__all__ = [
    "NO_JOB_TO_CANCEL",
    "cancel_choice_name",
    "history_embed",
    "queue_embed",
]

QUEUE_COLOR = discord.Colour.blurple()
PAUSED_COLOR = discord.Colour.orange()

QUEUE_TITLE = Message("Video queue", "视频队列")
COUNTS = Message(
    "**{queued}** waiting · **{rendering}** rendering (all servers)",
    "**{queued}** 个等待中 · **{rendering}** 个生成中（所有服务器）",
)
PAUSED = Message(
    "⏸️ A moderator has paused video generation on this server. Queued videos keep their "
    "place and start when it resumes.",
    "⏸️ 管理员已暂停本服务器的视频生成。排队的视频保留位置，恢复后继续。",
)
DRAINING = Message(
    "🚧 The bot is draining before a restart: no new videos are accepted or started; "
    "those already rendering finish.",
    "🚧 机器人正在为重启做准备：不接受也不开始新视频，正在生成的会完成。",
)
BACKENDS = Message("Servers", "生成服务器")
BACKEND_DOWN = Message("down", "离线")
BACKEND_UNUSABLE = Message("cannot run the workflow", "无法运行工作流")
BACKEND_IDLE = Message("idle", "空闲")
BACKEND_OTHER_GUILD = Message("busy (another server)", "忙碌（其他服务器）")
BACKEND_WAITING = Message("+{n} waiting on it", "另有 {n} 个在其队列中")
BACKEND_RUNS_ONLY = Message("runs only {names}", "仅可运行 {names}")
NO_SERVER = Message("⚠️ no server can run its workflow now", "⚠️ 目前没有服务器能运行其工作流")
MINE = Message("Your videos", "你的视频")
MINE_NONE = Message(
    "You have no videos in the queue. Use `/video` to make one.",
    "你没有排队中的视频。使用 `/video` 生成一个。",
)
POSITION = Message("position {position}", "第 {position} 位")
ETA = Message("done in about {wait}", "约 {wait}后完成")
ETA_OVERDUE = Message("finishing", "即将完成")

HISTORY_TITLE = Message("Your last videos", "你最近的视频")
HISTORY_NONE = Message("You have not made any videos on this server yet.", "你还没有在本服务器生成过视频。")
HISTORY_REMIX = Message(
    "✏️ Remix #N: edit that video's prompt and make it again with the same settings.",
    "✏️ 修改 #N：编辑该视频的提示词，用相同的参数重新生成。",
)
RESULT_LINK = Message("[open the video]({url})", "[查看视频]({url})")
FAILED_CODE = Message("reason: `{code}`", "原因：`{code}`")

NO_JOB_TO_CANCEL = Message(
    "You have no video queued or rendering to cancel.",
    "你没有可以取消的排队中或生成中的视频。",
)

# Discord caps: 1024 characters per field value, 100 per autocomplete choice name.
_FIELD_MAX = 1024
_CHOICE_MAX = 100


def _clip(text: str, limit: int = _FIELD_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ----------------------------------------------------------------------------- /queue


def queue_embed(snapshot: QueueSnapshot, guild_id: int, locale: object | None) -> discord.Embed:
    """The whole `/queue` answer."""
    lines = [COUNTS.render(locale, queued=snapshot.queued, rendering=snapshot.rendering)]
    if snapshot.paused:
        lines.insert(0, PAUSED.render(locale))
    if snapshot.draining:
        lines.insert(0, DRAINING.render(locale))
    color = PAUSED_COLOR if snapshot.paused or snapshot.draining else QUEUE_COLOR
    embed = discord.Embed(title=QUEUE_TITLE.render(locale), description="\n\n".join(lines), colour=color)
    backends = "\n".join(_backend_line(line, guild_id, locale) for line in snapshot.backends)
    embed.add_field(name=BACKENDS.render(locale), value=_clip(backends or "—"), inline=False)
    mine = "\n".join(_place_line(place, snapshot.now, locale) for place in snapshot.mine)
    embed.add_field(name=MINE.render(locale), value=_clip(mine or MINE_NONE.render(locale)), inline=False)
    return embed


def _backend_line(line: BackendLine, guild_id: int, locale: object | None) -> str:
    name = f"`{line.name}`"
    if not line.up:
        return f"🔴 {name} — {BACKEND_DOWN.render(locale)}"
    if not line.usable:
        return f"🟠 {name} — {BACKEND_UNUSABLE.render(locale)}"
    if line.running is None:
        status = BACKEND_IDLE.render(locale)
    elif line.running.guild_id != guild_id:
        # Backends are shared between servers: say it is busy, never what another server asked.
        status = BACKEND_OTHER_GUILD.render(locale)
    else:
        status = f"{job_label(line.running, locale, 40)} — {running_text(line, locale)}"
    if line.waiting:
        status += f" ({BACKEND_WAITING.render(locale, n=line.waiting)})"
    if line.unable and line.able is not None:  # a mixed cluster: say which workflows go here
        status += f" · {BACKEND_RUNS_ONLY.render(locale, names=', '.join(f'`{n}`' for n in line.able))}"
    return f"🟢 {name} — {status}"


def _place_line(place: JobPlace, now: float, locale: object | None) -> str:
    parts = [job_label(place.job, locale, 40), state_name(place.job.state, locale)]
    if place.ahead is not None:
        parts.append(POSITION.render(locale, position=place.ahead + 1))
    if not place.runnable:
        parts.append(NO_SERVER.render(locale))
    elif place.eta is not None:
        left = place.eta.done_at - now
        parts.append(ETA.render(locale, wait=format_wait(left, locale)) if left > 0 else ETA_OVERDUE.render(locale))
    return " · ".join(parts)


# ----------------------------------------------------------------------------- /history


def history_embed(jobs: Sequence[JobRecord], locale: object | None) -> discord.Embed:
    """`/history`: one field per job, newest first (the Remix buttons under it are explained
    in the footer)."""
    embed = discord.Embed(title=HISTORY_TITLE.render(locale), colour=QUEUE_COLOR)
    if not jobs:
        embed.description = HISTORY_NONE.render(locale)
    else:
        embed.set_footer(text=HISTORY_REMIX.render(locale))
    for job in jobs:
        name = f"#{job.id} · {state_name(job.state, locale)}"
        embed.add_field(name=name, value=_clip(_history_value(job, locale)), inline=False)
    return embed


def _history_value(job: JobRecord, locale: object | None) -> str:
    lines = [prompt_excerpt(job.params.get("prompt"), locale, 200), params_text(job.params, locale)]
    tail = [f"<t:{int(job.created_at)}:R>"]  # Discord renders it in the reader's own language
    url = jump_url(job)
    if url is not None:
        tail.append(RESULT_LINK.render(locale, url=url))
    if job.error_code:
        tail.append(FAILED_CODE.render(locale, code=job.error_code))
    lines.append(" · ".join(tail))
    return "\n".join(line for line in lines if line)


# ----------------------------------------------------------------------------- /cancel


def cancel_choice_name(job: JobRecord, locale: object | None) -> str:
    """An autocomplete entry: "#12 · ⏳ queued · a cat surfing…" (plain text: choices show no
    markdown, so nothing is escaped here)."""
    prompt = " ".join(str(job.params.get("prompt") or "").split())
    head = f"#{job.id} · {state_name(job.state, locale)}"
    room = _CHOICE_MAX - len(head) - 3
    if room > 1 and prompt:
        prompt = prompt if len(prompt) <= room else prompt[: room - 1] + "…"
        head = f"{head} · {prompt}"
    return head[:_CHOICE_MAX]
