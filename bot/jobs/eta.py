"""Queue ETA: a moving average of seconds per unit of work, per backend.

A job's work is its cost (frames x pixels x steps, see `model.job_cost`). Each backend's
speed is the cost-weighted mean of its last `window` runs (sum of seconds / sum of cost):
one long clip weighs as much as the short ones it equals, and one odd run moves the figure
only by its share. Samples are persisted (`store.runs`), so a restart keeps the estimate.

Estimate for a queued job, with backends working in parallel:
    start = (work still running + work queued ahead) / combined speed
    done  = start + own cost x average seconds-per-unit
where combined speed is the sum of the backends' units per second.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.jobs.clock import Clock
from bot.jobs.model import COST_DEFAULTS, job_cost
from storage import JobRecord, RunSample
from storage.interface import RunLog

__all__ = ["Eta", "EtaModel", "DEFAULT_SECONDS_PER_UNIT"]

# Before any run is seen: about four minutes for the default 832x480x81, 15-step clip.
DEFAULT_SECONDS_PER_UNIT = 240.0 / job_cost(COST_DEFAULTS)
# A run the clock saw take no time (a cached result, a coarse clock) must not make a backend
# infinitely fast: the estimate divides by the rate. This is ~1 ms for the default clip.
MIN_SECONDS_PER_UNIT = DEFAULT_SECONDS_PER_UNIT / 240_000


@dataclass(frozen=True)
class Eta:
    starts_at: float
    done_at: float


class EtaModel:
    """Per-backend speed from recent runs, and estimates built on it."""

    def __init__(
        self,
        runs: RunLog,
        clock: Clock,
        *,
        window: int = 20,
        default_seconds_per_unit: float = DEFAULT_SECONDS_PER_UNIT,
    ) -> None:
        self._runs = runs
        self._clock = clock
        self._window = window
        self._default = default_seconds_per_unit
        self._samples: dict[str, deque[RunSample]] = {}
        self._loaded_at: float | None = None

    async def load(self, backends: Iterable[str]) -> None:
        """Read each backend's recent runs from the store (at start-up)."""
        for backend in backends:
            recent = await self._runs.recent(backend, self._window)
            self._samples[backend] = deque(reversed(recent), maxlen=self._window)
        self._loaded_at = self._clock.now()

    async def refresh(self, backends: Iterable[str], max_age: float = 30.0) -> None:
        """Reload if the last load is older than `max_age` seconds: samples written to the
        store by another component (the dispatcher records runs itself) or another process
        then show up here too, at the cost of one small query per backend now and then."""
        if self._loaded_at is None or self._clock.now() - self._loaded_at >= max_age:
            await self.load(backends)

    async def observe(
        self, backend: str, cost: int, seconds: float, job_id: int | None = None
    ) -> None:
        """Record one finished run (persisted, then counted)."""
        if cost <= 0 or seconds < 0:
            return
        sample = RunSample(backend, cost, seconds, self._clock.now(), job_id)
        await self._runs.record(sample)
        self._samples.setdefault(backend, deque(maxlen=self._window)).append(sample)

    def seconds_per_unit(self, backend: str) -> float:
        samples = self._samples.get(backend)
        if not samples:
            return self._default
        total_cost = sum(sample.cost for sample in samples)
        return max(MIN_SECONDS_PER_UNIT, sum(sample.seconds for sample in samples) / total_cost)

    def remaining_seconds(self, job: JobRecord, now: float) -> float:
        """How long an in-flight job still needs on its backend (0 if overdue)."""
        rate = self.seconds_per_unit(job.backend or "")
        started = job.running_at
        elapsed = 0.0 if started is None else max(0.0, now - started)
        return max(0.0, job.cost * rate - elapsed)

    def estimate(
        self,
        backends: Sequence[str],
        in_flight: Sequence[JobRecord],
        cost_ahead: int,
        own_cost: int,
    ) -> Eta | None:
        """When a queued job should start and finish; None without any backend."""
        if not backends:
            return None
        now = self._clock.now()
        rates = [self.seconds_per_unit(backend) for backend in backends]
        speed = sum(1.0 / rate for rate in rates)  # units per second, all backends together
        running_units = sum(
            self.remaining_seconds(job, now) / self.seconds_per_unit(job.backend or "")
            for job in in_flight
        )
        starts_in = (running_units + cost_ahead) / speed
        done_in = starts_in + own_cost * (sum(rates) / len(rates))
        return Eta(now + starts_in, now + done_in)

    def in_flight_eta(self, job: JobRecord) -> Eta:
        """For a job already on a backend: started (or about to), done when its run ends."""
        now = self._clock.now()
        return Eta(job.running_at or now, now + self.remaining_seconds(job, now))
