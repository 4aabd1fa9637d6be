"""`Database`: the SQLite implementation of `storage.interface.Store`.

`await Database.open(path)` creates the file if needed, switches it to WAL, turns foreign
keys on and applies pending migrations before anything else can touch it.
"""

from __future__ import annotations

from pathlib import Path

from storage.audit import SqliteAuditLog
from storage.guilds import SETTINGS_COLUMNS, SqliteControlStore, SqliteGuildStore, settings_from_row
from storage.jobs import ACTIVE_IN, SqliteJobStore
from storage.quotas import SqliteQuotaStore
from storage.records import AdmissionView, RateBucket
from storage.runs import SqliteRunLog
from storage.schema import migrate
from storage.sqlite import Connections

__all__ = ["Database", "ADMISSION_VIEW"]

# ?1 = guild_id, ?2 = user_id. The LEFT JOINs hang optional rows off a one-row anchor.
ADMISSION_VIEW = (
    "SELECT (SELECT draining FROM queue_control WHERE id = 1), "
    "(SELECT queued FROM queue_length WHERE id = 1), "
    "(SELECT count(*) FROM jobs WHERE guild_id = ?1 AND user_id = ?2 "
    f"AND state IN ({ACTIVE_IN})), "
    "b.tokens, b.updated_at, b.capacity, b.per_second, b.version, "
    + ", ".join(f"g.{column.strip()}" for column in SETTINGS_COLUMNS.split(","))
    + " FROM (SELECT 1) AS anchor "
    "LEFT JOIN guild_settings AS g ON g.guild_id = ?1 "
    "LEFT JOIN rate_buckets AS b ON b.guild_id = ?1 AND b.user_id = ?2"
)


class Database:
    """The store: one repository per table group, all sharing two connections."""

    def __init__(self, conns: Connections, path: str) -> None:
        self.path = path
        self._conns = conns
        self.jobs = SqliteJobStore(conns)
        self.quotas = SqliteQuotaStore(conns)
        self.guilds = SqliteGuildStore(conns)
        self.control = SqliteControlStore(conns)
        self.audit = SqliteAuditLog(conns)
        self.runs = SqliteRunLog(conns)
        self.migrations_applied: list[int] = []

    @classmethod
    async def open(cls, path: str | Path) -> Database:
        """Open (or create) the database at `path` and bring its schema up to date.

        Raises storage.schema.SchemaTooNew if the file comes from a newer wanbot."""
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conns = await Connections.open(path)
        try:
            applied = await migrate(conns)
        except BaseException:
            await conns.close()
            raise
        database = cls(conns, str(path))
        database.migrations_applied = applied
        return database

    async def admission_view(self, guild_id: int, user_id: int) -> AdmissionView:
        row = await self._conns.read_one(ADMISSION_VIEW, (guild_id, user_id))
        assert row is not None  # the anchor always yields one row
        bucket = None
        if row[3] is not None:
            bucket = RateBucket(guild_id, user_id, row[3], row[4], row[5], row[6], row[7])
        return AdmissionView(
            settings=settings_from_row(guild_id, row[8:]),
            draining=bool(row[0]),
            queued=int(row[1]),
            active=int(row[2]),
            bucket=bucket,
        )

    @property
    def connections(self) -> Connections:
        """For tests and maintenance tools; application code goes through the repositories."""
        return self._conns

    async def close(self) -> None:
        await self._conns.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
