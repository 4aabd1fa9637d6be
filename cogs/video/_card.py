"""What a status card and a delivered video say: embeds built from a job, nothing else.

Pure functions of a `JobRecord` (plus its queue place or live progress): the same job renders
the same card in any process, which is what lets a restarted bot carry on editing cards it
did not create. Member text (the prompt) is shown with markdown and mentions escaped, and cut
to fit Discord's embed limits, which count UTF-16 code units (an emoji is two). An
image-to-video job shows its start picture as the embed's thumbnail: a small JPEG attached as
`START_THUMBNAIL`, and a rendering card its live preview as the embed's image. Both are named
`attachment://<filename>`: Discord shows a file inside the embed only when the embed names it
so, and below the message as a loose file when it is named by its URL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import discord

from bot.comfy.watch import Progress
from bot.i18n import Message
from bot.jobs import JobPlace, JobRecord, JobState
from bot.jobs.refusal import format_wait
from cogs.video import _messages as text

__all__ = ["BAR_CELLS", "START_THUMBNAIL", "card_embed", "jump_url", "result_embed", "safe_text", "settings_line"]

BAR_CELLS = 12
START_THUMBNAIL = "start.jpg"  # the file name of the start picture's thumbnail on cards and results
_PROMPT_UNITS = 3500  # of the 4096 a description may hold; escaping can double the length
_RESULT_PROMPT_UNITS = 1500
_NEGATIVE_UNITS = 1000  # a field value holds 1024
_COLOURS = {
    JobState.QUEUED: discord.Colour.light_grey(),
    JobState.SUBMITTED: discord.Colour.blurple(),
    JobState.RUNNING: discord.Colour.blue(),
    JobState.FETCHED: discord.Colour.blue(),
    JobState.DELIVERED: discord.Colour.green(),
    JobState.FAILED: discord.Colour.red(),
    JobState.CANCELLED: discord.Colour.dark_grey(),
}


def _units(value: str) -> int:
    return len(value.encode("utf-16-le")) // 2


def _cut(value: str, units: int) -> str:
    """`value` shortened to at most `units` UTF-16 units, with an ellipsis when cut."""
    if _units(value) <= units:
        return value
    out: list[str] = []
    used = 0
    for char in value:
        size = 2 if ord(char) > 0xFFFF else 1
        if used + size > units - 1:
            break
        out.append(char)
        used += size
    cut = "".join(out)
    if cut.endswith("\\") and not cut.endswith("\\\\"):
        cut = cut[:-1]  # never leave half an escape: it would swallow the ellipsis
    return cut + "…"


def safe_text(value: str, units: int) -> str:
    """Member text as plain text: no markdown, no mentions, no links that ping or format."""
    escaped = discord.utils.escape_mentions(discord.utils.escape_markdown(value))
    return _cut(escaped, units)


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def settings_line(job: JobRecord, *, show_workflow: bool = False) -> str:
    params = job.params
    frames, fps = int(params.get("frames", 81)), int(params.get("fps", 16))
    line = text.SETTINGS_LINE.render(
        job.locale, width=params.get("width"), height=params.get("height"),
        seconds=_number(round((frames - 1) / fps, 1)), frames=frames, fps=fps,
        steps=params.get("steps"), cfg=_number(params.get("cfg")),
    )
    if show_workflow:
        line += "\n" + text.WORKFLOW_LINE.render(job.locale, name=job.template)
    return line


def jump_url(job: JobRecord, message_id: int) -> str:
    return f"https://discord.com/channels/{job.guild_id or '@me'}/{job.channel_id}/{message_id}"


def _when(epoch: float) -> str:
    return discord.utils.format_dt(datetime.fromtimestamp(epoch, UTC), style="R")


def _bar(fraction: float) -> str:
    filled = max(0, min(BAR_CELLS, round(fraction * BAR_CELLS)))
    return "▰" * filled + "▱" * (BAR_CELLS - filled)


def _stage(progress: Progress) -> Message:
    node_class = progress.node_class or ""
    if progress.sampling or "Sampler" in node_class:
        return text.STAGE_SAMPLING
    if "Loader" in node_class or "Load" in node_class:
        return text.STAGE_LOADING
    if "TextEncode" in node_class or "T5" in node_class:
        return text.STAGE_TEXT
    if "Decode" in node_class:
        return text.STAGE_DECODING
    if "Video" in node_class or "Save" in node_class:
        return text.STAGE_ENCODING
    return text.STAGE_WORKING


def _running(job: JobRecord, progress: Progress | None, place: JobPlace | None) -> str:
    locale = job.locale
    if progress is None:
        return text.RUNNING.render(locale, stage=text.STAGE_WORKING.render(locale))
    stage = _stage(progress).render(locale)
    if progress.max <= 0:
        line = text.RUNNING.render(locale, stage=stage)
    else:
        values = {"stage": stage, "bar": _bar(progress.fraction), "percent": round(progress.fraction * 100)}
        message = text.RUNNING_STEPS if progress.sampling else text.RUNNING_PROGRESS
        line = message.render(locale, value=progress.value, max=progress.max, **values)
    if place is not None and place.eta is not None:
        line += "\n" + text.READY_IN.render(locale, done=_when(place.eta.done_at))
    return line


def _queued(job: JobRecord, place: JobPlace | None) -> str:
    locale = job.locale
    if place is None or place.ahead is None:
        return text.QUEUED.render(locale)
    line = (text.QUEUED_NEXT.render(locale) if place.ahead == 0
            else text.QUEUED_AHEAD.render(locale, ahead=place.ahead))
    if not place.runnable:  # its ETA would be a promise no server can keep
        return line + "\n" + text.NO_SERVER.render(locale, name=job.template)
    if place.eta is not None:
        line += "\n" + text.ETA.render(locale, starts=_when(place.eta.starts_at), done=_when(place.eta.done_at))
    return line


def failure_reason(job: JobRecord) -> str:
    reason = text.FAILURE_REASONS.get(job.error_code or "")
    if reason is not None:
        return reason.render(job.locale)
    return text.FAILURE_OTHER.render(job.locale, code=job.error_code or "?")


def status_line(job: JobRecord, *, place: JobPlace | None = None, progress: Progress | None = None) -> str:
    """One or two lines on where the job stands, in the job's language."""
    locale = job.locale
    match job.state:
        case JobState.QUEUED:
            return _queued(job, place)
        case JobState.SUBMITTED:
            if progress is not None and progress.state == "queued" and progress.position:
                return text.SUBMITTED_BEHIND.render(locale, ahead=progress.position)
            if progress is not None and progress.state == "running":
                return _running(job, progress, place)
            return text.SUBMITTED.render(locale)
        case JobState.RUNNING:
            return _running(job, progress, place)
        case JobState.FETCHED:
            return text.FETCHED.render(locale)
        case JobState.DELIVERED:
            link = jump_url(job, job.result_message_id) if job.result_message_id else "✓"
            return text.DELIVERED.render(locale, link=link)
        case JobState.CANCELLED:
            by_owner = job.cancelled_by in (None, job.user_id)
            return (text.CANCELLED if by_owner else text.CANCELLED_BY_MODERATOR).render(locale)
        case JobState.FAILED:
            return text.FAILED.render(locale, reason=failure_reason(job))
    return job.state.value


