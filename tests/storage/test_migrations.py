"""SQLite's schema: a fresh file and a v1 file both come up to date; pragmas; hot queries use
indexes. (PostgreSQL's: test_postgres_schema.py.)"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from storage import LATEST_VERSION, AuditEntry, Database, JobState, SchemaTooNew
from storage.database import ADMISSION_VIEW
from storage.jobs import HOT_QUERIES
from storage.schema import MIGRATIONS
from tests.storage.conftest import T0

# The schema exactly as release v1 wrote it, typed out by hand (not read from the migration
# file), so that a later edit to 0001_jobs.sql cannot silently change what "an old file" is.
V1_SCHEMA = """
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id INTEGER NOT NULL, channel_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
    locale TEXT NOT NULL DEFAULT 'en', template TEXT NOT NULL,
    params TEXT NOT NULL CHECK (json_valid(params)), cost INTEGER NOT NULL CHECK (cost >= 0),
    priority_class INTEGER NOT NULL DEFAULT 0, round INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'submitted', 'running', 'fetched',
                                          'delivered', 'failed', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0, backend TEXT, prompt_id TEXT, output_path TEXT,
    status_message_id INTEGER, result_message_id INTEGER, error_code TEXT, error_text TEXT,
    cancelled_by INTEGER, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    queued_at REAL, submitted_at REAL, running_at REAL, fetched_at REAL, delivered_at REAL,
    failed_at REAL, cancelled_at REAL
);
CREATE INDEX jobs_queue ON jobs (priority_class, round, id, cost) WHERE state = 'queued';
CREATE INDEX jobs_user_queue ON jobs (user_id, priority_class, round) WHERE state = 'queued';
CREATE INDEX jobs_requester ON jobs (guild_id, user_id, state);
CREATE INDEX jobs_state ON jobs (state, updated_at);
CREATE UNIQUE INDEX jobs_prompt ON jobs (prompt_id) WHERE prompt_id IS NOT NULL;
CREATE TABLE fair_clock (priority_class INTEGER PRIMARY KEY, round INTEGER NOT NULL);
INSERT INTO jobs (guild_id, channel_id, user_id, locale, template, params, cost, round, state,
                  attempts, created_at, updated_at, queued_at)
VALUES (10, 20, 1, 'en', 'wan-wrapper', '{"prompt": "old cat"}', 5, 0, 'queued', 0,
        1000.0, 1000.0, 1000.0);
PRAGMA user_version = 1;
"""


@pytest.fixture
def engine() -> str:
    return "sqlite"


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {row[0] for row in rows}


async def test_fresh_file_gets_every_migration(db_path: Path) -> None:
    db = await Database.open(db_path)
    assert db.migrations_applied == [m.version for m in MIGRATIONS]
    await db.close()
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
    assert {"jobs", "fair_clock", "rate_buckets", "guild_settings", "audit_log", "run_stats"} <= (
        _tables(db_path)
    )


async def test_reopening_applies_nothing(db_path: Path) -> None:
    await (await Database.open(db_path)).close()
    db = await Database.open(db_path)
    assert db.migrations_applied == []
    await db.close()


async def test_v1_file_is_upgraded_and_keeps_its_jobs(db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.executescript(V1_SCHEMA)
    db = await Database.open(db_path)
    try:
        assert db.migrations_applied == list(range(2, LATEST_VERSION + 1))
        old = await db.jobs.get(1)
        assert old is not None and old.params == {"prompt": "old cat"}
        assert old.state is JobState.QUEUED
        claimed = await db.jobs.claim_next("gpu-a", "p-1", T0)
        assert claimed is not None and claimed.id == 1
        assert await db.jobs.count_queued() == 0  # the counter started from the old rows
        assert await db.jobs.transition(1, JobState.SUBMITTED, JobState.QUEUED, T0)
        assert await db.jobs.count_queued() == 1
        # Tables from later migrations work on the upgraded file.
        assert not (await db.control.get()).draining
        await db.audit.record(AuditEntry(T0, 99, "drain"))
        assert [e.action for e in await db.audit.recent(None)] == ["drain"]
    finally:
        await db.close()


async def test_file_from_newer_wanbot_is_refused(db_path: Path) -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    with pytest.raises(SchemaTooNew):
        await Database.open(db_path)


async def test_wal_and_foreign_keys_are_on(db) -> None:  # type: ignore[no-untyped-def]
    conns = db.connections
    for conn in (conns.writer, conns.reader):
        assert list(await conn.execute_fetchall("PRAGMA foreign_keys"))[0][0] == 1
        assert list(await conn.execute_fetchall("PRAGMA journal_mode"))[0][0] == "wal"
    with pytest.raises(sqlite3.IntegrityError):
        await conns.write(
            "INSERT INTO run_stats (backend, cost, seconds, finished_at, job_id) "
            "VALUES ('gpu', 1, 1.0, 0, 12345)"
        )


async def test_the_reader_cannot_write(db) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(sqlite3.OperationalError):
        await db.connections.read("DELETE FROM jobs")


ALL_HOT = {**HOT_QUERIES, "admission_view": ADMISSION_VIEW}


def _dummy_params(sql: str) -> list[int]:
    numbered = [int(n) for n in re.findall(r"\?(\d+)", sql)]
    return [0] * (max(numbered) if numbered else sql.count("?"))


@pytest.mark.parametrize("name", sorted(ALL_HOT))
async def test_hot_queries_use_an_index(db, name: str) -> None:  # type: ignore[no-untyped-def]
    sql = ALL_HOT[name]
    plan = await db.connections.read(f"EXPLAIN QUERY PLAN {sql}", _dummy_params(sql))
    details = [str(row[-1]) for row in plan]
    full_scans = [
        d
        for d in details
        if re.match(r"SCAN (jobs|j|q|g|b|guild_settings|rate_buckets)\b(?!.*USING)", d)
    ]
    assert not full_scans, details


async def test_the_pick_and_positions_use_the_queue_index(db) -> None:  # type: ignore[no-untyped-def]
    for name in ("next_queued", "position", "range", "queued_totals"):
        sql = HOT_QUERIES[name]
        plan = await db.connections.read(f"EXPLAIN QUERY PLAN {sql}", _dummy_params(sql))
        assert any("jobs_queue" in str(row[-1]) for row in plan), (name, plan)
