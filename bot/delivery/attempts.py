"""Which jobs this process has tried to post: the delivery's short memory for exactly-once.

A try that failed may still have reached Discord (the answer was lost), and a job can be
handed to the delivery again; either way the next try must look for the earlier post before
posting. So a job is remembered while a try is in progress and for `keep` seconds after its
last try ended. The dispatcher retries a delivery within minutes and then records the job as
delivered or failed, after which nobody asks again; an hour is far past that. At most `limit`
finished jobs are kept (the oldest go first), so the memory stays small however long the bot
runs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["PostAttempts"]


class PostAttempts:
    """Jobs with a post in progress or recently tried here."""

    def __init__(self, clock: Callable[[], float], *, keep: float = 3600.0, limit: int = 1000) -> None:
        if keep <= 0 or limit < 1:
            raise ValueError("keep must be positive and limit at least 1")
        self._clock = clock
        self._keep = keep
        self._limit = limit
        self._running: set[int] = set()
        self._ended: OrderedDict[int, float] = OrderedDict()  # job id -> end of its last try, oldest first

    @contextmanager
    def attempt(self, job_id: int) -> Iterator[None]:
        """Around one try at posting `job_id`: remembered throughout, and `keep` seconds after."""
        self._running.add(job_id)
        try:
            yield
        finally:
            self._running.discard(job_id)
            self._ended[job_id] = self._clock()
            self._ended.move_to_end(job_id)
            self._forget_old()

    def __contains__(self, job_id: object) -> bool:
        self._forget_old()
        return job_id in self._running or job_id in self._ended

    def __len__(self) -> int:
        self._forget_old()
        return len(self._running | self._ended.keys())

    def _forget_old(self) -> None:
        horizon = self._clock() - self._keep
        while self._ended:
            job_id, ended = next(iter(self._ended.items()))
            if ended >= horizon and len(self._ended) <= self._limit:
                return
            del self._ended[job_id]
