"""`PostgresStore`: the PostgreSQL implementation of `storage.interface.Store`.

`await PostgresStore.open(dsn)` opens the pool, applies pending migrations under the advisory
lock, and starts listening for change notices, before anything else can touch it.
"""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from storage.changes import Changes, Subscriber
from storage.errors import StoreError
from storage.postgres.admission import PgQuotaStore, admission_view, admit
from storage.postgres.history import PgAuditLog, PgRunLog
from storage.postgres.jobs import PgJobStore
from storage.postgres.listener import Listener
from storage.postgres.pool import PgPool
from storage.postgres.schema import migrate
from storage.postgres.settings import PgControlStore, PgGuildStore
from storage.records import AdmissionView, AdmitRequest, AdmitResult

__all__ = ["PostgresStore"]


async def _migrated(conn: asyncpg.Connection, where: str) -> list[int]:
    try:
        return await migrate(conn)
    except asyncpg.PostgresError as exc:  # e.g. a user that may not create tables
        raise StoreError(f"cannot bring the schema at {where} up to date: {exc}") from None


class PostgresStore:
    """The store: one repository per table group, all sharing one pool."""

    def __init__(self, pool: PgPool, listener: Listener, changes: Changes) -> None:
        self.pool = pool
        self.jobs = PgJobStore(pool)
        self.quotas = PgQuotaStore(pool)
        self.guilds = PgGuildStore(pool)
        self.control = PgControlStore(pool)
        self.audit = PgAuditLog(pool)
        self.runs = PgRunLog(pool)
        self.listener = listener
        self._changes = changes
        self.migrations_applied: list[int] = []

    @classmethod
    async def open(cls, dsn: str) -> PostgresStore:
        """Raises StoreUnavailable when the server cannot be reached, StoreError when it
        refuses wanbot (password, database name), SchemaTooNew for a newer wanbot's schema."""
        pool = await PgPool.open(dsn)
        changes = Changes()
        listener = Listener(dsn, pool.where, changes)
        try:
            async with pool.connection() as conn:
                applied = await _migrated(conn, pool.where)
            await listener.start()
        except BaseException:
            await pool.close()
            raise
        store = cls(pool, listener, changes)
        store.migrations_applied = applied
        return store

    async def admission_view(self, guild_id: int, user_id: int) -> AdmissionView:
        return await admission_view(self.pool, guild_id, user_id)

    async def admit(self, request: AdmitRequest, now: float) -> AdmitResult:
        return await admit(self.pool, request, now)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        return self._changes.subscribe(subscriber)

    async def close(self) -> None:
        try:
            await self.listener.stop()
        finally:
            await self.pool.close()

    async def __aenter__(self) -> PostgresStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
