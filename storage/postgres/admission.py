"""What admission reads and writes on PostgreSQL: rate buckets, the one-statement admission
view, and the atomic admit.

The admit is one transaction that first locks the queue-length row (`FOR UPDATE`). Every
admit of every process takes that lock first, so admits run one at a time, and each sees the
queue length and the member's active jobs as the previous admit committed them: the global
cap and the member's cap are exact. Claims and cancels only ever lower what an admit counts,
so they need not wait for it (they touch the row only through the trigger, for a moment).
The bucket is compare-and-set on its version inside the same transaction: a bucket that moved
since the caller read it rolls the whole admit back.
"""

from __future__ import annotations

import asyncpg

from storage.database import ADMISSION_VIEW, admission_view_of, cap_reached
from storage.jobs import HOT_QUERIES, INSERT_JOB, insert_params, job_record
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
_INSERT = pg(INSERT_JOB)
_BUCKET_INSERT = pg(BUCKET_INSERT)
_BUCKET_UPDATE = pg(BUCKET_UPDATE)
_COUNT_ACTIVE = pg(HOT_QUERIES["count_active"])
_LOCK_QUEUE = "SELECT queued FROM queue_length WHERE id = 1 FOR UPDATE"


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


async def admit(pool: PgPool, request: AdmitRequest, now: float) -> AdmitResult:
    job = request.job
    async with pool.transaction() as conn:
        queued = int(await conn.fetchval(_LOCK_QUEUE))
        active = int(await conn.fetchval(_COUNT_ACTIVE, job.guild_id, job.user_id))
        outcome = cap_reached(request, queued, active)
        if outcome is None and not await _put_bucket(conn, request):
            outcome = AdmitOutcome.BUCKET_MOVED
        if outcome is not None:  # nothing was written: the commit only releases the lock
            return AdmitResult(outcome, None, queued, active)
        row = await conn.fetchrow(_INSERT, *insert_params(job, now))
    return AdmitResult(AdmitOutcome.ADMITTED, job_record(row), queued, active)


async def _put_bucket(conn: asyncpg.Connection, request: AdmitRequest) -> bool:
    if request.bucket_version is None:
        status = await conn.execute(_BUCKET_INSERT, *bucket_values(request.bucket))
    else:
        status = await conn.execute(
            _BUCKET_UPDATE, *bucket_values(request.bucket), request.bucket_version
        )
    return changed_rows(status) == 1
