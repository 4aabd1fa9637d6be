"""What only PostgreSQL has: its migrations under an advisory lock, change notices across
processes, a lost server as a plain `StoreUnavailable` that heals by itself, the affinity
claim's lock, and the pool's traffic."""

from __future__ import annotations

import asyncio
import re

import asyncpg
import pytest

from storage import (
    AuditEntry,
    ChangeKind,
    JobState,
    QueueControl,
    SchemaTooNew,
    StoreUnavailable,
    open_store,
)
from storage.changes import Change
from storage.errors import StoreError
from storage.postgres import PostgresStore
from storage.postgres.jobs import AFFINITY_LOCK, PG_HOT_QUERIES
from storage.postgres.schema import LATEST_VERSION, MIGRATIONS, migrate
from tests.storage.conftest import T0, OpenDb, new_job, queue
from tests.ops._process import free_port
from tests.stores import PostgresServer, database_url

WAIT = 10.0  # "does not hang" bound for a notice or a reconnect, never a speed claim


@pytest.fixture
def engine() -> str:
    return "postgres"


@pytest.fixture
async def url(postgres_server: PostgresServer) -> str:
    return await postgres_server.create()


async def test_concurrent_migrations_end_with_one_correct_schema(url: str) -> None:
    """Four connections migrate one empty database at once: the advisory lock lets one apply
    every migration and the others find nothing to do."""
    conns = [await asyncpg.connect(url) for _ in range(4)]
    try:
        applied = await asyncio.gather(*(migrate(conn) for conn in conns))
        versions = await conns[0].fetch("SELECT version FROM wanbot_schema ORDER BY version")
    finally:
        for conn in conns:
            await conn.close()
    assert sorted(applied, key=len) == [[], [], [], [m.version for m in MIGRATIONS]]
    assert [row[0] for row in versions] == list(range(1, LATEST_VERSION + 1))
    async with await PostgresStore.open(url) as store:
        assert store.migrations_applied == []
        (job,) = await queue(store, new_job())
        assert await store.jobs.count_queued() == 1 and job.id == 1


async def test_a_database_from_a_newer_wanbot_is_refused(url: str) -> None:
    await (await PostgresStore.open(url)).close()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("INSERT INTO wanbot_schema (version, name) VALUES ($1, 'future')",
                           LATEST_VERSION + 1)
    finally:
        await conn.close()
    with pytest.raises(SchemaTooNew):
        await PostgresStore.open(url)


async def test_changes_reach_every_process_after_commit(open_db: OpenDb) -> None:
    here, there = await open_db(), await open_db()
    heard: asyncio.Queue[Change] = asyncio.Queue()
    there.subscribe(heard.put_nowait)
    (job,) = await queue(here, new_job(guild_id=7))
    claimed = await here.jobs.claim_next("gpu", "p1", T0)  # no notice: nobody waits for claims
    assert claimed is not None
    await here.jobs.transition(job.id, JobState.SUBMITTED, JobState.QUEUED, T0)
    await here.control.save(QueueControl(draining=True), AuditEntry(T0, 9, "drain"))
    got = [await _next(heard) for _ in range(3)]
    assert got == [Change(ChangeKind.QUEUED, 7, job.id), Change(ChangeKind.RELEASED, 7, job.id),
                   Change(ChangeKind.CONTROL)]


async def test_the_listener_comes_back_and_says_notices_may_be_lost(open_db: OpenDb, url: str) -> None:
    store = await open_db()
    assert isinstance(store, PostgresStore)
    heard: asyncio.Queue[Change] = asyncio.Queue()
    store.subscribe(heard.put_nowait)
    await _terminate_backends(url, "LISTEN%")
    assert await _next(heard) == Change(ChangeKind.RESYNC)
    (job,) = await queue(store, new_job())
    assert await _next(heard) == Change(ChangeKind.QUEUED, job.guild_id, job.id)


