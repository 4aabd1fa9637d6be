"""One attempt: a job claimed (or re-attached) onto a backend, followed until it is delivered,
failed, cancelled or requeued. The unit of the dispatcher's bookkeeping.

Bookkeeping is keyed by attempt, never by job id: a requeued job can be claimed again (a new
attempt, maybe on the same backend) before the old attempt's task has run its clean-up, and
that clean-up must then remove only what belongs to the old attempt.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.comfy.watch import Progress
from storage.records import JobRecord

if TYPE_CHECKING:
    from bot.jobs.dispatcher._backends import Slot

__all__ = ["Attempt"]


@dataclass(eq=False)
class Attempt:
    job: JobRecord  # the newest record this attempt read or wrote
    slot: Slot | None  # None: a fetched job whose backend is no longer configured (posting only)
    fresh: bool  # submit the prompt (a claim) rather than re-attach to it (a restart, an adoption)
    progress: Progress | None = None
    # Downloading or posting: worth finishing at shutdown (following a prompt is not:
    # ComfyUI keeps rendering and the next start re-attaches).
    finishing: bool = False
    # This attempt moved the job to fetched itself: nobody can have posted it yet.
    fetched_here: bool = False
    task: asyncio.Task[None] | None = None

    @property
    def job_id(self) -> int:
        return self.job.id
