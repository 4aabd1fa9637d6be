"""The store's contract: what the scheduler, admission and dispatcher may ask of storage.

Kept narrow on purpose so that the SQLite store (`storage.database`) and the PostgreSQL store
(`storage.postgres`) serve the same `bot/`; `storage.open_store` picks one from `WANBOT_DB`. Every method is a single atomic step; every
state change is conditional on the state the caller expects and reports whether it happened.
Times are passed in (epoch seconds) so that callers own the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol

from storage.changes import Subscriber
from storage.records import (
    AdmissionView,
    AdmitRequest,
    AdmitResult,
    AuditEntry,
    GuildSettings,
    JobRecord,
    JobState,
    Lease,
    NewJob,
    QueueControl,
    QueuePosition,
    QueueSummary,
    RateBucket,
    RunSample,
)

__all__ = ["JobStore", "QuotaStore", "GuildStore", "ControlStore", "AuditLog", "RunLog", "Store"]


class JobStore(Protocol):
    async def create(self, job: NewJob, now: float) -> JobRecord:
        """Insert a queued job and return it with its id."""

    async def get(self, job_id: int) -> JobRecord | None: ...

    async def by_prompt_id(self, prompt_id: str) -> JobRecord | None: ...

    async def transition(
        self,
        job_id: int,
        from_state: JobState,
        to_state: JobState,
        now: float,
        *,
        audit: AuditEntry | None = None,
        owner: str | None = None,
        **fields: Any,
    ) -> bool:
        """Move a job only if it is in `from_state` (and, with `owner`, only while that process
        holds it: a process that lost its lease cannot move a job another one adopted); True
        when it moved. Going back to the queue lets go of the job (no owner, no lease).

        Raises InvalidTransition for a move `TRANSITIONS` forbids, ValueError for a field
        that is not settable. `audit`, when given, commits with the move."""

    async def set_status_message(self, job_id: int, message_id: int) -> bool: ...

    async def replace_prompt_id(self, job_id: int, old: str, new: str, now: float, *,
                                owner: str | None = None) -> bool:
        """Record the prompt_id the backend answered in place of the one claimed with (a
        ComfyUI older than client-chosen ids picks its own). Only while the job is submitted or
        running under `old` (and held by `owner`, when given); True when it changed."""

    async def next_queued(self, exclude_guilds: Collection[int] = ()) -> JobRecord | None:
        """The job a claim would take now (read only)."""

    async def claim_next(
        self,
        backend: str,
        prompt_id: str,
        now: float,
        exclude_guilds: Collection[int] = (),
        *,
        templates: Collection[str] | None = None,
        prefer: str | None = None,
        window: int = 0,
        lease: Lease | None = None,
        capacity: int | None = None,
    ) -> JobRecord | None:
        """Atomically move one queued job to submitted on `backend` with `prompt_id`, advance
        the fair clock of its class, and return it (None when there is no candidate, or the
        backend is full). Safe against concurrent claims. `lease`: the claiming process holds
        the job (`owner`, `lease_until` and `claimed_by` are set from it). `capacity`: take a job
        only while fewer than that many jobs are submitted or running on `backend`, whoever
        holds them, counted atomically with the take (every claim on one backend is serialized
        with the count, in every process), so a backend's slots hold across processes. The
        rule, in one transaction:

        - The candidates are the queued jobs whose guild is not in `exclude_guilds` and, when
          `templates` is given, whose template is in it (empty: no candidate). Jobs of other
          templates are simply not seen: they never block this backend.
        - `head` is the first candidate in queue order (`priority_class`, `round`, `id`).
        - Without `prefer`, or with `window` 0, the claim takes `head` (pure fair order).
        - Otherwise `pref` is the first candidate of template `prefer` in `head`'s priority
          class (affinity never crosses a class). The claim takes `pref` when it exists, is not
          `head`, and no candidate ahead of it has `passed_over >= window`; it then adds 1 to
          `passed_over` of every candidate ahead of `pref` (each was moved back one place).
          In every other case it takes `head`, and no count changes.

        So a job's `passed_over` never exceeds `window`: affinity moves any job back by at
        most `window` places over all the claims it waits through, whichever backends make
        them. Requeueing keeps the count (the job keeps its place)."""

    async def in_flight(self, backend: str) -> int:
        """Jobs submitted or running on `backend`, whoever holds them (what `claim_next`'s
        `capacity` is compared with)."""

    async def renew(self, lease: Lease, job_ids: Collection[int]) -> list[int]:
        """The heartbeat: extend to `lease.until`, in one statement, the lease of each job of
        `job_ids` (the jobs the process follows) that `lease.owner` still holds in
        `OWNED_STATES`; returns those ids. A job missing from the answer is no longer the
        owner's (adopted, cancelled, finished): it stops following it. A job the owner holds
        but no longer follows is not renewed, so its lease runs out and it is adopted."""

    async def adopt(self, lease: Lease, now: float) -> list[JobRecord]:
        """Take over, in one conditional statement, every job in `OWNED_STATES` whose lease has
        run out by `now` (or that has none), whoever held it (the adopter's own included: one
        it stopped following); returns them, now held under `lease`. Of processes adopting at
        once, each job goes to exactly one."""

    async def next_expiry(self, owner: str) -> float | None:
        """The earliest `lease_until` among the jobs in `OWNED_STATES` that `owner` does not
        hold (0 for one without a lease): when the next adoption may be due. None: none."""

    async def release(self, owner: str) -> int:
        """Let go of every job `owner` holds (a clean stop), so that another process may adopt
        them at once; announced with a `ChangeKind.ADOPTABLE` notice. Returns how many."""

    async def fair_clock(self, priority_class: int) -> int:
        """The highest round claimed so far in a class (0 before any claim)."""

    async def round_inputs(self, user_id: int, priority_class: int) -> tuple[int, int | None]:
        """(`fair_clock` of the class, the highest round among the user's queued jobs in the
        class or None): what the scheduler needs to give a new job its round, in one read."""

    async def position(self, job_id: int) -> QueuePosition | None:
        """None when the job is not queued."""

    async def queue_places(
        self, guild_id: int, user_id: int
    ) -> list[tuple[JobRecord, QueuePosition]]:
        """The requester's queued jobs in queue order, each with its position."""

    async def count_queued(self) -> int: ...

    async def count_active(self, guild_id: int, user_id: int) -> int: ...

    async def active_for_user(self, guild_id: int, user_id: int) -> list[JobRecord]: ...

    async def in_states(self, states: Sequence[JobState]) -> list[JobRecord]: ...

    async def unfinished(self) -> list[JobRecord]:
        """Every job not yet delivered, failed or cancelled (start-up recovery)."""

    async def summary(self, since: float) -> QueueSummary: ...

    async def recent_for_user(self, guild_id: int, user_id: int, limit: int) -> list[JobRecord]: ...

    async def purge_user(
        self, guild_id: int, user_id: int, by: int, now: float, audit: AuditEntry
    ) -> list[JobRecord]:
        """Cancel every queued, submitted or running job of the requester (cancelled_by=by),
        with the audit entry, in one transaction. Returns the jobs as they are now."""


