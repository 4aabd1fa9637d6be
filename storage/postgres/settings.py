"""Guild settings and the queue switches on PostgreSQL (`storage/guilds.py` on SQLite). JSON
columns travel as text both ways, so the row is read by the same `settings_from_row`."""

from __future__ import annotations

from storage.guilds import SAVE_SETTINGS, SETTINGS_COLUMNS, settings_from_row, settings_values
from storage.postgres.history import insert_audit
from storage.postgres.pool import PgPool, pg
from storage.records import AuditEntry, GuildSettings, QueueControl

__all__ = ["PgGuildStore", "PgControlStore"]


_SAVE = pg(SAVE_SETTINGS)


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
            await conn.execute(_SAVE, *settings_values(settings, audit))
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
