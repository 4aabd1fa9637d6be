"""Persisted token buckets, one per (guild, user): tokens and the time they were counted.

The refill arithmetic is the admission layer's (bot/jobs/ratelimit.py); the store only keeps
the numbers and offers compare-and-set on a version, which any SQL database can do, so a
consume is atomic across processes without the store knowing what a token is.
"""

from __future__ import annotations

from storage.records import RateBucket
from storage.sqlite import Connections

__all__ = ["SqliteQuotaStore", "BUCKET_INSERT", "BUCKET_UPDATE", "bucket_values"]

# The compare-and-set, both ways; values: `bucket_values(bucket)` (+ the expected version).
BUCKET_INSERT = (
    "INSERT INTO rate_buckets (guild_id, user_id, tokens, updated_at, capacity, "
    "per_second, version) VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT DO NOTHING"
)
BUCKET_UPDATE = (
    "UPDATE rate_buckets SET tokens = ?3, updated_at = ?4, capacity = ?5, "
    "per_second = ?6, version = version + 1 "
    "WHERE guild_id = ?1 AND user_id = ?2 AND version = ?7"
)


def bucket_values(bucket: RateBucket) -> tuple[int, int, float, float, float, float]:
    return (bucket.guild_id, bucket.user_id, bucket.tokens, bucket.updated_at,
            bucket.capacity, bucket.per_second)


class SqliteQuotaStore:
    """`storage.interface.QuotaStore` on SQLite."""

    def __init__(self, conns: Connections) -> None:
        self._db = conns

    async def get(self, guild_id: int, user_id: int) -> RateBucket | None:
        row = await self._db.read_one(
            "SELECT tokens, updated_at, capacity, per_second, version FROM rate_buckets "
            "WHERE guild_id = ? AND user_id = ?",
            (guild_id, user_id),
        )
        if row is None:
            return None
        return RateBucket(guild_id, user_id, row[0], row[1], row[2], row[3], row[4])

    async def put(self, bucket: RateBucket, expected_version: int | None) -> bool:
        if expected_version is None:
            changed = await self._db.write_changes(BUCKET_INSERT, bucket_values(bucket))
        else:
            changed = await self._db.write_changes(
                BUCKET_UPDATE, (*bucket_values(bucket), expected_version)
            )
        return changed == 1
