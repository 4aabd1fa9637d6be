"""Guild settings (limits, allowed channels, blocked words, paused) and queue-wide switches.

Limits are stored as JSON objects exactly as the admission layer wrote them; validating
and applying them is that layer's job (bot/jobs/limits.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from storage.audit import insert_audit
from storage.changes import Change, ChangeKind
from storage.records import AuditEntry, GuildSettings, QueueControl
from storage.sqlite import Connections

__all__ = [
    "SqliteGuildStore",
    "SqliteControlStore",
    "SETTINGS_COLUMNS",
    "SAVE_SETTINGS",
    "settings_from_row",
    "settings_values",
]

SETTINGS_COLUMNS = (
    "paused, allowed_channels, blocked_words, limits, role_limits, updated_at, updated_by"
)


def settings_from_row(guild_id: int, row: Sequence[Any] | None) -> GuildSettings:
    """Settings from the SETTINGS_COLUMNS of a row; defaults when the guild has no row."""
    if row is None or row[0] is None:
        return GuildSettings(guild_id=guild_id)
    return GuildSettings(
        guild_id=guild_id,
        paused=bool(row[0]),
        allowed_channels=tuple(int(c) for c in json.loads(row[1])),
        blocked_words=tuple(str(w) for w in json.loads(row[2])),
        limits=json.loads(row[3]),
        role_limits=json.loads(row[4]),
        updated_at=row[5],
        updated_by=row[6],
    )


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


# Insert or replace a guild's settings; values: `settings_values`.
SAVE_SETTINGS = (
    "INSERT INTO guild_settings (guild_id, paused, allowed_channels, blocked_words, "
    "limits, role_limits, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (guild_id) DO UPDATE SET paused = excluded.paused, "
    "allowed_channels = excluded.allowed_channels, "
    "blocked_words = excluded.blocked_words, limits = excluded.limits, "
    "role_limits = excluded.role_limits, updated_at = excluded.updated_at, "
    "updated_by = excluded.updated_by"
)


def settings_values(settings: GuildSettings, audit: AuditEntry) -> tuple[Any, ...]:
    """The values of `SAVE_SETTINGS` (`paused` as a bool: SQLite stores it as 0/1)."""
    return (
        settings.guild_id,
        settings.paused,
        _dump(list(settings.allowed_channels)),
        _dump(list(settings.blocked_words)),
        _dump(settings.limits),
        _dump(settings.role_limits),
        audit.at,
        audit.actor_id,
    )


class SqliteGuildStore:
    """`storage.interface.GuildStore` on SQLite."""

    def __init__(self, conns: Connections) -> None:
        self._db = conns

    async def get(self, guild_id: int) -> GuildSettings:
        row = await self._db.read_one(
            f"SELECT {SETTINGS_COLUMNS} FROM guild_settings WHERE guild_id = ?", (guild_id,)
        )
        return settings_from_row(guild_id, row)

    async def save(self, settings: GuildSettings, audit: AuditEntry) -> None:
        """Replace the guild's settings; the audit entry commits with them."""
        async with self._db.transaction() as conn:
            await conn.execute(SAVE_SETTINGS, settings_values(settings, audit))
            await insert_audit(conn, audit)
        self._db.committed(Change(ChangeKind.SETTINGS, settings.guild_id))

    async def paused_guilds(self) -> list[int]:
        rows = await self._db.read("SELECT guild_id FROM guild_settings WHERE paused = 1")
        return [int(row[0]) for row in rows]


class SqliteControlStore:
    """`storage.interface.ControlStore` on SQLite (one row, id = 1)."""

    def __init__(self, conns: Connections) -> None:
        self._db = conns

    async def get(self) -> QueueControl:
        row = await self._db.read_one(
            "SELECT draining, updated_at, updated_by FROM queue_control WHERE id = 1"
        )
        if row is None:
            return QueueControl()
        return QueueControl(draining=bool(row[0]), updated_at=row[1], updated_by=row[2])

    async def save(self, control: QueueControl, audit: AuditEntry) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE queue_control SET draining = ?, updated_at = ?, updated_by = ? "
                "WHERE id = 1",
                (int(control.draining), audit.at, audit.actor_id),
            )
            await insert_audit(conn, audit)
        self._db.committed(Change(ChangeKind.CONTROL))
