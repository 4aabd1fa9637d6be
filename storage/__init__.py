"""Storage: the database behind the job queue, SQLite (default) or PostgreSQL.

Owns the schemas and their migrations, the job store (atomic, conditional state transitions
and the fair pick), rate-limit buckets, guild settings, queue switches, the audit log, run
statistics and change notices. Holds no business rules beyond the job state machine; never
imports `bot` or `discord`. `storage.interface.Store` is the contract both engines implement;
`open_store` opens the one at a path or URL.
"""

from storage.changes import Change, ChangeKind
from storage.database import Database
from storage.engines import open_store
from storage.errors import StoreError, StoreUnavailable
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
    Lease,
    NewJob,
    OWNED_STATES,
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
    "open_store",
    "StoreError",
    "StoreUnavailable",
    "Change",
    "ChangeKind",
    "JobState",
    "TRANSITIONS",
    "ACTIVE_STATES",
    "FINISHED_STATES",
    "OWNED_STATES",
    "InvalidTransition",
    "Lease",
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
