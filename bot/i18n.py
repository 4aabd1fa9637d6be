"""Languages: every user-facing sentence exists in English and Simplified Chinese.

Each feature module declares its own sentences as `Message` constants beside the code that
uses them (so a new message cannot be added in one language only: both are required
arguments). `Message.render(locale, **values)` picks the language from a Discord locale
string ("zh-CN", "en-US", ...); anything that is not Chinese falls back to English.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Message", "Lang", "lang_of", "ALL_MESSAGES"]

Lang = str  # "en" or "zh"

ALL_MESSAGES: list["Message"] = []


def lang_of(locale: object | None) -> Lang:
    """Map a Discord locale (str or discord.Locale) to "zh" or "en"."""
    value = str(getattr(locale, "value", locale) or "").lower()
    return "zh" if value.startswith("zh") else "en"


@dataclass(frozen=True)
class Message:
    """One sentence in both languages, with `str.format` placeholders shared by both."""

    en: str
    zh: str

    def __post_init__(self) -> None:
        ALL_MESSAGES.append(self)

    def render(self, locale: object | None = None, /, **values: Any) -> str:
        template = self.zh if lang_of(locale) == "zh" else self.en
        return template.format(**values)

    def __str__(self) -> str:  # logs and CLI are English
        return self.en
