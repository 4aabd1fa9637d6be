"""One LISTEN connection per process: change notices from every process, to this process's
subscribers.

The database sends a NOTIFY in the same transaction as each change (triggers in
`migrations/0001_schema.sql`), so a notice is heard only once its change is visible. The
connection is outside the pool (a pooled connection would be handed to other work). While it
is lost, notices are lost too: it reconnects with backoff and then publishes `RESYNC`, and a
periodic `SELECT 1` finds a connection that died without a word. Subscribers keep their own
slow poll as the last safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from storage.changes import CHANNEL, Change, ChangeKind, Changes, job_change
from storage.postgres.pool import CONNECT_TIMEOUT, UNAVAILABLE, connect_error
from storage.records import JobState

__all__ = ["Listener", "decode"]

log = logging.getLogger(__name__)

_PING_EVERY = 15.0
_BACKOFF_FIRST, _BACKOFF_CAP = 0.2, 10.0


def decode(payload: str) -> Change | None:
    """A notice from its payload: `job <id> <guild> <old or -> <new>` or `Change.encode()`."""
    if payload.startswith("job "):
        _, job_id, guild_id, old, new = payload.split()
        return job_change(
            int(job_id), int(guild_id), None if old == "-" else JobState(old), JobState(new)
        )
    return Change.decode(payload)


class Listener:
    """Keeps a LISTEN connection open for as long as the store is."""

    def __init__(self, dsn: str, where: str, changes: Changes) -> None:
        self._dsn = dsn
        self._where = where
        self._changes = changes
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.reconnects = 0

    async def start(self) -> None:
        """Listen before returning: a change committed after `open` is never missed."""
        conn = await self._connect()
        self._task = asyncio.create_task(self._run(conn), name="pg-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _connect(self) -> asyncpg.Connection:
        try:
            conn = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT)
        except UNAVAILABLE as exc:
            raise connect_error(exc, self._where) from None
        self._lost.clear()
        conn.add_termination_listener(lambda _conn: self._lost.set())
        await conn.add_listener(CHANNEL, self._heard)
        return conn

    def _heard(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            change = decode(payload)
        except ValueError:
            log.warning("ignored a change notice that is not wanbot's: %r", payload)
            return
        if change is not None:
            self._changes.publish(change)

    async def _run(self, conn: asyncpg.Connection) -> None:
        try:
            while True:
                await self._hold(conn)
                conn.terminate()
                conn = await self._reconnect()
                self.reconnects += 1
                log.info("listening for changes again on %s", self._where)
                self._changes.publish(Change(ChangeKind.RESYNC))
        finally:
            conn.terminate()

    async def _hold(self, conn: asyncpg.Connection) -> None:
        """Until the connection is lost (closed, or no answer to a ping)."""
        while not conn.is_closed():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_PING_EVERY):
                    await self._lost.wait()
                    return
            try:
                await conn.execute("SELECT 1", timeout=CONNECT_TIMEOUT)
            except UNAVAILABLE:
                return

    async def _reconnect(self) -> asyncpg.Connection:
        delay = _BACKOFF_FIRST
        while True:
            try:
                return await self._connect()
            except Exception as exc:  # noqa: BLE001 - keep trying: the store outlives outages
                log.warning("cannot listen for changes on %s (%s); retrying in %.1f s",
                            self._where, exc, delay)
            await asyncio.sleep(delay)
            delay = min(_BACKOFF_CAP, delay * 2)
