"""Guild settings and the queue switches on PostgreSQL (`storage/guilds.py` on SQLite). JSON
columns travel as text both ways, so the row is read by the same `settings_from_row`."""

from __future__ import annotations

import json
from typing import Any

from storage.guilds import SETTINGS_COLUMNS, settings_from_row
from storage.postgres.history import insert_audit
from storage.postgres.pool import PgPool
from storage.records import AuditEntry, GuildSettings, QueueControl

__all__ = ["PgGuildStore", "PgControlStore"]


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


class PgGuildStore:
    """`storage.interface.GuildStore` on PostgreSQL."""

    def __init__(self, pool: PgPool) -> None:
        self._db = pool

    async def get(self, guild_id: int) -> GuildSettings:
        row = await self._db.fetchrow(
            f"SELECT {SETTINGS_COLUMNS} FROM guild_settings WHERE guild_id = $1", (guild_id,)
        )
        return settings_from_row(guild_id, row)

    async def save(self, settings: GuildSettings, audit: AuditEntry) -> None:
        """Replace the guild's settings; the audit entry (and the change notice) commit with them."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO guild_settings (guild_id, paused, allowed_channels, blocked_words, "
                "limits, role_limits, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                "ON CONFLICT (guild_id) DO UPDATE SET paused = excluded.paused, "
                "allowed_channels = excluded.allowed_channels, "
                "blocked_words = excluded.blocked_words, limits = excluded.limits, "
                "role_limits = excluded.role_limits, updated_at = excluded.updated_at, "
                "updated_by = excluded.updated_by",
                settings.guild_id,
                settings.paused,
                _dump(list(settings.allowed_channels)),
                _dump(list(settings.blocked_words)),
                _dump(settings.limits),
                _dump(settings.role_limits),
                audit.at,
                audit.actor_id,
            )
            await insert_audit(conn, audit)

    async def paused_guilds(self) -> list[int]:
        rows = await self._db.fetch("SELECT guild_id FROM guild_settings WHERE paused")
        return [int(row[0]) for row in rows]


class PgControlStore:
    """`storage.interface.ControlStore` on PostgreSQL (one row, id = 1)."""

    def __init__(self, pool: PgPool) -> None:
        self._db = pool

    async def get(self) -> QueueControl:
        row = await self._db.fetchrow(
            "SELECT draining, updated_at, updated_by FROM queue_control WHERE id = 1"
        )
        if row is None:
            return QueueControl()
        return QueueControl(draining=bool(row[0]), updated_at=row[1], updated_by=row[2])

    async def save(self, control: QueueControl, audit: AuditEntry) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE queue_control SET draining = $1, updated_at = $2, updated_by = $3 "
                "WHERE id = 1",
                control.draining,
                audit.at,
                audit.actor_id,
            )
            await insert_audit(conn, audit)
