"""The connection pool: asyncpg's, with the failures of the network turned into one error.

A refused, dropped or silent connection raises `StoreUnavailable` (never a hang: connecting,
acquiring and every statement have a deadline). asyncpg replaces a dead connection on the next
acquire; after a failure the pool answers `StoreUnavailable` at once for a short, growing
pause (backoff up to `_BACKOFF_CAP`) instead of making every caller wait for the same dead
server, and the first success resets it. SQL is written SQLite-style where it is shared with
the SQLite store; `pg()` turns its placeholders into PostgreSQL's.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from storage.errors import StoreError, StoreUnavailable

__all__ = ["PgPool", "pg", "UNAVAILABLE", "changed_rows", "connect_error", "redact_dsn"]

CONNECT_TIMEOUT = 5.0  # a server that does not answer a connect in this long is down
ACQUIRE_TIMEOUT = 10.0  # every connection busy this long: the pool is too small or stuck
COMMAND_TIMEOUT = 30.0  # no statement of ours takes this long on a healthy server
_BACKOFF_FIRST, _BACKOFF_CAP = 0.1, 5.0
POOL_SIZE = 10

# What a lost or unreachable server looks like from asyncpg.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.exceptions.CannotConnectNowError,  # starting up or shutting down
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,  # "connection is closed", "pool is closing"
    # A connection the server ended while it sat idle in the pool, used before asyncpg
    # noticed: "cannot switch to state ...; another operation is in progress".
    asyncpg.exceptions.InternalClientError,
)
# Refusals that waiting will not cure: the operator must change WANBOT_DB or the server.
_REFUSED: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,  # bad user or password, pg_hba
    asyncpg.exceptions.InvalidCatalogNameError,  # no such database
    asyncpg.exceptions.InsufficientPrivilegeError,
)

_NUMBERED = re.compile(r"\?(\d+)")
_HINT = re.compile(r"\s+INDEXED BY \w+")


def redact_dsn(text: str) -> str:
    """`text` with the user info and the query of any URL in it removed (`postgresql://u:p@h/db?x`
    → `postgresql://h/db`): what a message may show of the URL the operator wrote."""
    without_user = re.sub(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s]*@", r"\1", text)
    return re.sub(r"(://[^\s?#]*)[?#]\S*", r"\1", without_user)


def pg(sql: str) -> str:
    """SQLite-style SQL for PostgreSQL: `?N` → `$N`, each bare `?` → the next `$k`, and
    SQLite's `INDEXED BY` hints dropped (PostgreSQL's planner has statistics)."""
    sql = _HINT.sub("", sql)
    if _NUMBERED.search(sql):
        return _NUMBERED.sub(r"$\1", sql)
    parts = sql.split("?")
    return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], 1)) + parts[-1]


def changed_rows(status: str) -> int:
    """The row count of a command status (`UPDATE 1`, `INSERT 0 1`)."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def connect_error(exc: BaseException, where: str) -> StoreError:
    """The store error for a failure to reach or use the server at `where` (shown redacted)."""
    reason = redact_dsn(str(exc).strip() or type(exc).__name__)
    if isinstance(exc, _REFUSED):
        return StoreError(f"PostgreSQL at {where} refused wanbot: {reason}")
    return StoreUnavailable(f"PostgreSQL at {where} is unavailable: {reason}")


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Hand a released connection back as it is. asyncpg's default reset (`RESET ALL`,
    `UNLISTEN *`, `CLOSE ALL`, `pg_advisory_unlock_all()`) costs a round trip after every
    statement, to undo what the store never leaves behind: no SET outside a transaction's
    `SET LOCAL`, no LISTEN (the listener has its own connection), no cursor, no session lock
    but the migration's, which `migrate` releases itself. asyncpg still rolls back a
    transaction that a cancelled caller left open."""


class _Backoff:
    """After a failure, answer at once for a while instead of trying again."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.until = 0.0
        self.reason = ""

    def check(self) -> None:
        if time.monotonic() < self.until:
            raise StoreUnavailable(self.reason)

    def failed(self, reason: str) -> None:
        self.delay = min(_BACKOFF_CAP, self.delay * 2 or _BACKOFF_FIRST)
        self.until = time.monotonic() + self.delay
        self.reason = reason

    def succeeded(self) -> None:
        self.delay, self.until = 0.0, 0.0


class PgPool:
    """The pool and the translation of its failures; repositories run SQL through it."""

    def __init__(self, pool: asyncpg.Pool, where: str) -> None:
        self._pool = pool
        self.where = where
        self._backoff = _Backoff()

    @classmethod
    async def open(cls, dsn: str, *, size: int = POOL_SIZE) -> PgPool:
        where = redact_dsn(dsn)
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=1,
                max_size=size,
                timeout=CONNECT_TIMEOUT,
                command_timeout=COMMAND_TIMEOUT,
                reset=_keep_session,
            )
        except (*UNAVAILABLE, *_REFUSED) as exc:
            raise connect_error(exc, where) from None
        return cls(pool, where)

    async def close(self) -> None:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await self._pool.close()
        except TimeoutError:
            self._pool.terminate()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection for a few statements; a lost server raises StoreUnavailable."""
        self._backoff.check()
        try:
            async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
                yield conn
        except UNAVAILABLE as exc:
            error = connect_error(exc, self.where)
            self._backoff.failed(str(error))
            raise error from None
        self._backoff.succeeded()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """BEGIN ... COMMIT on one connection, ROLLBACK on any error."""
        async with self.connection() as conn, conn.transaction():
            yield conn

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[asyncpg.Record]:
        async with self.connection() as conn:
            return list(await conn.fetch(sql, *params))

    async def fetchrow(self, sql: str, params: Sequence[Any] = ()) -> asyncpg.Record | None:
        async with self.connection() as conn:
            return await conn.fetchrow(sql, *params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement as its own transaction; the number of rows it changed."""
        async with self.connection() as conn:
            return changed_rows(await conn.execute(sql, *params))
