"""What admission reads and writes on PostgreSQL: rate buckets, the one-statement admission
view, and the atomic admit.

The admit is one transaction in three steps, each holding what the next relies on:
1. compare-and-set the member's bucket on its version. A bucket that moved since the caller
   read it ends the admit (BUCKET_MOVED); a successful write locks the member's bucket row
   until commit, so no other admit of this member, in any process, runs past this step
   meanwhile (the first request of a member inserts the row: a concurrent insert waits for it
   and then finds it there);
2. count the member's active jobs: exact, under that lock;
3. lock the queue-length row (`FOR UPDATE`) and insert the job only if the queue is below the
   cap, in one statement. Every admit takes this lock, so the global cap is exact; it is held
   for one round trip and the commit (the WAL flush), which bounds admissions per second on
   one database to about one per commit, plenty for a Discord queue.
A refusal at step 2 or 3 rolls back the bucket write. Claims and cancels only ever lower what
an admit counts; they touch the queue-length row only through the trigger, for a moment.
"""

from __future__ import annotations

import asyncpg

from storage.database import ADMISSION_VIEW, admission_view_of
from storage.jobs import COLUMN_LIST, HOT_QUERIES, insert_params, job_record
from storage.postgres.pool import PgPool, changed_rows, pg
from storage.quotas import BUCKET_INSERT, BUCKET_UPDATE, bucket_values
from storage.records import (
    AdmissionView,
    AdmitOutcome,
    AdmitRequest,
    AdmitResult,
    RateBucket,
)

__all__ = ["PgQuotaStore", "admission_view", "admit"]

_VIEW = pg(ADMISSION_VIEW)
_BUCKET_INSERT = pg(BUCKET_INSERT)
_BUCKET_UPDATE = pg(BUCKET_UPDATE)
_COUNT_ACTIVE = pg(HOT_QUERIES["count_active"])
_QUEUED = "SELECT queued FROM queue_length WHERE id = 1"
# $1..$12 the job (INSERT_JOB's values), $13 the cap. Returns the job and the queue length
# before it, or no row when the queue is full.
_INSERT_UNDER_CAP = (
    "WITH q AS (SELECT queued FROM queue_length WHERE id = 1 FOR UPDATE) "
    "INSERT INTO jobs (guild_id, channel_id, user_id, locale, template, params, cost, "
    "priority_class, round, state, attempts, created_at, updated_at, queued_at) "
    "SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, 'queued', 0, $10, $11, $12 FROM q "
    f"WHERE q.queued < $13 RETURNING {COLUMN_LIST}, (SELECT queued - 1 FROM queue_length)"
)


class PgQuotaStore:
    """`storage.interface.QuotaStore` on PostgreSQL."""

    def __init__(self, pool: PgPool) -> None:
        self._db = pool

    async def get(self, guild_id: int, user_id: int) -> RateBucket | None:
        row = await self._db.fetchrow(
            "SELECT tokens, updated_at, capacity, per_second, version FROM rate_buckets "
            "WHERE guild_id = $1 AND user_id = $2",
            (guild_id, user_id),
        )
        if row is None:
            return None
        return RateBucket(guild_id, user_id, *row)

    async def put(self, bucket: RateBucket, expected_version: int | None) -> bool:
        if expected_version is None:
            return await self._db.execute(_BUCKET_INSERT, bucket_values(bucket)) == 1
        return await self._db.execute(_BUCKET_UPDATE, (*bucket_values(bucket), expected_version)) == 1


async def admission_view(pool: PgPool, guild_id: int, user_id: int) -> AdmissionView:
    row = await pool.fetchrow(_VIEW, (guild_id, user_id))
    assert row is not None  # the anchor always yields one row
    return admission_view_of(guild_id, user_id, row)


class _Refused(Exception):
    """Rolls the admit's transaction back with the outcome to report."""

    def __init__(self, result: AdmitResult) -> None:
        super().__init__(result.outcome.value)
        self.result = result


async def admit(pool: PgPool, request: AdmitRequest, now: float) -> AdmitResult:
    job = request.job
    try:
        async with pool.transaction() as conn:
            if not await _put_bucket(conn, request):
                return AdmitResult(AdmitOutcome.BUCKET_MOVED, None, 0, 0)  # nothing was written
            active = int(await conn.fetchval(_COUNT_ACTIVE, job.guild_id, job.user_id))
            if active >= request.max_active:
                raise _Refused(AdmitResult(AdmitOutcome.TOO_MANY_ACTIVE, None, 0, active))
            row = await conn.fetchrow(_INSERT_UNDER_CAP, *insert_params(job, now), request.max_queued)
            if row is None:
                queued = int(await conn.fetchval(_QUEUED))
                raise _Refused(AdmitResult(AdmitOutcome.QUEUE_FULL, None, queued, active))
    except _Refused as refused:
        return refused.result
    return AdmitResult(AdmitOutcome.ADMITTED, job_record(row[:-1]), int(row[-1]), active)


async def _put_bucket(conn: asyncpg.Connection, request: AdmitRequest) -> bool:
    if request.bucket_version is None:
        status = await conn.execute(_BUCKET_INSERT, *bucket_values(request.bucket))
    else:
        status = await conn.execute(
            _BUCKET_UPDATE, *bucket_values(request.bucket), request.bucket_version
        )
    return changed_rows(status) == 1
