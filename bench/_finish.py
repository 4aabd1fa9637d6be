"""What the dispatch benches give the dispatcher: a delivery that posts nothing, and an observer
that says when the last of the expected jobs has been delivered (no polling)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import _common  # noqa: F401  (puts the repository on sys.path)

from bot.jobs.dispatcher import JobObserver
from storage import JobRecord, JobState

__all__ = ["Finish", "post_nothing"]


class Finish(JobObserver):
    """Sets `done` when `expected` jobs have been delivered; `at` is then perf_counter time."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.delivered: set[int] = set()
        self.done = asyncio.Event()
        self.at: float | None = None

    async def on_state(self, job: JobRecord) -> None:
        if job.state is JobState.DELIVERED:
            self.delivered.add(job.id)
            if len(self.delivered) >= self.expected and not self.done.is_set():
                self.at = time.perf_counter()
                self.done.set()


async def post_nothing(job: JobRecord, video: Path) -> int:
    return 1_000_000 + job.id