async def test_a_dropped_connection_is_store_unavailable_then_heals(open_db: OpenDb, url: str) -> None:
    store = await open_db()
    assert isinstance(store, PostgresStore)
    await queue(store, new_job())
    slow = asyncio.create_task(store.pool.fetch("SELECT pg_sleep(30)"))
    async with asyncio.timeout(WAIT):
        while not await _terminate_backends(url, "SELECT pg_sleep%"):
            await asyncio.sleep(0.01)  # until the statement has reached the server
        with pytest.raises(StoreUnavailable) as caught:
            await slow
    assert "unavailable" in str(caught.value)
    async with asyncio.timeout(WAIT):
        while True:  # the pool opens a new connection after its backoff
            try:
                assert await store.jobs.count_queued() == 1
                break
            except StoreUnavailable:
                await asyncio.sleep(0.05)


async def test_an_unreachable_server_is_store_unavailable_without_the_password() -> None:
    with pytest.raises(StoreUnavailable) as caught:
        await open_store(f"postgresql://wanbot:hunter2pw@127.0.0.1:{free_port()}/wanbot")
    assert "hunter2pw" not in str(caught.value) and "127.0.0.1" in str(caught.value)


async def test_a_missing_database_is_a_store_error_naming_it(postgres_server: PostgresServer) -> None:
    with pytest.raises(StoreError) as caught:
        await open_store(database_url(postgres_server.url, "no_such_db"))
    assert not isinstance(caught.value, StoreUnavailable) and "no_such_db" in str(caught.value)


@pytest.mark.parametrize("name", sorted(set(PG_HOT_QUERIES) - {"count_queued"}))
async def test_hot_queries_use_an_index(open_db: OpenDb, name: str) -> None:
    store = await open_db()
    assert isinstance(store, PostgresStore)
    sql = PG_HOT_QUERIES[name]
    dummies = {"text": "x", "float8": 0.0, "int8[]": [1]}
    async with store.pool.transaction() as conn:
        await conn.execute("SET LOCAL enable_seqscan = off")  # an empty table: make the planner show its hand
        params = [dummies.get(t.name, 0) for t in (await conn.prepare(sql)).get_parameters()]
        plan = "\n".join(row[0] for row in await conn.fetch(f"EXPLAIN {sql}", *params))
    assert not re.search(r"Seq Scan on jobs", plan), plan


async def test_a_store_call_sends_its_statement_and_nothing_more(open_db: OpenDb) -> None:
    """The pool hands a connection back as it is: asyncpg's default reset (`RESET ALL`,
    `UNLISTEN *`... on every release) is a round trip after every store call, and the store
    leaves nothing on a pooled connection for it to undo."""
    store = await open_db()
    assert isinstance(store, PostgresStore)
    sent: list[str] = []

    def log(query: asyncpg.connection.LoggedQuery) -> None:
        sent.append(query.query)

    async with store.pool.connection() as conn:  # used one at a time, the pool keeps one
        conn.add_query_logger(log)
    await store.jobs.count_queued()
    async with store.pool.connection() as conn:
        conn.remove_query_logger(log)
    assert sent == [PG_HOT_QUERIES["count_queued"]]


async def test_a_claim_affinity_cannot_change_does_not_wait_for_the_affinity_lock(open_db: OpenDb, url: str) -> None:
    """A backend preferring the only template it can run, or one it cannot run, takes the head
    whatever the window (the rule in `JobStore.claim_next`): that claim must not queue behind
    the affinity claims of every process for their lock."""
    store = await open_db()
    first, second = await queue(store, new_job(1), new_job(2))
    holder = await asyncpg.connect(url)
    try:
        async with holder.transaction():
            await holder.execute("SELECT pg_advisory_xact_lock($1)", AFFINITY_LOCK)
            async with asyncio.timeout(WAIT):
                only = await store.jobs.claim_next("gpu-1", "p1", T0, templates={first.template},
                                                   prefer=first.template, window=4)
                other = await store.jobs.claim_next("gpu-2", "p2", T0, templates={first.template},
                                                    prefer="wan-14b", window=4)
    finally:
        await holder.close()
    assert only is not None and other is not None
    assert (only.id, only.passed_over, other.id, other.passed_over) == (first.id, 0, second.id, 0)


async def _next(heard: asyncio.Queue[Change]) -> Change:
    async with asyncio.timeout(WAIT):
        return await heard.get()


async def _terminate_backends(url: str, query_like: str) -> int:
    """End the server processes running (or last ran) a statement like `query_like`; how many."""
    conn = await asyncpg.connect(url)
    try:
        return len(await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE $1",
            query_like,
        ))
    finally:
        await conn.close()
