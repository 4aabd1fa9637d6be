"""The stores the tests run on: a SQLite file, or a fresh schema on a real PostgreSQL.

The PostgreSQL server is started once per session with `pgserver` (a PostgreSQL inside a
wheel, from the test extra), or is the one `WANBOT_TEST_POSTGRES_URL` names. The session gets
one database of its own; each test gets an empty schema in it, named by the URL's
`search_path` (a server setting asyncpg passes on), and the store migrates it as it would a new
database: six times cheaper than a CREATE DATABASE per test. On a server of the operator's the
session's database is dropped at the end; a pgserver's goes with its temporary folder.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import pytest

__all__ = ["ENGINES", "PostgresServer", "RestartablePostgres", "database_url", "each_engine"]

ENGINES = ("sqlite", "postgres")


@pytest.fixture(params=ENGINES, name="engine")
def each_engine(request: pytest.FixtureRequest) -> str:
    """Import it into a test module to run that module's store-using tests on both engines."""
    return str(request.param)


def database_url(server_url: str, name: str, **settings: str) -> str:
    """`server_url` pointing at the database `name`, with server `settings` in its query."""
    parts = urlsplit(server_url)
    query = urlencode([*parse_qsl(parts.query), *settings.items()])
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", query, parts.fragment))


class PostgresServer:
    """A server for the session, its database, and the schemas made in it."""

    def __init__(self, url: str, *, own: bool) -> None:
        self.url = url
        self.own = own  # ours (pgserver): it goes away whole
        self.database = f"wanbot_test_{uuid.uuid4().hex[:8]}"
        self._numbers = itertools.count(1)
        self._created = False

    @classmethod
    def start(cls, folder: Path) -> tuple[PostgresServer, object | None]:
        """The server to use, and the pgserver handle to clean up (None for an external one)."""
        external = os.environ.get("WANBOT_TEST_POSTGRES_URL")
        if external:
            return cls(external, own=False), None
        import pgserver  # the test extra; imported only when a test needs PostgreSQL

        server = pgserver.get_server(folder, cleanup_mode="stop")
        # A throwaway server: durability only costs time here.
        for setting in ("fsync = off", "synchronous_commit = off", "full_page_writes = off"):
            server.psql(f"ALTER SYSTEM SET {setting}")
        server.psql("SELECT pg_reload_conf()")
        return cls(server.get_uri(), own=True), server

    async def create(self) -> str:
        """The URL of a new, empty schema (a new database, as far as wanbot can tell)."""
        if not self._created:
            conn = await asyncpg.connect(self.url)
            try:
                await conn.execute(f"CREATE DATABASE {self.database}")
            finally:
                await conn.close()
            self._created = True
        schema = f"t{next(self._numbers)}"
        url = database_url(self.url, self.database)
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f"CREATE SCHEMA {schema}")
        finally:
            await conn.close()
        return database_url(self.url, self.database, search_path=schema)

    async def drop_all(self) -> None:
        if self.own or not self._created:
            return
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")
        finally:
            await conn.close()


class RestartablePostgres:
    """A pgserver of one test's own, to stop and start under a running bot (`pg_ctl` from the
    server's own bin folder, on the same data folder and socket, so the URL stays the same)."""

    def __init__(self, folder: Path) -> None:
        import pgserver

        self.folder = folder
        self._server = pgserver.get_server(folder, cleanup_mode="stop")
        self.url = self._server.get_uri()

    async def stop(self) -> None:
        """A fast shutdown: every connection is dropped, as in a server restart."""
        from pgserver import _commands

        await asyncio.to_thread(_commands.pg_ctl, ["-w", "-m", "fast", "stop"], pgdata=self.folder,
                                user=self._server.system_user, timeout=30)

    async def start(self) -> None:
        await asyncio.to_thread(self._start)

    def _start(self) -> None:
        with self._server._lock:  # noqa: SLF001 - pgserver's own start-up lock
            self._server.ensure_postgres_running()

    async def terminate_connections(self, application_like: str = "%") -> int:
        """End every other connection's server process (`pg_terminate_backend`); how many."""
        conn = await asyncpg.connect(self.url)
        try:
            return len(await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                "AND backend_type = 'client backend' AND datname IS NOT NULL AND application_name LIKE $1",
                application_like))
        finally:
            await conn.close()

    def cleanup(self) -> None:
        self._server.cleanup()
