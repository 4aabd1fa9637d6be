"""Suite-wide fixtures. Area fixtures live in the conftest of each tests/<area>/ folder.

The store fixtures: `engine` is "sqlite" unless a test is parametrized over `ENGINES`
(`pytest.mark.parametrize("engine", ENGINES, indirect=True)`, or the `tests/storage` default);
`store_target` is where that test's store lives and `open_db()` opens one more store on it
(another process, as far as the database can tell), closed after the test.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from bot.store_target import Engine, StoreTarget
from storage import Store, open_store
from tests.stores import PostgresServer


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    # Its own temporary folder, not pytest's: pytest prunes old basetemp folders when another
    # session starts on this machine, which would pull the socket from under a running server.
    folder = Path(tempfile.mkdtemp(prefix="wanbot-pg-"))
    server, handle = PostgresServer.start(folder)
    try:
        yield server
        asyncio.run(server.drop_all())
    finally:
        if handle is not None:
            handle.cleanup()  # type: ignore[attr-defined]
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
async def store_target(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> StoreTarget:
    if engine == "sqlite":
        return StoreTarget(Engine.SQLITE, path=tmp_path / "wanbot.db")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return StoreTarget(Engine.POSTGRES, dsn=await server.create())


@pytest.fixture
async def open_db(store_target: StoreTarget) -> AsyncIterator[Callable[[], Awaitable[Store]]]:
    opened: list[Store] = []

    async def open_() -> Store:
        store = await open_store(store_target.location)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        await store.close()
