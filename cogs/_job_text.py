"""How one job is described to people, in both languages: its label, state, parameters,
progress and the link to its result.

Owns the wording shared by the queue feature (`/queue`, `/cancel`, `/history`) and the admin
views (`/wanbot backends`). Member text (the prompt) is always escaped here, after truncation,
so an embed can never render a member's markdown or mentions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import discord

from bot.comfy.watch import Progress
from bot.i18n import Message
from bot.jobs import JobRecord, JobState
from bot.jobs.reads import BackendLine

__all__ = [
    "STATE_NAMES",
    "escape_text",
    "job_label",
    "jump_url",
    "params_text",
    "progress_text",
    "running_text",
    "prompt_excerpt",
    "state_name",
]

STATE_NAMES: dict[JobState, Message] = {
    JobState.QUEUED: Message("queued", "排队中"),
    JobState.SUBMITTED: Message("starting", "即将开始"),
    JobState.RUNNING: Message("rendering", "生成中"),
    JobState.FETCHED: Message("being posted", "正在发送"),
    JobState.DELIVERED: Message("delivered", "已完成"),
    JobState.FAILED: Message("failed", "失败"),
    JobState.CANCELLED: Message("cancelled", "已取消"),
}

STATE_ICONS: dict[JobState, str] = {
    JobState.QUEUED: "⏳",
    JobState.SUBMITTED: "🚀",
    JobState.RUNNING: "🎬",
    JobState.FETCHED: "📤",
    JobState.DELIVERED: "✅",
    JobState.FAILED: "❌",
    JobState.CANCELLED: "🚫",
}

SIZE = Message("{width}×{height}", "{width}×{height}")
FRAMES = Message("{frames} frames @ {fps} fps", "{frames} 帧 @ {fps} fps")
STEPS = Message("{steps} steps", "{steps} 步")
CFG = Message("CFG {cfg}", "CFG {cfg}")
SHIFT = Message("shift {shift}", "shift {shift}")
SEED = Message("seed {seed}", "种子 {seed}")
STEP_PROGRESS = Message("step {value}/{max} ({percent}%)", "第 {value}/{max} 步（{percent}%）")
LOADING = Message("loading models", "正在加载模型")
WAITING_ON_BACKEND = Message("waiting on the server", "在服务器上等待")
# Another process of the bot follows the job: this one has no step count to show.
RENDERING_ELSEWHERE = Message("rendering (its progress is on its status card)", "生成中（进度见其状态卡）")
NO_PROMPT = Message("(no prompt)", "（无提示词）")

_SEP = " · "


def state_name(state: JobState, locale: object | None) -> str:
    """"🎬 rendering" / "🎬 生成中"."""
    return f"{STATE_ICONS[state]} {STATE_NAMES[state].render(locale)}"


def escape_text(text: str) -> str:
    """Member text made inert: no markdown, no mentions (embeds do not ping, but a rendered
    `<@id>` or `@everyone` still misleads)."""
    return discord.utils.escape_markdown(discord.utils.escape_mentions(text))


def prompt_excerpt(prompt: str | None, locale: object | None, limit: int = 80) -> str:
    """The prompt on one line, cut to `limit` characters, escaped (cut first, so an escape
    sequence is never split)."""
    text = " ".join(str(prompt or "").split())
    if not text:
        return NO_PROMPT.render(locale)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return escape_text(text)


def job_label(job: JobRecord, locale: object | None, limit: int = 60) -> str:
    """"**#12** a cat surfing…"."""
    return f"**#{job.id}** {prompt_excerpt(job.params.get('prompt'), locale, limit)}"


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def params_text(params: Mapping[str, Any], locale: object | None) -> str:
    """The render settings a member chose, the seed last (what they need to reproduce it)."""
    parts: list[str] = []
    if params.get("width") and params.get("height"):
        parts.append(SIZE.render(locale, width=params["width"], height=params["height"]))
    if params.get("frames"):
        parts.append(FRAMES.render(locale, frames=params["frames"], fps=params.get("fps", "?")))
    for key, message in (("steps", STEPS), ("cfg", CFG), ("shift", SHIFT)):
        if params.get(key) is not None:
            parts.append(message.render(locale, **{key: _number(params[key])}))
    if params.get("seed") is not None:
        parts.append(SEED.render(locale, seed=f"`{params['seed']}`"))
    return _SEP.join(parts)


def progress_text(progress: Progress | None, locale: object | None) -> str:
    """What a running prompt is doing: sampler steps once sampling, else what precedes it."""
    if progress is None or progress.state != "running":
        return WAITING_ON_BACKEND.render(locale)
    if not progress.sampling or not progress.max:
        return LOADING.render(locale)
    percent = round(100 * progress.fraction)
    return STEP_PROGRESS.render(locale, value=progress.value, max=progress.max, percent=percent)


def running_text(line: BackendLine, locale: object | None) -> str:
    """How far a backend's running job is: its steps when this process follows it; else it is
    plainly rendering (the process that follows it shows the steps on the job's card)."""
    if not line.followed_here:
        return RENDERING_ELSEWHERE.render(locale)
    return progress_text(line.progress, locale)


def jump_url(job: JobRecord) -> str | None:
    """The link to the posted video, in the channel the job was asked for."""
    if job.result_message_id is None:
        return None
    return f"https://discord.com/channels/{job.guild_id}/{job.channel_id}/{job.result_message_id}"
