"""SQLite plumbing shared by the repositories: two connections, one write lock, transactions,
and the change notices published after a commit (`storage.changes`: in-process only).

Why two connections: WAL lets readers run beside a writer, so `/queue` lookups and the
status summary never wait behind an enqueue burst. All writes go through one connection in
autocommit mode (`isolation_level=None`), guarded by an asyncio lock: a statement issued by
one coroutine must never land inside another coroutine's open transaction.

Durability: `synchronous=NORMAL` in WAL mode means a commit survives a crash of this process
(the WAL is in the OS page cache before COMMIT returns) but the last transactions may be lost
on power loss or a kernel crash. That is the trade we want: an fsync per enqueue would cap
the queue at a few hundred jobs per second on ordinary disks, and after power loss the
dispatcher's reconciliation against ComfyUI finds whatever was in flight anyway.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiosqlite

from storage.changes import Change, Changes

__all__ = ["Connections", "Row", "BUSY_TIMEOUT_MS"]

Row = tuple[Any, ...]

# Two processes (or two test connections) on one file wait for each other this long.
BUSY_TIMEOUT_MS = 5000

_PRAGMAS = (
    "PRAGMA foreign_keys = ON",
    "PRAGMA synchronous = NORMAL",
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
)


async def _connect(path: str, *, query_only: bool) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        for pragma in _PRAGMAS:
            await conn.execute(pragma)
        if query_only:
            await conn.execute("PRAGMA query_only = ON")
    except BaseException:
        await conn.close()
        raise
    return conn


class Connections:
    """The writer, the reader and the lock that serializes writes."""

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.writer = writer
        self.reader = reader
        self._write_lock = asyncio.Lock()
        self.changes = Changes()

    @classmethod
    async def open(cls, path: str | Path) -> Connections:
        """Open the file in WAL mode. `:memory:` gets one connection for both roles
        (an in-memory database cannot be shared between connections)."""
        path = str(path)
        writer = await _connect(path, query_only=False)
        if path == ":memory:":
            return cls(writer, writer)
        try:
            mode = await writer.execute_fetchall("PRAGMA journal_mode = WAL")
            if next(iter(mode))[0] != "wal":
                raise sqlite3.OperationalError(f"{path}: the file system does not support WAL mode")
            reader = await _connect(path, query_only=True)
        except BaseException:
            # An open aiosqlite connection is a non-daemon thread: left open, it keeps the
            # process alive after the error that should have ended it.
            await writer.close()
            raise
        return cls(writer, reader)

    async def close(self) -> None:
        if self.reader is not self.writer:
            await self.reader.close()
        await self.writer.close()

    async def read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run a query on the reader; it sees every committed write."""
        return list(await self.reader.execute_fetchall(sql, params))

    async def read_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await self.read(sql, params)
        return rows[0] if rows else None

    async def write(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run one statement as its own transaction; returns RETURNING rows, if any."""
        async with self._write_lock:
            return list(await self.writer.execute_fetchall(sql, params))

    async def write_changes(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement as its own transaction; returns the number of rows changed."""
        async with self._write_lock:
            # No cursor.close(): it would cost a second trip to the connection's thread, and
            # a finished DML statement holds nothing that the garbage collector won't free.
            cursor = await self.writer.execute(sql, params)
            return int(cursor.rowcount)

    def committed(self, change: Change | None) -> None:
        """Tell the subscribers about a change this process has just committed."""
        if change is not None:
            self.changes.publish(change)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE ... COMMIT on the writer, ROLLBACK on any error.

        IMMEDIATE takes the write lock up front, so a second process waits at BEGIN (up to
        the busy timeout) instead of failing half-way through with SQLITE_BUSY.

        A cancel while BEGIN is under way does not stop it: the statement is already queued
        on the connection's thread. So the ROLLBACK covers BEGIN too (queued behind it, it
        runs even if this task is cancelled again); otherwise every later write of this
        process would join a transaction nobody ends, and be lost at close."""
        async with self._write_lock:
            try:
                await self.writer.execute("BEGIN IMMEDIATE")
                yield self.writer
            except BaseException:
                with suppress(sqlite3.OperationalError):  # BEGIN itself failed: none open
                    await self.writer.execute("ROLLBACK")
                raise
            await self.writer.execute("COMMIT")


def split_statements(script: str) -> Iterable[str]:
    """Split an SQL script into complete statements (triggers and all), for running them
    one by one inside a transaction: `executescript` would COMMIT ours first."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statement = pending.strip()
            pending = ""
            if statement and statement != ";":
                yield statement
    if pending.strip() and not pending.strip().startswith("--"):
        leftover = "".join(
            line for line in pending.splitlines() if not line.strip().startswith("--")
        )
        if leftover.strip():
            raise ValueError(f"incomplete SQL statement at the end of a script: {leftover!r}")
