"""How the admin commands turn options into the new value of a guild setting.

Owns command semantics only: `/wanbot limits burst:3` changes burst and keeps the other
overridden fields; `/wanbot blocked-words add` takes a comma-separated list and skips words
already blocked in another spelling (same `fold`: case, width, traditional/simplified).
Validation and effect are `bot.jobs` (`check_limits_json`, `QueueAdmin`, `BlockedWords`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from bot.jobs import fold

__all__ = ["add_channel", "add_words", "merge_limits", "remove_channel", "remove_words", "split_words"]

# ASCII and full-width commas, the Chinese enumeration comma, semicolons and newlines: what
# people type between words in either language.
_WORD_SEPARATORS = re.compile(r"[,，、;；\n]+")


def merge_limits(current: Mapping[str, Any], given: Mapping[str, Any | None]) -> dict[str, Any]:
    """The override (or role delta) with the given fields replaced; None means "not given"."""
    return {**current, **{name: value for name, value in given.items() if value is not None}}


def split_words(text: str) -> list[str]:
    return [word.strip() for word in _WORD_SEPARATORS.split(text) if word.strip()]


def add_words(current: Iterable[str], text: str) -> list[str]:
    words = list(current)
    seen = {fold(word) for word in words}
    for word in split_words(text):
        if fold(word) not in seen:
            seen.add(fold(word))
            words.append(word)
    return words


def remove_words(current: Iterable[str], text: str) -> list[str]:
    """Without the given words, in any spelling that folds the same."""
    gone = {fold(word) for word in split_words(text)}
    return [word for word in current if fold(word) not in gone]


def add_channel(current: Iterable[int], channel_id: int) -> list[int]:
    return list(dict.fromkeys([*current, channel_id]))


def remove_channel(current: Iterable[int], channel_id: int) -> list[int]:
    return [channel for channel in current if channel != channel_id]
