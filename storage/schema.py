"""The schema and its versioned migrations (`migrations/NNNN_name.sql`), applied at start-up.

The schema version is SQLite's `PRAGMA user_version`. Each pending migration runs in its own
IMMEDIATE transaction together with the version bump, and the version is re-read inside that
transaction, so two processes starting on the same file cannot both apply one migration.
Migrations only ever move forward; a file newer than this code is refused rather than
guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from storage.errors import SchemaTooNew
from storage.sqlite import Connections, split_statements

__all__ = [
    "Migration",
    "SchemaTooNew",
    "MIGRATIONS",
    "LATEST_VERSION",
    "load_migrations",
    "migrate",
    "schema_version",
]

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(package: str) -> tuple[Migration, ...]:
    """The `migrations/NNNN_name.sql` files of `package`, in order, checked for gaps."""
    found = []
    for entry in resources.files(package).joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    expected = list(range(1, len(found) + 1))
    if [m.version for m in found] != expected:
        raise RuntimeError(f"migrations must be numbered 1..n without gaps: {found!r}")
    return tuple(found)


# The SQLite schema. PostgreSQL's is `storage/postgres/migrations/`: keep the two in step.
MIGRATIONS: tuple[Migration, ...] = load_migrations("storage")
LATEST_VERSION: int = MIGRATIONS[-1].version


async def schema_version(conns: Connections) -> int:
    rows = await conns.writer.execute_fetchall("PRAGMA user_version")
    return int(next(iter(rows))[0])


async def migrate(conns: Connections) -> list[int]:
    """Bring the file up to `LATEST_VERSION`; returns the versions applied (maybe none).

    Raises SchemaTooNew when the file is ahead of this code."""
    applied: list[int] = []
    for migration in MIGRATIONS:
        async with conns.transaction() as conn:
            current = await schema_version(conns)
            if current > LATEST_VERSION:
                raise SchemaTooNew(
                    f"database schema v{current} is newer than this wanbot (v{LATEST_VERSION})"
                )
            if current >= migration.version:
                continue
            for statement in split_statements(migration.sql):
                await conn.execute(statement)
            # PRAGMA cannot take a bound parameter; the version is our own integer.
            await conn.execute(f"PRAGMA user_version = {migration.version:d}")
            applied.append(migration.version)
    return applied
