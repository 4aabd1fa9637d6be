"""The records the store keeps, and the job state machine written down once.

`JobState` and `TRANSITIONS` are the single source of truth for which state may follow which;
the store enforces them with conditional updates (`... WHERE id = ? AND state = ?`), so a
caller that lost a race learns it from a `False` instead of overwriting someone else's move.
Everything here is plain data: no I/O, no business rules beyond the state machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "JobState",
    "TRANSITIONS",
    "ACTIVE_STATES",
    "FINISHED_STATES",
    "OWNED_STATES",
    "STATE_TIMESTAMP",
    "InvalidTransition",
    "NewJob",
    "JobRecord",
    "QueuePosition",
    "QueueSummary",
    "GuildSettings",
    "QueueControl",
    "RateBucket",
    "AdmissionView",
    "AuditEntry",
    "RunSample",
    "AdmitRequest",
    "AdmitOutcome",
    "AdmitResult",
    "Lease",
]


class JobState(StrEnum):
    """Where a job is. The value is what the `jobs.state` column holds."""

    QUEUED = "queued"  # waiting for a backend
    SUBMITTED = "submitted"  # backend and prompt_id persisted; POST /prompt may be in flight
    RUNNING = "running"  # ComfyUI reported it executing
    FETCHED = "fetched"  # output downloaded to `output_path`, not yet posted
    DELIVERED = "delivered"  # posted; `result_message_id` is stored (never post again)
    FAILED = "failed"  # `error_code` + `error_text` say why
    CANCELLED = "cancelled"  # `cancelled_by` says who


# Which state may follow which. Submitted/running -> queued is the requeue of a lost prompt.
# Submitted -> fetched exists because a fast job (or one seen only through /history after a
# reconnect) can finish before we ever observe it running. Fetched cannot be cancelled:
# delivery is already under way and a cancel could race the post.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.SUBMITTED, JobState.FAILED, JobState.CANCELLED}),
    JobState.SUBMITTED: frozenset(
        {JobState.RUNNING, JobState.FETCHED, JobState.QUEUED, JobState.FAILED, JobState.CANCELLED}
    ),
    JobState.RUNNING: frozenset(
        {JobState.FETCHED, JobState.QUEUED, JobState.FAILED, JobState.CANCELLED}
    ),
    JobState.FETCHED: frozenset({JobState.DELIVERED, JobState.FAILED}),
    JobState.DELIVERED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}

# Counted against a user's active-job cap and reloaded by the dispatcher at start-up.
ACTIVE_STATES: tuple[JobState, ...] = (
    JobState.QUEUED,
    JobState.SUBMITTED,
    JobState.RUNNING,
    JobState.FETCHED,
)
FINISHED_STATES: tuple[JobState, ...] = (JobState.DELIVERED, JobState.FAILED, JobState.CANCELLED)
# Held by one process under a lease: on a backend, or fetched and being posted. A queued job
# belongs to nobody; a finished one keeps the name of its last owner.
OWNED_STATES: tuple[JobState, ...] = (JobState.SUBMITTED, JobState.RUNNING, JobState.FETCHED)

# The column stamped with the time of entering each state.
STATE_TIMESTAMP: dict[JobState, str] = {state: f"{state.value}_at" for state in JobState}


class InvalidTransition(ValueError):
    """A caller asked for a move the state machine forbids (a programming error)."""

    def __init__(self, from_state: JobState, to_state: JobState) -> None:
        super().__init__(f"a job cannot go from {from_state.value} to {to_state.value}")
        self.from_state = from_state
        self.to_state = to_state


@dataclass(frozen=True)
class NewJob:
    """What the scheduler hands the store to queue a job (the store adds id and timestamps)."""

    guild_id: int
    channel_id: int
    user_id: int
    template: str
    params: dict[str, Any]
    cost: int
    round: int
    priority_class: int = 0
    locale: str = "en"


@dataclass(frozen=True)
class JobRecord:
    """One row of `jobs`.

    `id` doubles as the FIFO sequence number. The queue order is
    (`priority_class`, `round`, `id`) ascending: lower classes first, then fair rounds.
    `attempts` counts submissions to a backend (1 after the first claim); the dispatcher
    compares it with its retry bound before requeueing a lost prompt.
    """

    id: int
    guild_id: int
    channel_id: int
    user_id: int
    locale: str
    template: str
    params: dict[str, Any]
    cost: int
    priority_class: int
    round: int
    state: JobState
    attempts: int
    created_at: float
    updated_at: float
    backend: str | None = None
    prompt_id: str | None = None
    output_path: str | None = None
    status_message_id: int | None = None
    result_message_id: int | None = None
    error_code: str | None = None
    error_text: str | None = None
    cancelled_by: int | None = None
    queued_at: float | None = None
    submitted_at: float | None = None
    running_at: float | None = None
    fetched_at: float | None = None
    delivered_at: float | None = None
    failed_at: float | None = None
    cancelled_at: float | None = None
    # Times a claim took a job from behind this one for warm-model affinity (never more than
    # the claim's window): how many places affinity has moved it back.
    passed_over: int = 0
    # The process that holds the job while it is in `OWNED_STATES`, until `lease_until` (epoch
    # seconds on the owner's clock); once the lease has run out another process may adopt it.
    # `claimed_by` is the process that claimed it (whose prompt it is): adoption keeps it.
    owner: str | None = None
    lease_until: float | None = None
    claimed_by: str | None = None

    @property
    def sort_key(self) -> tuple[int, int, int]:
        """The job's place in the queue order."""
        return (self.priority_class, self.round, self.id)

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES


