"""Fixtures for the store: a fresh database file per test and a helper to queue jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import Database, JobRecord, NewJob

T0 = 1_700_000_000.0


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "wanbot.db"


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(db_path)
    yield database
    await database.close()


def new_job(
    user_id: int = 1,
    *,
    guild_id: int = 10,
    round: int = 0,
    priority_class: int = 0,
    cost: int = 100,
    prompt: str = "a cat",
    template: str = "wan-native",
) -> NewJob:
    return NewJob(
        guild_id=guild_id,
        channel_id=20,
        user_id=user_id,
        template=template,
        params={"prompt": prompt, "frames": 81},
        cost=cost,
        round=round,
        priority_class=priority_class,
        locale="zh-CN",
    )


async def queue(db: Database, *jobs: NewJob, now: float = T0) -> list[JobRecord]:
    return [await db.jobs.create(job, now) for job in jobs]
