"""`open_store`: the store at a location, SQLite or PostgreSQL, opened and migrated."""

from __future__ import annotations

from pathlib import Path

from storage.database import Database
from storage.interface import Store

__all__ = ["open_store", "POSTGRES_SCHEMES"]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


async def open_store(location: str | Path) -> Store:
    """Open the store at `location`: a `postgresql://` (or `postgres://`) URL, else a SQLite
    file. (`WANBOT_DB`'s other spellings are read by `bot.store_target`.)"""
    if isinstance(location, str) and location.startswith(POSTGRES_SCHEMES):
        from storage.postgres import PostgresStore  # asyncpg is loaded only when used

        return await PostgresStore.open(location)
    return await Database.open(location)
