"""The job layer: admission (may this member queue now?), the fair scheduler, ETAs, admin
actions on the queue, blocked words and per-user limits. Storage-backed, clock-injected,
and free of Discord: the CLI and the benchmarks use it as it is.

The store's records that callers see (jobs, guild settings, audit entries) and the error of a
database that does not answer (`StoreUnavailable`) are re-exported here, so that nothing above
`bot/` imports `storage`. What the cogs read is `bot.jobs.reads`
(not imported here: it pulls in the dispatcher and the ComfyUI client).
"""

from bot.jobs.admin import QueueAdmin
from bot.jobs.admission import Admission
from bot.jobs.clock import Clock, ManualClock, SystemClock
from bot.jobs.eta import Eta, EtaModel
from bot.jobs.limits import Limits, LimitsError, effective_limits
from bot.jobs.model import FINISHED_STATES, JobRecord, JobRequest, JobState, Requester, job_cost
from bot.jobs.moderation import BlockedWords, fold
from bot.jobs.ratelimit import RateLimiter, TokenBucket
from bot.jobs.refusal import AdmissionRefused, Refusal
from bot.jobs.scheduler import CancelOutcome, CancelResult, Fault, JobPlace, Scheduler
from storage import AuditEntry, GuildSettings, StoreUnavailable

__all__ = [
    "Admission",
    "AdmissionRefused",
    "AuditEntry",
    "FINISHED_STATES",
    "GuildSettings",
    "Refusal",
    "BlockedWords",
    "fold",
    "CancelOutcome",
    "CancelResult",
    "Clock",
    "ManualClock",
    "SystemClock",
    "Eta",
    "EtaModel",
    "Fault",
    "JobPlace",
    "JobRecord",
    "JobRequest",
    "JobState",
    "Limits",
    "LimitsError",
    "effective_limits",
    "QueueAdmin",
    "RateLimiter",
    "TokenBucket",
    "Requester",
    "Scheduler",
    "StoreUnavailable",
    "job_cost",
]