class QuotaStore(Protocol):
    async def get(self, guild_id: int, user_id: int) -> RateBucket | None: ...

    async def put(self, bucket: RateBucket, expected_version: int | None) -> bool:
        """Compare-and-set: write `bucket` (version + 1) only if the stored version is
        `expected_version` (None: only if no bucket exists yet)."""


class GuildStore(Protocol):
    async def get(self, guild_id: int) -> GuildSettings:
        """Stored settings, or the defaults for a guild never configured."""

    async def save(self, settings: GuildSettings, audit: AuditEntry) -> None: ...

    async def paused_guilds(self) -> list[int]: ...


class ControlStore(Protocol):
    async def get(self) -> QueueControl: ...

    async def save(self, control: QueueControl, audit: AuditEntry) -> None: ...


class AuditLog(Protocol):
    async def record(self, entry: AuditEntry) -> int: ...

    async def recent(self, guild_id: int | None, limit: int = 50) -> list[AuditEntry]: ...


class RunLog(Protocol):
    async def record(self, sample: RunSample) -> None: ...

    async def recent(self, backend: str, limit: int) -> list[RunSample]: ...


class Store(Protocol):
    jobs: JobStore
    quotas: QuotaStore
    guilds: GuildStore
    control: ControlStore
    audit: AuditLog
    runs: RunLog

    async def admission_view(self, guild_id: int, user_id: int) -> AdmissionView:
        """Guild settings, the drain switch, queue length, the requester's active jobs and
        rate bucket, read together."""

    async def admit(self, request: AdmitRequest, now: float) -> AdmitResult:
        """Queue `request.job` in one transaction that, serialized against every other admit
        of every process, checks the global queue cap and the member's active cap and
        compare-and-sets the member's bucket: the caps are exact under any concurrency.
        Nothing is written unless the outcome is ADMITTED."""

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call `subscriber` with each `storage.changes.Change` after it commits (in every
        process on PostgreSQL, in this one on SQLite); returns the unsubscribe."""

    async def close(self) -> None: ...
