"""Per-user rate limit: a token bucket per (guild, user), persisted so a restart forgets nothing.

A bucket holds at most `burst` tokens and refills at `videos_per_hour / 3600` tokens per
second; each video takes one. Only (tokens, updated_at) are stored; the refill is computed
when the bucket is read, so idle users cost no writes. Consuming is a compare-and-set on the
bucket's version, retried on conflict: two concurrent requests can never spend one token twice.
Admission does not `take`: it asks `spend` for the bucket to write and hands it to the store's
atomic admit, so the token is spent if and only if the job is queued.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.jobs.clock import Clock
from bot.jobs.limits import Limits
from storage import RateBucket
from storage.interface import QuotaStore

__all__ = ["TokenBucket", "RateDecision", "RateLimiter"]

# Float refills land a hair below 1.0 at the very instant we promised; honour the promise.
_EPSILON = 1e-9
_CAS_TRIES = 16


class _Unread:
    """Marker: the caller has not read the bucket (None already means "no bucket yet")."""


_UNREAD = _Unread()


@dataclass(frozen=True)
class TokenBucket:
    """The arithmetic of one bucket, free of storage."""

    tokens: float
    updated_at: float
    capacity: float
    per_second: float

    def refilled(self, now: float) -> TokenBucket:
        # A clock that stepped backwards must neither drain the bucket nor refill it twice.
        elapsed = max(0.0, now - self.updated_at)
        tokens = min(self.capacity, self.tokens + elapsed * self.per_second)
        return replace(self, tokens=tokens, updated_at=max(now, self.updated_at))

    def has_token(self) -> bool:
        return self.tokens >= 1.0 - _EPSILON

    def ready_at(self) -> float | None:
        """When the bucket will next hold a whole token; None if it never will."""
        if self.has_token():
            return self.updated_at
        if self.per_second <= 0 or self.capacity < 1:
            return None
        return self.updated_at + (1.0 - self.tokens) / self.per_second


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_at: float | None  # when refused: when one token will be back (None: never)
    tokens_left: float


def _bucket(row: RateBucket | None, limits: Limits, now: float) -> TokenBucket:
    capacity, rate = float(limits.burst), limits.tokens_per_second
    if row is None:
        return TokenBucket(capacity, now, capacity, rate)
    # Today's limits apply to the time since the last visit: an admin who raises a limit
    # expects it to count at once.
    return TokenBucket(row.tokens, row.updated_at, capacity, rate).refilled(now)


class RateLimiter:
    """Takes and gives back tokens in the store's buckets."""

    def __init__(self, quotas: QuotaStore, clock: Clock) -> None:
        self._quotas = quotas
        self._clock = clock

    async def take(
        self,
        guild_id: int,
        user_id: int,
        limits: Limits,
        current: RateBucket | None | _Unread = _UNREAD,
    ) -> RateDecision:
        """Spend one token if there is one; otherwise say when there will be.

        `current`: the bucket as the caller already read it (admission reads it together
        with everything else); it is only a first guess, the write is compare-and-set."""
        row = current
        for _ in range(_CAS_TRIES):
            if isinstance(row, _Unread):
                row = await self._quotas.get(guild_id, user_id)
            decision, spent = self.spend(guild_id, user_id, limits, row)
            if spent is None or await self._quotas.put(spent, None if row is None else row.version):
                return decision
            row = _UNREAD
        raise RuntimeError(f"rate bucket of user {user_id} in guild {guild_id} kept changing")

    def spend(
        self, guild_id: int, user_id: int, limits: Limits, row: RateBucket | None
    ) -> tuple[RateDecision, RateBucket | None]:
        """The decision on `row` as read, and when allowed the bucket to write in its place
        (compare-and-set on `row.version`; the caller writes it). Writes nothing."""
        bucket = _bucket(row, limits, self._clock.now())
        if not bucket.has_token():
            return RateDecision(False, bucket.ready_at(), bucket.tokens), None
        spent = replace(bucket, tokens=max(0.0, bucket.tokens - 1.0))
        return RateDecision(True, None, spent.tokens), _record(guild_id, user_id, spent)

    async def give_back(self, guild_id: int, user_id: int) -> bool:
        """Return one token (a cancelled or system-failed job), never above the capacity
        last applied. False when the user has no bucket (nothing was taken)."""
        for _ in range(_CAS_TRIES):
            row = await self._quotas.get(guild_id, user_id)
            if row is None:
                return False
            bucket = TokenBucket(row.tokens, row.updated_at, row.capacity, row.per_second)
            bucket = bucket.refilled(self._clock.now())
            returned = replace(bucket, tokens=min(bucket.capacity, bucket.tokens + 1.0))
            if await self._quotas.put(_record(guild_id, user_id, returned), row.version):
                return True
        raise RuntimeError(f"rate bucket of user {user_id} in guild {guild_id} kept changing")

    async def peek(self, guild_id: int, user_id: int, limits: Limits) -> TokenBucket:
        """The bucket as it stands now, without spending (for `/queue` and admins)."""
        row = await self._quotas.get(guild_id, user_id)
        return _bucket(row, limits, self._clock.now())


def _record(guild_id: int, user_id: int, bucket: TokenBucket) -> RateBucket:
    return RateBucket(
        guild_id, user_id, bucket.tokens, bucket.updated_at, bucket.capacity, bucket.per_second
    )