@dataclass(frozen=True)
class Lease:
    """A process's hold on the jobs it claims or adopts: `owner` (the process's identity) and
    `until` (epoch seconds). The owner renews it while it works; when it stops being renewed
    (the process died), any other process may adopt the job after `until`."""

    owner: str
    until: float


@dataclass(frozen=True)
class QueuePosition:
    """How much queued work is ordered before a job."""

    ahead: int  # queued jobs before it (0 = next to be picked)
    cost_ahead: int  # sum of their costs


@dataclass(frozen=True)
class QueueSummary:
    """The whole queue at a glance, for `/queue` and `/metrics`."""

    by_state: dict[JobState, int]  # unfinished states, plus finished ones since `since`
    by_backend: dict[str, int]  # submitted + running jobs per backend
    queued_users: int  # distinct users with a queued job
    oldest_queued_at: float | None
    queued_cost: int
    since: float
    # The submitted and running jobs themselves, by id, read together with the counts.
    in_flight: tuple[JobRecord, ...] = ()


@dataclass(frozen=True)
class GuildSettings:
    """Per-guild knobs. `limits` and `role_limits` are JSON objects the admission layer
    parses (the store does not know what a limit means). An empty `allowed_channels`
    means every channel is allowed."""

    guild_id: int
    paused: bool = False
    allowed_channels: tuple[int, ...] = ()
    blocked_words: tuple[str, ...] = ()
    limits: dict[str, Any] = field(default_factory=dict)
    role_limits: dict[str, dict[str, Any]] = field(default_factory=dict)
    updated_at: float | None = None
    updated_by: int | None = None


@dataclass(frozen=True)
class QueueControl:
    """Queue-wide switches. Draining: accept nothing new, start nothing new, let what runs
    finish (what an operator wants before a restart or an upgrade)."""

    draining: bool = False
    updated_at: float | None = None
    updated_by: int | None = None


@dataclass(frozen=True)
class RateBucket:
    """A persisted token bucket. `capacity` and `per_second` are the limits last applied,
    kept so that a refund (which happens without the member's roles at hand) can cap and
    refill correctly. `version` makes updates compare-and-set."""

    guild_id: int
    user_id: int
    tokens: float
    updated_at: float
    capacity: float
    per_second: float
    version: int = 0


@dataclass(frozen=True)
class AuditEntry:
    """One admin action. `target` names what it acted on ("user:123", "job:45", "queue")."""

    at: float
    actor_id: int
    action: str
    guild_id: int | None = None
    target: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True)
class RunSample:
    """How long one job ran on one backend, for the ETA's moving average."""

    backend: str
    cost: int
    seconds: float
    finished_at: float
    job_id: int | None = None


@dataclass(frozen=True)
class AdmissionView:
    """Everything admission reads about one requester, from one statement (one consistent
    snapshot, one round trip: admission is the hot path of every request)."""

    settings: GuildSettings
    draining: bool
    queued: int  # jobs queued, all guilds
    active: int  # the requester's unfinished jobs in this guild
    bucket: RateBucket | None


@dataclass(frozen=True)
class AdmitRequest:
    """A job to queue only if the caps still allow it and the member's token is still there,
    all checked and written in one transaction (`Store.admit`). The token arithmetic is the
    caller's: `bucket` is the bucket after spending, written only if the stored one is still
    at `bucket_version` (None: only if the member has no bucket yet)."""

    job: NewJob
    max_queued: int  # jobs queued, all guilds, this one excluded
    max_active: int  # the member's unfinished jobs in the guild, this one excluded
    bucket: RateBucket
    bucket_version: int | None


class AdmitOutcome(StrEnum):
    ADMITTED = "admitted"
    QUEUE_FULL = "queue_full"
    TOO_MANY_ACTIVE = "too_many_active"
    BUCKET_MOVED = "bucket_moved"  # someone spent or gave back a token meanwhile: read it again


@dataclass(frozen=True)
class AdmitResult:
    outcome: AdmitOutcome
    job: JobRecord | None  # the queued job when admitted
    queued: int  # the queue length the decision saw
    active: int  # the member's active jobs the decision saw