def _base(job: JobRecord, prompt_units: int, thumbnail_url: str | None) -> discord.Embed:
    embed = discord.Embed(
        title=text.CARD_TITLE.render(job.locale, job_id=job.id),
        description=safe_text(str(job.params.get("prompt", "")), prompt_units),
        colour=_COLOURS.get(job.state),
        timestamp=datetime.fromtimestamp(job.created_at, UTC),
    )
    embed.set_footer(text=f"wanbot #{job.id}")
    if thumbnail_url:
        embed.set_thumbnail(url=thumbnail_url)
    return embed


def card_embed(
    job: JobRecord,
    *,
    place: JobPlace | None = None,
    progress: Progress | None = None,
    show_workflow: bool = False,
    custom_negative: bool = False,
    thumbnail_url: str | None = None,
    image_url: str | None = None,
) -> discord.Embed:
    """The status card of `job` as it stands now; `thumbnail_url` is its start picture and
    `image_url` its live preview, if any (`attachment://<name>` of a file of the message)."""
    locale = job.locale
    embed = _base(job, _PROMPT_UNITS, thumbnail_url)
    embed.add_field(name=text.FIELD_STATUS.render(locale), value=status_line(job, place=place, progress=progress),
                    inline=False)
    embed.add_field(name=text.FIELD_SETTINGS.render(locale), value=settings_line(job, show_workflow=show_workflow),
                    inline=False)
    embed.add_field(name=text.FIELD_SEED.render(locale), value=str(job.params.get("seed", "?")))
    embed.add_field(name=text.FIELD_REQUESTED.render(locale), value=f"<@{job.user_id}>")
    negative = str(job.params.get("negative_prompt") or "")
    if custom_negative and negative:
        embed.add_field(name=text.FIELD_NEGATIVE.render(locale), value=safe_text(negative, _NEGATIVE_UNITS),
                        inline=False)
    if image_url is not None:
        embed.set_image(url=image_url)
    return embed


def _duration(start: float | None, end: float | None, locale: str) -> str:
    if start is None or end is None:
        return "?"
    return format_wait(end - start, locale)


def result_embed(job: JobRecord, *, note: str | None = None, show_workflow: bool = False,
                 thumbnail_url: str | None = None) -> discord.Embed:
    """The embed under a delivered video: prompt, settings, seed, timings (and a note such as
    "compressed to fit")."""
    locale = job.locale
    embed = _base(job, _RESULT_PROMPT_UNITS, thumbnail_url)
    embed.colour = discord.Colour.green()
    started = job.running_at or job.submitted_at
    timings = text.TIMINGS.render(locale, queued=_duration(job.created_at, job.submitted_at, locale),
                                  render=_duration(started, job.fetched_at, locale))
    embed.add_field(name=text.FIELD_SETTINGS.render(locale), value=settings_line(job, show_workflow=show_workflow),
                    inline=False)
    embed.add_field(name=text.FIELD_SEED.render(locale), value=str(job.params.get("seed", "?")))
    embed.add_field(name=text.FIELD_TIMINGS.render(locale), value=timings)
    if note:
        embed.add_field(name="\u200b", value=note, inline=False)
    return embed
