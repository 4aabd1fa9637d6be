"""Why a request was refused and when to try again, in the member's language.

`AdmissionRefused` is the one error of the admission boundary. It carries a machine-readable
`reason`, the absolute `retry_at` (epoch seconds, or None when no time can be promised),
the `Message` to show and its values. The wait is rendered at display time from `retry_at`,
so a card edited later still says the right thing.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any

from bot.i18n import Message

__all__ = ["Refusal", "AdmissionRefused", "format_wait", "MESSAGES"]


class Refusal(StrEnum):
    RATE_LIMITED = "rate_limited"
    TOO_MANY_ACTIVE = "too_many_active"
    QUEUE_FULL = "queue_full"
    PAUSED = "paused"
    DRAINING = "draining"
    CHANNEL_NOT_ALLOWED = "channel_not_allowed"
    BLOCKED_WORD = "blocked_word"


WAIT_SECONDS = Message(en="{n} s", zh="{n} 秒")
WAIT_MINUTES = Message(en="{n} min", zh="{n} 分钟")
WAIT_HOURS = Message(en="{h} h {m} min", zh="{h} 小时 {m} 分钟")

RATE_LIMITED = Message(
    en="You have used your videos for now ({per_hour} per hour, {burst} in a row). "
    "You can make another video in {wait}.",
    zh="你暂时用完了生成次数（每小时 {per_hour} 个，最多连续 {burst} 个）。{wait}后可以再生成。",
)
RATE_LIMITED_NEVER = Message(
    en="Your limits on this server do not allow any videos. Ask a moderator if that is wrong.",
    zh="你在本服务器的额度不允许生成视频。如有误，请联系管理员。",
)
TOO_MANY_ACTIVE = Message(
    en="You already have {active} videos queued or rendering (your limit is {limit}). "
    "You can queue another when one finishes, in about {wait}.",
    zh="你已有 {active} 个视频在排队或生成中（上限 {limit} 个）。"
    "约 {wait}后有一个完成，届时可以再提交。",
)
TOO_MANY_ACTIVE_NO_ETA = Message(
    en="You already have {active} videos queued or rendering (your limit is {limit}). "
    "You can queue another when one of them finishes.",
    zh="你已有 {active} 个视频在排队或生成中（上限 {limit} 个）。等其中一个完成后可以再提交。",
)
QUEUE_FULL = Message(
    en="The queue is full ({queued} videos waiting). Please try again in about {wait}.",
    zh="队列已满（{queued} 个视频在等待）。请约 {wait}后再试。",
)
QUEUE_FULL_NO_ETA = Message(
    en="The queue is full ({queued} videos waiting). Please try again in a few minutes.",
    zh="队列已满（{queued} 个视频在等待）。请几分钟后再试。",
)
PAUSED = Message(
    en="A moderator has paused video generation on this server. Please try again later.",
    zh="管理员已暂停本服务器的视频生成，请稍后再试。",
)
DRAINING = Message(
    en="The bot is finishing the videos it has before a restart and is not taking new ones. "
    "Please try again in a few minutes.",
    zh="机器人正在完成手上的视频以便重启，暂不接受新请求。请几分钟后再试。",
)
CHANNEL_NOT_ALLOWED = Message(
    en="Videos cannot be made in this channel. Please use {channels}.",
    zh="此频道不能生成视频，请到 {channels} 使用。",
)
BLOCKED_WORD = Message(
    en="Your prompt contains a word this server does not allow: “{word}”. Please rephrase it.",
    zh="你的提示词包含本服务器不允许的词：“{word}”。请修改后再试。",
)

MESSAGES: dict[str, Message] = {
    name: value for name, value in globals().items() if isinstance(value, Message)
}


def format_wait(seconds: float, locale: object | None) -> str:
    """A wait as people say it, rounded up so we never promise too early."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return WAIT_SECONDS.render(locale, n=max(1, math.ceil(seconds)))
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return WAIT_MINUTES.render(locale, n=minutes)
    return WAIT_HOURS.render(locale, h=minutes // 60, m=minutes % 60)


class AdmissionRefused(Exception):
    """A request was not queued. `estimated`: `retry_at` comes from the ETA model (a
    forecast) rather than from a rule (the rate limit's exact refill time)."""

    def __init__(
        self,
        reason: Refusal,
        retry_at: float | None,
        message: Message,
        values: dict[str, Any] | None = None,
        *,
        estimated: bool = False,
    ) -> None:
        self.reason = reason
        self.retry_at = retry_at
        self.message = message
        self.values = dict(values or {})
        self.estimated = estimated
        # The log line: the reason and the promised time, never the member's text.
        until = "" if retry_at is None else f" until {retry_at:.0f}"
        super().__init__(f"{reason.value}{until}")

    def render(self, locale: object | None, now: float | None) -> str:
        """The sentence for the member, with the wait computed from `now`."""
        values = dict(self.values)
        if self.retry_at is not None and now is not None:
            values["wait"] = format_wait(self.retry_at - now, locale)
        values.setdefault("wait", "?")
        return self.message.render(locale, **values)
