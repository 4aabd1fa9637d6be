"""`Database`: the SQLite implementation of `storage.interface.Store`.

`await Database.open(path)` creates the file if needed, switches it to WAL, turns foreign
keys on and applies pending migrations before anything else can touch it.

`admit` is one IMMEDIATE transaction: SQLite lets one writer in at a time across every process
on the file, so the caps it checks are exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from storage.audit import SqliteAuditLog
from storage.changes import Subscriber, job_change
from storage.guilds import SETTINGS_COLUMNS, SqliteControlStore, SqliteGuildStore, settings_from_row
from storage.jobs import ACTIVE_IN, INSERT_JOB, SqliteJobStore, insert_params, job_record
from storage.quotas import BUCKET_INSERT, BUCKET_UPDATE, SqliteQuotaStore, bucket_values
from storage.records import (
    AdmissionView,
    AdmitOutcome,
    AdmitRequest,
    AdmitResult,
    JobState,
    RateBucket,
)
from storage.runs import SqliteRunLog
from storage.schema import migrate
from storage.sqlite import Connections

__all__ = ["Database", "ADMISSION_VIEW", "admission_view_of", "cap_reached"]

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


# ?1 = guild_id, ?2 = user_id: what the caps of an admit are checked against.
_ADMIT_COUNTS = (
    "SELECT (SELECT queued FROM queue_length WHERE id = 1), "
    f"(SELECT count(*) FROM jobs WHERE guild_id = ?1 AND user_id = ?2 AND state IN ({ACTIVE_IN}))"
)


def admission_view_of(guild_id: int, user_id: int, row: Sequence[Any]) -> AdmissionView:
    """The view from the row of `ADMISSION_VIEW` (both engines)."""
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


def cap_reached(request: AdmitRequest, queued: int, active: int) -> AdmitOutcome | None:
    """The cap an admit would break, if any (both engines decide the same way)."""
    if queued >= request.max_queued:
        return AdmitOutcome.QUEUE_FULL
    if active >= request.max_active:
        return AdmitOutcome.TOO_MANY_ACTIVE
    return None


async def _put_bucket(conn: aiosqlite.Connection, request: AdmitRequest) -> bool:
    if request.bucket_version is None:
        cursor = await conn.execute(BUCKET_INSERT, bucket_values(request.bucket))
    else:
        cursor = await conn.execute(
            BUCKET_UPDATE, (*bucket_values(request.bucket), request.bucket_version)
        )
    changed = cursor.rowcount
    await cursor.close()
    return changed == 1


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
        return admission_view_of(guild_id, user_id, row)

    async def admit(self, request: AdmitRequest, now: float) -> AdmitResult:
        job = request.job
        async with self._conns.transaction() as conn:
            rows = await conn.execute_fetchall(_ADMIT_COUNTS, (job.guild_id, job.user_id))
            queued, active = (int(value) for value in next(iter(rows)))
            outcome = cap_reached(request, queued, active)
            if outcome is not None:
                return AdmitResult(outcome, None, queued, active)
            if not await _put_bucket(conn, request):
                return AdmitResult(AdmitOutcome.BUCKET_MOVED, None, queued, active)
            created = job_record(next(iter(await conn.execute_fetchall(INSERT_JOB, insert_params(job, now)))))
        self._conns.committed(job_change(created.id, created.guild_id, None, JobState.QUEUED))
        return AdmitResult(AdmitOutcome.ADMITTED, created, queued, active)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        return self._conns.changes.subscribe(subscriber)

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
