"""What the dispatcher calls out to: the graph of a job (and the `extra_data` it is submitted
with), the delivery of its video, and the observer that shows jobs to people. The dispatcher is
given these; it never imports Discord."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from bot.comfy.previews import Preview
from bot.comfy.watch import Progress
from storage.records import JobRecord

__all__ = ["Deliver", "DeliveryFailed", "ExtraDataBuilder", "GraphBuilder", "JobObserver"]

GraphBuilder = Callable[[JobRecord], dict[str, Any]]
ExtraDataBuilder = Callable[[JobRecord], dict[str, Any]]


class DeliveryFailed(Exception):
    """Raised by a Deliver callback. `permanent` means retrying cannot help."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Deliver(Protocol):
    async def __call__(self, job: JobRecord, video: Path) -> int | None:
        """Post `video` for `job`; return the result message id. Must be idempotent per job."""


class JobObserver:
    """Hooks for whoever shows jobs to people (the status card). Default: do nothing."""

    async def on_state(self, job: JobRecord) -> None:  # noqa: B027 - optional hook
        pass

    async def on_progress(self, job: JobRecord, progress: Progress) -> None:  # noqa: B027
        pass

    async def on_preview(self, job: JobRecord, preview: Preview) -> None:  # noqa: B027
        """A live preview of `job`'s render: only ever one of this job's own prompt."""
