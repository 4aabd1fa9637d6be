"""Moving a community from its SQLite file to PostgreSQL (`wanbot db migrate`): every table,
ids as they were, in one PostgreSQL transaction, then the row counts compared table by table.

Jobs keep their ids (buttons and status cards carry them), prompt_ids and params; the id
sequences are set past the highest id SQLite ever handed out (`sqlite_sequence` remembers ids
of deleted rows too), so no id is ever reused. The queue length is recounted from the jobs.
A target that already holds wanbot data is refused unless `replace` is given, and then it is
emptied in the same transaction as the copy. The bot must not be running on either side.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from storage.database import Database
from storage.postgres import PostgresStore
from storage.records import JobRecord

__all__ = ["TableCount", "TargetNotEmpty", "copy_sqlite_to_postgres", "count_tables"]


@dataclass(frozen=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    booleans: tuple[str, ...] = ()
    sequence: bool = False  # an identity id to set past the copied ids


_TABLES = (
    _Table("jobs", tuple(f.name for f in fields(JobRecord)), sequence=True),
    _Table("fair_clock", ("priority_class", "round")),
    _Table("rate_buckets", ("guild_id", "user_id", "tokens", "updated_at", "capacity", "per_second", "version")),
    _Table("guild_settings", ("guild_id", "paused", "allowed_channels", "blocked_words", "limits",
                              "role_limits", "updated_at", "updated_by"), booleans=("paused",)),
    _Table("audit_log", ("id", "at", "guild_id", "actor_id", "action", "target", "details"), sequence=True),
    _Table("run_stats", ("id", "backend", "cost", "seconds", "finished_at", "job_id"), sequence=True),
)
# One row each, made by the migrations: updated in place, not copied.
_CONTROL = ("queue_control", ("draining", "updated_at", "updated_by"))
COUNTED = (*(table.name for table in _TABLES), _CONTROL[0])


class TargetNotEmpty(Exception):
    """The PostgreSQL database already holds wanbot data (`tables`: those with rows)."""

    def __init__(self, tables: list[str]) -> None:
        super().__init__(f"the target already holds data in {', '.join(tables)}")
        self.tables = tables


@dataclass(frozen=True)
class TableCount:
    table: str
    source: int
    target: int

    @property
    def matches(self) -> bool:
        return self.source == self.target


async def copy_sqlite_to_postgres(source: Database, target: PostgresStore, *, replace: bool = False) -> None:
    """Copy every row of `source` into `target` (both opened, so both migrated)."""
    async with target.pool.transaction() as conn:
        full = [t.name for t in _TABLES if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {t.name})")]
        if full and not replace:
            raise TargetNotEmpty(full)
        if full:
            await conn.execute(f"TRUNCATE {', '.join(t.name for t in _TABLES)} RESTART IDENTITY CASCADE")
        for table in _TABLES:
            rows = await source.connections.read(f"SELECT {', '.join(table.columns)} FROM {table.name}")
            flags = [table.columns.index(column) for column in table.booleans]
            records = [tuple(bool(v) if i in flags else v for i, v in enumerate(row)) for row in rows]
            await conn.copy_records_to_table(table.name, records=records, columns=table.columns)
            if table.sequence:
                highest = await _highest_id(source, table.name)
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), $1, $2)",
                    max(highest, 1), highest > 0,
                )
        name, columns = _CONTROL
        control = await source.connections.read_one(f"SELECT {', '.join(columns)} FROM {name} WHERE id = 1")
        if control is not None:
            await conn.execute(f"UPDATE {name} SET draining = $1, updated_at = $2, updated_by = $3 WHERE id = 1",
                               bool(control[0]), control[1], control[2])
        await conn.execute("UPDATE queue_length SET queued = "
                           "(SELECT count(*) FROM jobs WHERE state = 'queued') WHERE id = 1")


async def count_tables(source: Database, target: PostgresStore) -> list[TableCount]:
    """Rows per table on each side, in copy order."""
    counts = []
    for name in COUNTED:
        here = await source.connections.read_one(f"SELECT count(*) FROM {name}")
        there = await target.pool.fetchrow(f"SELECT count(*) FROM {name}")
        counts.append(TableCount(name, int(here[0]) if here else 0, int(there[0]) if there else 0))
    return counts


async def _highest_id(source: Database, table: str) -> int:
    """The highest id SQLite has handed out in `table`, deleted rows included."""
    row = await source.connections.read_one(
        f"SELECT max(coalesce((SELECT max(id) FROM {table}), 0), "
        f"coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?), 0))",
        (table,),
    )
    return int(row[0]) if row else 0
