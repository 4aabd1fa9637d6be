"""Fixtures for the store: a fresh store per test, on each engine, and a helper to queue jobs.

Every test here that asks for `db` (or `open_db`) runs on SQLite and on PostgreSQL: the
contract is the same. Engine-specific tests ask for `db_path` (SQLite) or are in
`test_postgres_*.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from storage import Database, JobRecord, NewJob, Store
from storage.postgres import PostgresStore
from storage.postgres.pool import pg
from tests.stores import each_engine  # noqa: F401  (every store test runs on both engines)

T0 = 1_700_000_000.0
OpenDb = Callable[[], Awaitable[Store]]


async def raw_sql(db: Store, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run SQL (SQLite's placeholders) on either engine, behind the contract's back: for tests
    that check what the store keeps against the tables themselves."""
    if isinstance(db, Database):
        return [tuple(row) for row in await db.connections.write(statement, params)]
    assert isinstance(db, PostgresStore)
    return [tuple(row) for row in await db.pool.fetch(pg(statement), params)]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "wanbot.db"


@pytest.fixture
async def db(open_db: OpenDb) -> Store:
    return await open_db()


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


async def queue(db: Store, *jobs: NewJob, now: float = T0) -> list[JobRecord]:
    return [await db.jobs.create(job, now) for job in jobs]
