"""The audit log and the run times on PostgreSQL (`storage/audit.py`, `storage/runs.py` on
SQLite): append-only records read newest first."""

from __future__ import annotations

import asyncpg

from storage.audit import AUDIT_COLUMNS, INSERT_AUDIT, audit_entry, audit_values
from storage.postgres.pool import PgPool, pg
from storage.records import AuditEntry, RunSample
from storage.runs import KEEP_PER_BACKEND

__all__ = ["PgAuditLog", "PgRunLog", "insert_audit"]

_INSERT_AUDIT = pg(INSERT_AUDIT) + " RETURNING id"



async def insert_audit(conn: asyncpg.Connection, entry: AuditEntry) -> int:
    """Write `entry` on `conn`, inside whatever transaction the caller holds."""
    return int(await conn.fetchval(_INSERT_AUDIT, *audit_values(entry)))


class PgAuditLog:
    """`storage.interface.AuditLog` on PostgreSQL."""

    def __init__(self, pool: PgPool) -> None:
        self._db = pool

    async def record(self, entry: AuditEntry) -> int:
        async with self._db.connection() as conn:
            return await insert_audit(conn, entry)

    async def recent(self, guild_id: int | None, limit: int = 50) -> list[AuditEntry]:
        """Newest first; `guild_id=None` lists queue-wide actions (drain, resume)."""
        rows = await self._db.fetch(
            f"SELECT {AUDIT_COLUMNS} FROM audit_log WHERE guild_id IS NOT DISTINCT FROM $1 "
            "ORDER BY id DESC LIMIT $2",
            (guild_id, limit),
        )
        return [audit_entry(row) for row in rows]


class PgRunLog:
    """`storage.interface.RunLog` on PostgreSQL."""

    def __init__(self, pool: PgPool) -> None:
        self._db = pool

    async def record(self, sample: RunSample) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO run_stats (backend, cost, seconds, finished_at, job_id) "
                "VALUES ($1, $2, $3, $4, $5)",
                sample.backend,
                sample.cost,
                sample.seconds,
                sample.finished_at,
                sample.job_id,
            )
            await conn.execute(
                "DELETE FROM run_stats WHERE backend = $1 AND id <= ("
                "SELECT id FROM run_stats WHERE backend = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
                sample.backend,
                KEEP_PER_BACKEND,
            )

    async def recent(self, backend: str, limit: int) -> list[RunSample]:
        """Newest first."""
        rows = await self._db.fetch(
            "SELECT backend, cost, seconds, finished_at, job_id FROM run_stats "
            "WHERE backend = $1 ORDER BY id DESC LIMIT $2",
            (backend, limit),
        )
        return [RunSample(*row) for row in rows]
