"""Change notices: how `bot/` learns that something it waits for or caches has changed.

A store calls its subscribers with a `Change` after a change commits: a job queued (new or
requeued), cancelled or released from a backend (requeued or finished), guild settings saved
(pause included), the queue switches saved (drain), a process letting go of its jobs as it
stops (they may be adopted at once). `RESYNC` says notices may have been lost
(a listener reconnected): re-read everything. Notices are hints for waking up early; the
state itself is always read from the store, and subscribers keep a slow poll as a safety net.

SQLite delivers in-process only, right after its own commits. PostgreSQL sends a NOTIFY in the
same transaction as the change, so every process's one LISTEN connection hears it at commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from storage.records import JobState

__all__ = ["Change", "ChangeKind", "Subscriber", "Changes", "job_change", "CHANNEL"]

log = logging.getLogger(__name__)

# The PostgreSQL notification channel; the payloads are `Change.encode()`.
CHANNEL = "wanbot_changes"


class ChangeKind(StrEnum):
    QUEUED = "queued"  # a job entered the queue: new, or requeued after a lost prompt
    CANCELLED = "cancelled"
    RELEASED = "released"  # a job left a backend: fetched, failed, or requeued
    SETTINGS = "settings"  # a guild's settings (pause, limits, channels, words)
    CONTROL = "control"  # the queue-wide switches (drain)
    ADOPTABLE = "adoptable"  # a process let go of its jobs (a clean stop): adopt them now
    RESYNC = "resync"  # notices may have been lost: re-read what you cache


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    guild_id: int | None = None
    job_id: int | None = None

    def encode(self) -> str:
        return f"{self.kind.value} {self.guild_id or 0} {self.job_id or 0}"

    @classmethod
    def decode(cls, payload: str) -> Change:
        kind, guild, job = payload.split()
        return cls(ChangeKind(kind), int(guild) or None, int(job) or None)


Subscriber = Callable[[Change], None]


def job_change(job_id: int, guild_id: int, old: JobState | None, new: JobState) -> Change | None:
    """The notice a job's move gives (None for moves nobody waits for: claims, running,
    delivered). `old` is None for a new job. The one place both engines take this from."""
    kind = None
    if new is JobState.QUEUED:
        kind = ChangeKind.QUEUED if old is None else ChangeKind.RELEASED
    elif new is JobState.CANCELLED:
        kind = ChangeKind.CANCELLED
    elif new in (JobState.FETCHED, JobState.FAILED):
        kind = ChangeKind.RELEASED
    return None if kind is None else Change(kind, guild_id, job_id)


class Changes:
    """The subscribers of one store. A subscriber is a plain function called on the event
    loop (it should only set a flag or an event); one that raises is logged, never allowed
    to stop the others or the store."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call `subscriber` with every change from now on; returns the unsubscribe."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, change: Change) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(change)
            except Exception:  # noqa: BLE001 - one bad subscriber must not silence the rest
                log.exception("a change subscriber failed on %s", change)
