"""Fixtures for the job layer: a store (SQLite, or either engine in modules parametrized over
`tests.stores.ENGINES`), a manual clock, and the parts wired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest

from bot.jobs import (
    Admission,
    EtaModel,
    JobRequest,
    Limits,
    ManualClock,
    QueueAdmin,
    RateLimiter,
    Requester,
    Scheduler,
)
from storage import Store
from tests.storage.conftest import OpenDb

if TYPE_CHECKING:
    from tests.jobs.dispatch_rig import Rig

GUILD = 10
CHANNEL = 20
BACKENDS = ("gpu-a", "gpu-b")


@dataclass
class Jobs:
    """Everything a test needs, wired as the bot will wire it."""

    db: Store
    clock: ManualClock
    rate: RateLimiter
    eta: EtaModel
    scheduler: Scheduler
    admission: Admission
    admin: QueueAdmin


def wire(db: Store, clock: ManualClock, *, limits: Limits, max_queued: int) -> Jobs:
    rate = RateLimiter(db.quotas, clock)
    eta = EtaModel(db.runs, clock)  # 240 s for the default clip until runs are observed
    prompt_ids = (f"prompt-{n}" for n in range(1_000_000))
    scheduler = Scheduler(
        db, clock, rate, eta=eta, backends=BACKENDS, new_prompt_id=lambda: next(prompt_ids)
    )
    admission = Admission(db, scheduler, rate, clock, defaults=limits, max_queued=max_queued)
    return Jobs(db, clock, rate, eta, scheduler, admission, QueueAdmin(db, clock))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "wanbot.db"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000.0)


@pytest.fixture
async def jobs(open_db: OpenDb, clock: ManualClock) -> Jobs:
    """Generous limits, so tests about order are not refused; limit tests build their own."""
    generous = Limits(videos_per_hour=1000, burst=1000, max_active=1000)
    return wire(await open_db(), clock, limits=generous, max_queued=10_000)


def member(
    user_id: int, *, roles: tuple[int, ...] = (), locale: str = "en", channel: int = CHANNEL
) -> Requester:
    return Requester(GUILD, channel, user_id, locale, roles)


def video(prompt: str = "a cat surfing", **params: object) -> JobRequest:
    size = {"frames": 81, "width": 832, "height": 480, "steps": 15}
    return JobRequest("wan-native", {"prompt": prompt, **size, **params})


@pytest.fixture
async def rig(jobs: Jobs, tmp_path: Path) -> AsyncIterator[Rig]:
    """Dispatchers on this store, stopped after the test."""
    from tests.jobs.dispatch_rig import Rig  # it builds on this module's helpers

    async with aiohttp.ClientSession() as session:
        r = Rig(jobs, session, tmp_path)
        yield r
        for d in r.dispatchers:
            await d.stop()
