"""PostgreSQL's schema: its own versioned migrations (`migrations/NNNN_name.sql`), applied at
start under an advisory lock, so two processes starting at once never migrate together: the
second waits for the lock, then finds nothing left to do.

The applied versions are rows of `wanbot_schema`. Each migration commits with its row; a
database ahead of this code is refused (`SchemaTooNew`), never guessed at. The SQLite schema
is `storage/migrations/`; the two are kept in step by hand (see 0001_schema.sql).
"""

from __future__ import annotations

import asyncpg

from storage.errors import SchemaTooNew, StoreError
from storage.schema import Migration, load_migrations

__all__ = ["MIGRATIONS", "LATEST_VERSION", "MIGRATION_LOCK", "migrate", "schema_version"]

MIGRATIONS: tuple[Migration, ...] = load_migrations("storage.postgres")
LATEST_VERSION: int = MIGRATIONS[-1].version
# pg_advisory_lock's key for "migrating wanbot's schema" (any constant unlikely elsewhere).
MIGRATION_LOCK = 0x77616E626F74  # "wanbot"
# Another process migrating holds the lock this long at most before we give up plainly.
_LOCK_WAIT = 120.0

_VERSIONS = """
CREATE TABLE IF NOT EXISTS wanbot_schema (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""


async def schema_version(conn: asyncpg.Connection) -> int:
    exists = await conn.fetchval("SELECT to_regclass('wanbot_schema') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM wanbot_schema"))


async def migrate(conn: asyncpg.Connection) -> list[int]:
    """Bring the database up to `LATEST_VERSION` on `conn`; the versions applied (maybe none).

    Raises SchemaTooNew when the database is ahead of this code."""
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK, timeout=_LOCK_WAIT)
    except TimeoutError:
        raise StoreError(
            f"another wanbot has been migrating this database for over {_LOCK_WAIT:.0f} s"
        ) from None
    try:
        await conn.execute(_VERSIONS)
        current = await schema_version(conn)
        if current > LATEST_VERSION:
            raise SchemaTooNew(
                f"database schema v{current} is newer than this wanbot (v{LATEST_VERSION})"
            )
        applied = []
        for migration in MIGRATIONS[current:]:
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO wanbot_schema (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            applied.append(migration.version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
