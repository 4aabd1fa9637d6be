"""`Database`: the SQLite implementation of `storage.interface.Store`.

`await Database.open(path)` creates the file if needed, switches it to WAL, turns foreign
keys on and applies pending migrations before anything else can touch it.
"""

from __future__ import annotations

from pathlib import Path

from storage.audit import SqliteAuditLog
from storage.guilds import SqliteControlStore, SqliteGuildStore
from storage.jobs import SqliteJobStore
from storage.quotas import SqliteQuotaStore
from storage.runs import SqliteRunLog
from storage.schema import migrate
from storage.sqlite import Connections

__all__ = ["Database"]


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
