"""This process's hold on the jobs it works on, among several processes on one queue.

A claim or an adoption holds a job under a lease (`storage.records.Lease`: this process's
identity and an expiry). The heartbeat renews, in one statement, the leases of every job the
process follows, every third of a lease; a job missing from its answer is no longer this
process's (adopted after a pause, cancelled): the dispatcher stops following it. Jobs whose
lease ran out (their process died) are adopted with one conditional statement, at the moment
the earliest other lease runs out (a timer, not a poll), when a process lets go of its jobs as
it stops (a change notice), and at each heartbeat.

Before a side effect nobody can take back (posting a video), the owner confirms its lease with
a renewal of that job alone: a process paused past its lease learns there, not after the post.

After the store was unreachable, adoption waits one heartbeat: every live owner renews first,
so a short outage does not hand every job to whichever process reconnected first. If no
heartbeat got through for a whole lease (a pause, a partition, a long outage), this process can
no longer know what it still holds, and another one may be listening as its ComfyUI clientId
for the prompts it adopted: the dispatcher lets go of everything (the prompts keep running on
ComfyUI) and carries on under a new identity; adoption picks the jobs up again, here or
elsewhere.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection

from bot.jobs.dispatcher._config import DispatchConfig
from storage.errors import StoreUnavailable
from storage.interface import Store
from storage.records import JobRecord, Lease

__all__ = ["Leases"]

log = logging.getLogger(__name__)

# The adoption timer never sleeps less than this: a lease that expires between the adoption and
# the look at the next expiry would otherwise spin the loop.
_MIN_WAIT = 0.01


class Leases:
    def __init__(self, store: Store, config: DispatchConfig) -> None:
        self.store = store
        self.config = config
        self.renewed_at = time.monotonic()  # the last heartbeat the store answered
        self.reachable_since = float("-inf")  # the store answered again after failing, at
        self.unavailable: str | None = None  # why the store did not answer the last call

    @property
    def owner(self) -> str:
        """This process's identity now (a new one after it lost its leases: see the dispatcher)."""
        return self.config.identity.id

    def lease(self) -> Lease:
        return Lease(self.owner, self.config.clock() + self.config.lease)

    # ----------------------------------------------------------------- the store's health

    def answered(self) -> None:
        if self.unavailable is not None:
            log.info("the database answers again")
            self.reachable_since = time.monotonic()
        self.unavailable = None

    def failed(self, exc: StoreUnavailable) -> None:
        if self.unavailable is None:
            log.warning("the database is unavailable (%s); retrying", exc)
        self.unavailable = str(exc)

    def lapsed(self) -> bool:
        """No heartbeat got through for a whole lease: another process may hold our jobs now."""
        return time.monotonic() - self.renewed_at > self.config.lease

    # ----------------------------------------------------------------- renewing

    def begin(self) -> None:
        """The dispatcher starts: the lease counts from now."""
        self.renewed_at = time.monotonic()

    async def renew(self, job_ids: Collection[int]) -> set[int]:
        """The heartbeat: the jobs of `job_ids` this process still holds (renewed now). With
        none, a cheap read instead: the heartbeat also tells whether the database answers."""
        started = time.monotonic()
        try:
            if job_ids:
                kept = await self.store.jobs.renew(self.lease(), job_ids)
            else:
                kept = []
                await self.store.jobs.next_expiry(self.owner)
        except StoreUnavailable as exc:
            self.failed(exc)
            raise
        self.answered()
        self.renewed_at = started
        return set(kept)

    async def confirm(self, job_id: int) -> bool:
        """Still ours, for a full lease from now: safe to do what cannot be undone."""
        return job_id in await self.renew([job_id])

    # ----------------------------------------------------------------- adopting

    def may_adopt(self) -> bool:
        """Not in the heartbeat after the store came back (owners renew first)."""
        return time.monotonic() - self.reachable_since >= self.config.heartbeat

    async def adopt(self) -> list[JobRecord]:
        """The jobs whose lease ran out, now held by this process."""
        try:
            jobs = await self.store.jobs.adopt(self.lease(), self.config.clock())
        except StoreUnavailable as exc:
            self.failed(exc)
            raise
        self.answered()
        return jobs

    async def next_adoption_in(self) -> float:
        """Seconds until the earliest lease of another process runs out (at most a heartbeat:
        new claims, our own lapsed jobs and a store that came back are seen then)."""
        expiry = await self.store.jobs.next_expiry(self.owner)
        cap = self.config.heartbeat
        if expiry is None:
            return cap
        return max(_MIN_WAIT, min(cap, expiry - self.config.clock()))

    async def release(self, owner: str | None = None) -> None:
        """Every job this process held (as `owner`, an identity it had before) may be adopted at
        once: a clean stop, or a new identity."""
        try:
            released = await self.store.jobs.release(owner or self.owner)
        except StoreUnavailable as exc:
            log.warning("could not let go of this process's jobs (%s): they are adopted when their lease runs out",
                        exc)
            return
        if released:
            log.info("let go of %d job(s) for another process to adopt", released)
