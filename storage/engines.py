"""`open_store`: the store `WANBOT_DB` names, SQLite or PostgreSQL, opened and migrated."""

from __future__ import annotations

from pathlib import Path

from storage.database import Database
from storage.interface import Store
from storage.target import Engine, StoreTarget, parse_target

__all__ = ["open_store"]


async def open_store(target: StoreTarget | str | Path) -> Store:
    """Open the store at `target` (a `StoreTarget`, a path, or a URL)."""
    if not isinstance(target, StoreTarget):
        target = parse_target(target)
    if target.engine is Engine.POSTGRES:
        from storage.postgres import PostgresStore  # asyncpg is loaded only when used

        assert target.dsn is not None
        return await PostgresStore.open(target.dsn)
    assert target.path is not None
    return await Database.open(target.path)
