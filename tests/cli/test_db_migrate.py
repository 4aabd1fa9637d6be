"""`wanbot db migrate`: a community's SQLite data moved to a real PostgreSQL, every table,
ids as they were, counts verified; a non-empty target refused unless --replace."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.cli import main
from storage import AuditEntry, Database, GuildSettings, JobState, QueueControl, RateBucket, RunSample
from storage.postgres import PostgresStore
from tests.storage.conftest import T0, new_job, queue
from tests.stores import PostgresServer


async def _community(path: Path) -> list[int]:
    """A SQLite file with a bit of everything; the ids of its jobs."""
    async with await Database.open(path) as db:
        jobs = await queue(db, *(new_job(user % 4, round=user, prompt=f"猫 {user}") for user in range(12)))
        assert await db.jobs.claim_next("gpu-a", "prompt-a", T0) is not None
        claimed = await db.jobs.claim_next("gpu-b", "prompt-b", T0)
        assert claimed is not None
        await db.jobs.transition(claimed.id, JobState.SUBMITTED, JobState.FAILED, T0, error_code="oom",
                                 error_text="out of memory")
        await db.jobs.transition(jobs[5].id, JobState.QUEUED, JobState.CANCELLED, T0, cancelled_by=3)
        await db.connections.write("DELETE FROM jobs WHERE id = ?", (jobs[-1].id,))  # its id stays used
        await db.guilds.save(GuildSettings(10, paused=True, blocked_words=("坏",), limits={"burst": 3}),
                             AuditEntry(T0, 9, "pause", 10, "queue"))
        await db.control.save(QueueControl(draining=True), AuditEntry(T0, 9, "drain"))
        await db.quotas.put(RateBucket(10, 1, 0.5, T0, 2.0, 0.01), None)
        await db.runs.record(RunSample("gpu-a", 100, 42.0, T0, claimed.id))
        return [job.id for job in jobs[:-1]]


def test_a_community_moves_whole_and_the_counts_match(
    postgres_server: PostgresServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "wanbot.db"
    ids = asyncio.run(_community(source))
    url = asyncio.run(postgres_server.create())
    assert main(["db", "migrate", "--from", str(source), "--to", url]) == 0
    out = capsys.readouterr().out
    assert "jobs" in out and "MISMATCH" not in out and out.count(" ok") == 7
    asyncio.run(_same_data(source, url, ids))
    # Again: the target is not empty now.
    assert main(["db", "migrate", "--from", str(source), "--to", url]) == 2
    assert "--replace" in capsys.readouterr().err
    assert main(["db", "migrate", "--from", str(source), "--to", url, "--replace"]) == 0
    asyncio.run(_same_data(source, url, ids))


async def _same_data(source: Path, url: str, ids: list[int]) -> None:
    async with await Database.open(source) as sqlite, await PostgresStore.open(url) as postgres:
        for job_id in ids:
            assert await postgres.jobs.get(job_id) == await sqlite.jobs.get(job_id)
        assert await postgres.jobs.count_queued() == await sqlite.jobs.count_queued() == 8
        assert await postgres.guilds.get(10) == await sqlite.guilds.get(10)
        assert await postgres.guilds.paused_guilds() == [10]
        assert (await postgres.control.get()).draining
        assert await postgres.audit.recent(10) == await sqlite.audit.recent(10)
        assert await postgres.audit.recent(None) == await sqlite.audit.recent(None)
        assert await postgres.quotas.get(10, 1) == await sqlite.quotas.get(10, 1)
        assert await postgres.runs.recent("gpu-a", 5) == await sqlite.runs.recent("gpu-a", 5)
        assert await postgres.jobs.fair_clock(0) == await sqlite.jobs.fair_clock(0)
        assert await postgres.jobs.by_prompt_id("prompt-a") == await sqlite.jobs.by_prompt_id("prompt-a")
        # New ids continue past every id SQLite handed out, the deleted one included.
        (fresh,) = await queue(postgres, new_job(99))
        assert fresh.id == max(ids) + 2
        await postgres.jobs.transition(fresh.id, JobState.QUEUED, JobState.CANCELLED, T0)


@pytest.mark.parametrize(
    ("source", "target", "problem"),
    [
        ("postgresql://db/x", "postgresql://db/y", "--from: postgresql://db/x is not a SQLite file"),
        ("data/w.db", "data/x.db", "--to: data/x.db is not a postgresql:// URL"),
        ("data/w.db", "postgresql://u:hunter2pw@db:0/x", "--to: 'postgresql://db:0/x' has a port"),
    ],
)
def test_wrong_sides_are_one_line_and_exit_2(
    source: str, target: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "migrate", "--from", source, "--to", target]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"wanbot: {problem}") and err.count("\n") == 1 and "hunter2pw" not in err
