"""Discord's paging rules for a channel's history (GET /channels/{id}/messages).

Owns ``HistoryQuery`` (the query string, checked as Discord checks it) and ``page`` (which
messages one request returns). Discord: ``limit`` is 1-100 (default 50); ``before``, ``after``
and ``around`` are mutually exclusive; ``before`` gives the newest messages older than it,
``after`` the *oldest* messages newer than it, ``around`` ``limit // 2`` messages on each side
plus the message itself (so an even limit can return ``limit + 1``); every answer is sorted
newest first. Clients depend on exactly this to page (discord.py walks ``after`` pages by
their first, newest, element), so the fake keeps it rather than returning everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .messages import StoredMessage
from .wire import DiscordApiError

__all__ = ["HistoryQuery", "page"]

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
_CURSORS = ("before", "after", "around")


def _number(query: Mapping[str, str], key: str, message: str) -> int | None:
    raw = query.get(key)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise DiscordApiError.invalid_form(key, "NUMBER_TYPE_COERCE", message.format(raw)) from None


@dataclass(frozen=True)
class HistoryQuery:
    limit: int = DEFAULT_LIMIT
    before: int | None = None
    after: int | None = None
    around: int | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> HistoryQuery:
        """The query string as Discord reads it; 400/50035 for what Discord refuses."""
        limit = _number(query, "limit", 'Value "{}" is not int.')
        if limit is not None and not 1 <= limit <= MAX_LIMIT:
            code = "NUMBER_TYPE_MIN" if limit < 1 else "NUMBER_TYPE_MAX"
            raise DiscordApiError.invalid_form("limit", code, f"Must be between 1 and {MAX_LIMIT}.")
        cursors = {key: _number(query, key, 'Value "{}" is not snowflake.') for key in _CURSORS}
        given = [key for key in _CURSORS if cursors[key] is not None]
        if len(given) > 1:
            # Documented as mutually exclusive: refuse the combination so a client relying on
            # one of them silently winning is caught here rather than in production.
            raise DiscordApiError.invalid_form(given[-1], "BASE_TYPE_INVALID",
                                               "Only one of before, after or around may be given.")
        return cls(limit if limit is not None else DEFAULT_LIMIT, **cursors)


def page(messages: list[StoredMessage], query: HistoryQuery) -> list[StoredMessage]:
    """The listable ``messages`` one request returns, newest first."""
    oldest_first = sorted(messages, key=lambda m: m.id)
    if query.around is not None:
        half = query.limit // 2
        older = [m for m in oldest_first if m.id < query.around][-half:] if half else []
        itself = [m for m in oldest_first if m.id == query.around]
        newer = [m for m in oldest_first if m.id > query.around][:half]
        chosen = older + itself + newer
    elif query.after is not None:
        chosen = [m for m in oldest_first if m.id > query.after][: query.limit]
    else:
        bound = query.before
        chosen = [m for m in oldest_first if bound is None or m.id < bound][-query.limit:]
    return chosen[::-1]
