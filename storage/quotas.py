"""Persisted token buckets, one per (guild, user): tokens and the time they were counted.

The refill arithmetic is the admission layer's (bot/jobs/ratelimit.py); the store only keeps
the numbers and offers compare-and-set on a version, which any SQL database can do, so a
consume is atomic across processes without the store knowing what a token is.
"""

from __future__ import annotations

from storage.records import RateBucket
from storage.sqlite import Connections

__all__ = ["SqliteQuotaStore"]


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
        values = (bucket.tokens, bucket.updated_at, bucket.capacity, bucket.per_second)
        if expected_version is None:
            changed = await self._db.write_changes(
                "INSERT INTO rate_buckets (guild_id, user_id, tokens, updated_at, capacity, "
                "per_second, version) VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT DO NOTHING",
                (bucket.guild_id, bucket.user_id, *values),
            )
        else:
            changed = await self._db.write_changes(
                "UPDATE rate_buckets SET tokens = ?, updated_at = ?, capacity = ?, "
                "per_second = ?, version = version + 1 "
                "WHERE guild_id = ? AND user_id = ? AND version = ?",
                (*values, bucket.guild_id, bucket.user_id, expected_version),
            )
        return changed == 1
