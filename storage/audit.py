"""The audit log of admin actions: who did what, to whom, when.

Admin actions that change state (settings, pause, drain, purge, cancelling someone else's
job) write their entry in the same transaction as the change, through `insert_audit`, so the
log never claims an action that did not happen nor misses one that did.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import aiosqlite

from storage.records import AuditEntry
from storage.sqlite import Connections

__all__ = ["SqliteAuditLog", "insert_audit", "audit_entry", "audit_values", "AUDIT_COLUMNS", "INSERT_AUDIT"]

AUDIT_COLUMNS = _COLUMNS = "id, at, guild_id, actor_id, action, target, details"


INSERT_AUDIT = (
    "INSERT INTO audit_log (at, guild_id, actor_id, action, target, details) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


def audit_values(entry: AuditEntry) -> tuple[Any, ...]:
    """The values of `INSERT_AUDIT`."""
    details = json.dumps(entry.details, ensure_ascii=False, sort_keys=True)
    return (entry.at, entry.guild_id, entry.actor_id, entry.action, entry.target, details)


async def insert_audit(conn: aiosqlite.Connection, entry: AuditEntry) -> int:
    """Write `entry` on `conn`, inside whatever transaction the caller holds."""
    cursor = await conn.execute(INSERT_AUDIT, audit_values(entry))
    row_id = cursor.lastrowid
    await cursor.close()
    return int(row_id or 0)


def audit_entry(row: Sequence[Any]) -> AuditEntry:
    """An entry from a row of `AUDIT_COLUMNS` (both engines)."""
    return AuditEntry(
        id=row[0],
        at=row[1],
        guild_id=row[2],
        actor_id=row[3],
        action=row[4],
        target=row[5],
        details=json.loads(row[6]),
    )


class SqliteAuditLog:
    """`storage.interface.AuditLog` on SQLite."""

    def __init__(self, conns: Connections) -> None:
        self._db = conns

    async def record(self, entry: AuditEntry) -> int:
        async with self._db.transaction() as conn:
            return await insert_audit(conn, entry)

    async def recent(self, guild_id: int | None, limit: int = 50) -> list[AuditEntry]:
        """Newest first; `guild_id=None` lists queue-wide actions (drain, resume)."""
        where = "guild_id IS ?" if guild_id is None else "guild_id = ?"
        rows = await self._db.read(
            f"SELECT {_COLUMNS} FROM audit_log WHERE {where} ORDER BY id DESC LIMIT ?",
            (guild_id, limit),
        )
        return [audit_entry(row) for row in rows]
