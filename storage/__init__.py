"""Storage: the aiosqlite database behind the job queue.

Owns the schema and its migrations, the job store (atomic, conditional state transitions and
the fair pick), rate-limit buckets, guild settings, queue switches, the audit log and run
statistics. Holds no business rules beyond the job state machine; never imports `bot` or
`discord`. `storage.interface.Store` is the contract a PostgreSQL store would implement.
"""

from storage.database import Database
from storage.interface import Store
from storage.records import (
    ACTIVE_STATES,
    FINISHED_STATES,
    TRANSITIONS,
    AdmissionView,
    AuditEntry,
    GuildSettings,
    InvalidTransition,
    JobRecord,
    JobState,
    NewJob,
    QueueControl,
    QueuePosition,
    QueueSummary,
    RateBucket,
    RunSample,
)
from storage.schema import LATEST_VERSION, SchemaTooNew

__all__ = [
    "Database",
    "Store",
    "JobState",
    "TRANSITIONS",
    "ACTIVE_STATES",
    "FINISHED_STATES",
    "InvalidTransition",
    "NewJob",
    "JobRecord",
    "QueuePosition",
    "QueueSummary",
    "GuildSettings",
    "QueueControl",
    "RateBucket",
    "AuditEntry",
    "AdmissionView",
    "RunSample",
    "SchemaTooNew",
    "LATEST_VERSION",
]
