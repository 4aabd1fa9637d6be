"""The job table on PostgreSQL: the same contract and, where SQL is standard, the same
statements as the SQLite store (`storage/jobs.py`, through `pg()`); the claim is PostgreSQL's.

Without affinity the claim is one statement: pick the first queued row in queue order that
no other claimer holds (`FOR UPDATE SKIP LOCKED`: concurrent claimers each take a different row
instead of queueing behind one), move it to submitted, and advance the fair clock of its class.
The rows a backend may take are those of the templates it can run (`template = ANY(...)`).

With affinity (`prefer` and a `window`, the rule of `JobStore.claim_next`), the claim is one
transaction under a transaction-level advisory lock: the head, the first preferred job of the
head's class, the "is anyone ahead of it passed over `window` times?" check and the `+1` of
the jobs ahead must see one another's effects, which SQLite gets from its single writer and
PostgreSQL from the lock. Plain claims do not take it: taking the head never passes anyone over;
nor do claims whose candidates are all of the preferred template, or none is (the rule then
takes the head too).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

from storage.jobs import (
    COLUMN_LIST,
    HOT_QUERIES,
    INSERT_JOB,
    PURGE,
    insert_params,
    gaps_query,
    job_record,
    places_of,
    summary_of,
    transition_assignments,
)
from storage.postgres.history import insert_audit
from storage.postgres.pool import PgPool, pg
from storage.records import (
    AuditEntry,
    JobRecord,
    JobState,
    NewJob,
    QueuePosition,
    QueueSummary,
)

__all__ = ["PgJobStore", "claim_sql", "AFFINITY_LOCK"]

_QUEUE_ORDER = "priority_class, round, id"
# $4 the excluded guilds, $5 the templates the backend can run (NULL: any).
_CLAIMABLE = "state = 'queued' AND guild_id <> ALL($4::BIGINT[]) AND ($5::TEXT[] IS NULL OR template = ANY($5::TEXT[]))"
_CLAIM_ORDER = _QUEUE_ORDER
# pg_advisory_xact_lock's key for "an affinity claim is deciding who is passed over".
AFFINITY_LOCK = 0x77616E61666631  # "wanaff1"
_AFFINITY_TRIES = 3
_QUALIFIED = ", ".join(f"jobs.{column.strip()}" for column in COLUMN_LIST.split(","))
_SQL = {name: pg(sql) for name, sql in HOT_QUERIES.items()}
_INSERT = pg(INSERT_JOB)
_PURGE = pg(PURGE)


def claim_sql(claimable: str = _CLAIMABLE, order: str = _CLAIM_ORDER, picked: str | None = None) -> str:
    """$1 backend, $2 prompt_id, $3 now, then whatever `claimable` uses ($4 the excluded guilds,
    $5 the templates), or, with `picked`, the statement that names the one row to take."""
    picked = picked or f"SELECT id FROM jobs WHERE {claimable} ORDER BY {order} LIMIT 1 FOR UPDATE SKIP LOCKED"
    return (
        f"WITH picked AS ({picked}), "
        "claimed AS (UPDATE jobs SET state = 'submitted', backend = $1, prompt_id = $2, "
        "attempts = attempts + 1, submitted_at = $3, updated_at = $3 FROM picked "
        f"WHERE jobs.id = picked.id AND jobs.state = 'queued' RETURNING {_QUALIFIED}), "
        "clock AS (INSERT INTO fair_clock (priority_class, round) "
        "SELECT priority_class, round FROM claimed ON CONFLICT (priority_class) "
        "DO UPDATE SET round = GREATEST(fair_clock.round, excluded.round)) "
        f"SELECT {COLUMN_LIST} FROM claimed"
    )


_CLAIM = claim_sql()
_CLAIM_BY_ID = claim_sql(picked="SELECT $4::BIGINT AS id")
_HEAD = f"SELECT {_QUEUE_ORDER} FROM jobs WHERE {_CLAIMABLE.replace('$4', '$1').replace('$5', '$2')} " \
        f"ORDER BY {_QUEUE_ORDER} LIMIT 1"
_PREFERRED = f"{_HEAD.split(' ORDER BY')[0]} AND template = $3 AND priority_class = $4 ORDER BY round, id LIMIT 1"
_AHEAD = f"{_CLAIMABLE.replace('$4', '$1').replace('$5', '$2')} AND (priority_class, round, id) < ($3, $4, $5)"
_STARVED = f"SELECT 1 FROM jobs WHERE {_AHEAD} AND passed_over >= $6 LIMIT 1"
_PASS_OVER = f"UPDATE jobs SET passed_over = passed_over + 1 WHERE {_AHEAD}"


class PgJobStore:
    """`storage.interface.JobStore` on PostgreSQL."""

    def __init__(self, pool: PgPool) -> None:
        self._db = pool

    async def create(self, job: NewJob, now: float) -> JobRecord:
        row = await self._db.fetchrow(_INSERT, insert_params(job, now))
        assert row is not None  # INSERT ... RETURNING yields the row
        return job_record(row)

    async def get(self, job_id: int) -> JobRecord | None:
        row = await self._db.fetchrow(f"SELECT {COLUMN_LIST} FROM jobs WHERE id = $1", (job_id,))
        return job_record(row) if row else None

    async def by_prompt_id(self, prompt_id: str) -> JobRecord | None:
        row = await self._db.fetchrow(_SQL["by_prompt_id"], (prompt_id,))
        return job_record(row) if row else None

    async def transition(
        self,
        job_id: int,
        from_state: JobState,
        to_state: JobState,
        now: float,
        *,
        audit: AuditEntry | None = None,
        **fields_: Any,
    ) -> bool:
        assignments = transition_assignments(from_state, to_state, now, fields_)
        sets = ", ".join(f"{column} = ${i}" for i, column in enumerate(assignments, 1))
        n = len(assignments)
        sql = f"UPDATE jobs SET {sets} WHERE id = ${n + 1} AND state = ${n + 2}"
        params = [*assignments.values(), job_id, from_state.value]
        if audit is None:
            return await self._db.execute(sql, params) == 1
        async with self._db.transaction() as conn:
            moved = await conn.execute(sql, *params) == "UPDATE 1"
            if moved:
                await insert_audit(conn, audit)
            return moved

    async def set_status_message(self, job_id: int, message_id: int) -> bool:
        return await self._db.execute(
            "UPDATE jobs SET status_message_id = $1 WHERE id = $2", (message_id, job_id)
        ) == 1

    async def replace_prompt_id(self, job_id: int, old: str, new: str, now: float) -> bool:
        return await self._db.execute(
            "UPDATE jobs SET prompt_id = $1, updated_at = $2 "
            "WHERE id = $3 AND prompt_id = $4 AND state IN ('submitted', 'running')",
            (new, now, job_id, old),
        ) == 1

    async def next_queued(self, exclude_guilds: Collection[int] = ()) -> JobRecord | None:
        row = await self._db.fetchrow(
            f"SELECT {COLUMN_LIST} FROM jobs WHERE state = 'queued' AND guild_id <> ALL($1::BIGINT[]) "
            f"ORDER BY {_QUEUE_ORDER} LIMIT 1",
            (list(exclude_guilds),),
        )
        return job_record(row) if row else None

    async def claim_next(
        self,
        backend: str,
        prompt_id: str,
        now: float,
        exclude_guilds: Collection[int] = (),
        *,
        templates: Collection[str] | None = None,
        prefer: str | None = None,
        window: int = 0,
    ) -> JobRecord | None:
        if templates is not None and not templates:
            return None
        names = None if templates is None else sorted(set(templates))
        guilds = list(exclude_guilds)
        if not _affinity_may_choose(names, prefer, window):
            row = await self._db.fetchrow(_CLAIM, (backend, prompt_id, now, guilds, names))
            return job_record(row) if row else None
        for _ in range(_AFFINITY_TRIES):
            async with self._db.transaction() as conn:
                await conn.execute("SELECT pg_advisory_xact_lock($1)", AFFINITY_LOCK)
                head = await conn.fetchrow(_HEAD, guilds, names)
                if head is None:
                    return None
                chosen = await _preferred(conn, guilds, names, tuple(head), prefer, window) or tuple(head)
                row = await conn.fetchrow(_CLAIM_BY_ID, backend, prompt_id, now, chosen[2])
                if row is not None:
                    return job_record(row)
            # A plain claim (which takes no advisory lock) took that row meanwhile: look again.
        return None

    async def fair_clock(self, priority_class: int) -> int:
        row = await self._db.fetchrow(
            "SELECT round FROM fair_clock WHERE priority_class = $1", (priority_class,)
        )
        return int(row[0]) if row else 0

    async def round_inputs(self, user_id: int, priority_class: int) -> tuple[int, int | None]:
        row = await self._db.fetchrow(_SQL["round_inputs"], (user_id, priority_class))
        assert row is not None  # a SELECT of scalar subqueries always yields one row
        clock = 0 if row[0] is None else int(row[0])
        return clock, None if row[1] is None else int(row[1])

    async def position(self, job_id: int) -> QueuePosition | None:
        row = await self._db.fetchrow(_SQL["position"], (job_id,))
        return QueuePosition(int(row[1]), int(row[2])) if row else None

    async def queue_places(
        self, guild_id: int, user_id: int
    ) -> list[tuple[JobRecord, QueuePosition]]:
        rows = await self._db.fetch(_SQL["queued_for_user"], (guild_id, user_id))
        jobs = [job_record(row) for row in rows]
        if not jobs:
            return []
        sql, params = gaps_query(jobs)
        return places_of(jobs, await self._db.fetch(pg(sql), params))

    async def count_queued(self) -> int:
        row = await self._db.fetchrow(_SQL["count_queued"])
        return int(row[0]) if row else 0

    async def count_active(self, guild_id: int, user_id: int) -> int:
        row = await self._db.fetchrow(_SQL["count_active"], (guild_id, user_id))
        return int(row[0]) if row else 0

    async def active_for_user(self, guild_id: int, user_id: int) -> list[JobRecord]:
        rows = await self._db.fetch(
            f"SELECT {COLUMN_LIST} FROM jobs WHERE guild_id = $1 AND user_id = $2 "
            "AND state IN ('queued', 'submitted', 'running', 'fetched') ORDER BY id",
            (guild_id, user_id),
        )
        return [job_record(row) for row in rows]

    async def in_states(self, states: Sequence[JobState]) -> list[JobRecord]:
        if not states:
            return []
        rows = await self._db.fetch(
            f"SELECT {COLUMN_LIST} FROM jobs WHERE state = ANY($1::TEXT[]) ORDER BY id",
            ([state.value for state in states],),
        )
        return [job_record(row) for row in rows]

    async def unfinished(self) -> list[JobRecord]:
        return [job_record(row) for row in await self._db.fetch(_SQL["unfinished"])]

    async def summary(self, since: float) -> QueueSummary:
        return summary_of(await self._db.fetch(_SQL["summary"], (since,)), since)

    async def recent_for_user(self, guild_id: int, user_id: int, limit: int) -> list[JobRecord]:
        rows = await self._db.fetch(
            f"SELECT {COLUMN_LIST} FROM jobs WHERE guild_id = $1 AND user_id = $2 "
            "ORDER BY id DESC LIMIT $3",
            (guild_id, user_id, limit),
        )
        return [job_record(row) for row in rows]

    async def purge_user(
        self, guild_id: int, user_id: int, by: int, now: float, audit: AuditEntry
    ) -> list[JobRecord]:
        async with self._db.transaction() as conn:
            rows = await conn.fetch(_PURGE, by, now, now, guild_id, user_id)
            jobs = sorted((job_record(row) for row in rows), key=lambda job: job.id)
            details = {**audit.details, "jobs": [job.id for job in jobs]}
            await insert_audit(conn, replace(audit, details=details))
            return jobs


def _affinity_may_choose(names: list[str] | None, prefer: str | None, window: int) -> bool:
    """Whether the rule may take anything but the head. Not when no job of `prefer` can be a
    candidate, nor when every candidate is one (a backend that runs one template, the usual
    deployment): then the head is taken and nothing counted, as a plain claim does without
    queueing behind every process's affinity claims for the lock."""
    if prefer is None or window <= 0:
        return False
    return names is None or (prefer in names and len(names) > 1)


async def _preferred(conn: Any, guilds: list[int], names: list[str] | None, head: tuple[int, int, int],
                     prefer: str, window: int) -> tuple[int, int, int] | None:
    """The first queued job of template `prefer` in head's class, if affinity may take it now;
    the jobs it passes over are counted. None: take the head."""
    row = await conn.fetchrow(_PREFERRED, guilds, names, prefer, head[0])
    if row is None or tuple(row) == head:
        return None
    pref = (int(row[0]), int(row[1]), int(row[2]))
    if await conn.fetchrow(_STARVED, guilds, names, *pref, window) is not None:
        return None
    await conn.execute(_PASS_OVER, guilds, names, *pref)
    return pref
