"""Admission: may this member queue this video now? If not, exactly why and until when.

Checks run cheapest and most final first, and the rate-limit token is spent last, so a
request refused for any other reason costs the member nothing:
    draining -> paused -> channel -> blocked words -> global queue cap -> active-job cap -> rate
Each check is a small function returning a refusal or None. Input validation (prompt length,
frame counts...) happened before, in the cog: a request that reaches here is well formed, so
nothing the member typed can fail later and cost them quota.

The checks first run on one read (`admission_view`) to answer most refusals cheaply. The
decisive step is the store's `admit`: one transaction, serialized against every other admit in
every process, that re-checks the global queue cap and the member's active cap, spends the
token (compare-and-set on the bucket as read) and inserts the job. So neither cap nor the rate
limit can be overshot by a burst, even from several processes on one PostgreSQL, and the token
is spent if and only if the job is queued. A bucket that moved meanwhile is read again.
A per-member lock in this process keeps one member's own burst from retrying against itself.
"""

from __future__ import annotations

import weakref
from asyncio import Lock
from functools import lru_cache

from bot.jobs.clock import Clock
from bot.jobs.limits import Limits, effective_limits
from bot.jobs.model import JobRequest, Requester
from bot.jobs.moderation import BlockedWords
from bot.jobs.ratelimit import RateLimiter
from bot.jobs.refusal import MESSAGES, AdmissionRefused, Refusal
from bot.jobs.scheduler import Scheduler
from storage import AdmissionView, GuildSettings, JobRecord
from storage.interface import Store
from storage.records import AdmitOutcome, AdmitRequest, NewJob, RateBucket

__all__ = ["Admission", "DEFAULT_MAX_QUEUED", "DEFAULT_LIMITS"]

DEFAULT_MAX_QUEUED = 500
DEFAULT_LIMITS = Limits()
# Each retry means another request of this member spent or returned a token in between.
_ADMIT_TRIES = 16


@lru_cache(maxsize=512)
def _blocked_words(words: tuple[str, ...]) -> BlockedWords:
    return BlockedWords(words)


def check_paused(settings: GuildSettings) -> AdmissionRefused | None:
    if settings.paused:
        return AdmissionRefused(Refusal.PAUSED, None, MESSAGES["PAUSED"])
    return None


def check_channel(settings: GuildSettings, channel_id: int) -> AdmissionRefused | None:
    allowed = settings.allowed_channels
    if not allowed or channel_id in allowed:
        return None
    channels = ", ".join(f"<#{channel}>" for channel in allowed)
    return AdmissionRefused(
        Refusal.CHANNEL_NOT_ALLOWED,
        None,
        MESSAGES["CHANNEL_NOT_ALLOWED"],
        {"channels": channels, "channel_ids": list(allowed)},
    )


def check_words(settings: GuildSettings, request: JobRequest) -> AdmissionRefused | None:
    word = _blocked_words(settings.blocked_words).find(*request.texts)
    if word is None:
        return None
    return AdmissionRefused(Refusal.BLOCKED_WORD, None, MESSAGES["BLOCKED_WORD"], {"word": word})


def queue_full(queued: int, next_slot_at: float | None) -> AdmissionRefused:
    message = MESSAGES["QUEUE_FULL" if next_slot_at is not None else "QUEUE_FULL_NO_ETA"]
    return AdmissionRefused(
        Refusal.QUEUE_FULL, next_slot_at, message, {"queued": queued}, estimated=True
    )


def too_many_active(active: int, limits: Limits, first_done_at: float | None) -> AdmissionRefused:
    message = MESSAGES["TOO_MANY_ACTIVE" if first_done_at is not None else "TOO_MANY_ACTIVE_NO_ETA"]
    return AdmissionRefused(
        Refusal.TOO_MANY_ACTIVE,
        first_done_at,
        message,
        {"active": active, "limit": limits.max_active},
        estimated=True,
    )


def rate_refusal(retry_at: float | None, limits: Limits) -> AdmissionRefused:
    if retry_at is None:
        return AdmissionRefused(Refusal.RATE_LIMITED, None, MESSAGES["RATE_LIMITED_NEVER"])
    values = {"per_hour": f"{limits.videos_per_hour:g}", "burst": limits.burst}
    return AdmissionRefused(Refusal.RATE_LIMITED, retry_at, MESSAGES["RATE_LIMITED"], values)


class Admission:
    """The front desk of the queue: `submit` either queues the job or raises AdmissionRefused."""

    def __init__(
        self,
        store: Store,
        scheduler: Scheduler,
        rate: RateLimiter,
        clock: Clock,
        *,
        defaults: Limits = DEFAULT_LIMITS,
        max_queued: int = DEFAULT_MAX_QUEUED,
    ) -> None:
        self._store = store
        self._scheduler = scheduler
        self._rate = rate
        self._clock = clock
        self.defaults = defaults
        self.max_queued = max_queued
        self._member_locks: weakref.WeakValueDictionary[tuple[int, int], Lock] = (
            weakref.WeakValueDictionary()
        )

    def _lock(self, key: tuple[int, int]) -> Lock:
        lock = self._member_locks.get(key)
        if lock is None:
            lock = self._member_locks[key] = Lock()
        return lock

    async def limits_for(self, requester: Requester) -> Limits:
        settings = await self._store.guilds.get(requester.guild_id)
        return effective_limits(self.defaults, settings, requester.role_ids)

    async def submit(self, requester: Requester, request: JobRequest) -> JobRecord:
        """Queue the request or raise AdmissionRefused (reason, retry time, message)."""
        guild_id, user_id = requester.guild_id, requester.user_id
        async with self._lock((guild_id, user_id)):
            view = await self._store.admission_view(guild_id, user_id)
            limits = effective_limits(self.defaults, view.settings, requester.role_ids)
            await self._check(requester, request, view, limits)
            async with self._scheduler.placing(requester, request, limits.priority) as job:
                return await self._admit(requester, job, limits, view.bucket)

    async def _admit(
        self, requester: Requester, job: NewJob, limits: Limits, bucket: RateBucket | None
    ) -> JobRecord:
        guild_id, user_id = requester.guild_id, requester.user_id
        for _ in range(_ADMIT_TRIES):
            decision, spent = self._rate.spend(guild_id, user_id, limits, bucket)
            if spent is None:
                raise rate_refusal(decision.retry_at, limits)
            version = None if bucket is None else bucket.version
            admit = AdmitRequest(job, self.max_queued, limits.max_active, spent, version)
            result = await self._store.admit(admit, self._clock.now())
            if result.outcome is AdmitOutcome.ADMITTED and result.job is not None:
                return result.job
            if result.outcome is AdmitOutcome.QUEUE_FULL:
                raise queue_full(result.queued, await self._scheduler.next_slot_at())
            if result.outcome is AdmitOutcome.TOO_MANY_ACTIVE:
                raise await self._too_many_active(requester, result.active, limits)
            bucket = await self._store.quotas.get(guild_id, user_id)
        raise RuntimeError(f"rate bucket of user {user_id} in guild {guild_id} kept changing")

    async def _check(
        self, requester: Requester, request: JobRequest, view: AdmissionView, limits: Limits
    ) -> None:
        if view.draining:
            raise AdmissionRefused(Refusal.DRAINING, None, MESSAGES["DRAINING"])
        refusal = (
            check_paused(view.settings)
            or check_channel(view.settings, requester.channel_id)
            or check_words(view.settings, request)
        )
        if refusal is not None:
            raise refusal
        if view.queued >= self.max_queued:
            raise queue_full(view.queued, await self._scheduler.next_slot_at())
        if view.active >= limits.max_active:
            raise await self._too_many_active(requester, view.active, limits)

    async def _too_many_active(
        self, requester: Requester, active: int, limits: Limits
    ) -> AdmissionRefused:
        places = await self._scheduler.places(requester.guild_id, requester.user_id)
        done = [place.eta.done_at for place in places if place.eta is not None]
        return too_many_active(active, limits, min(done) if done else None)
