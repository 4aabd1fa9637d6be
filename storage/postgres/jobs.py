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

A claim with a `capacity` (a backend's slots) first takes a transaction-level advisory lock keyed
by the backend, then counts the backend's jobs in the same transaction as the take: only claims
add jobs to a backend, and each one on that backend waits for the previous to commit, so the
count a claim sees is exact in every process (a release meanwhile only makes it cautious).

Adoption (`adopt`) is one UPDATE whose WHERE says "the lease has run out": two processes adopting
at once both wait on the row's lock, and the second re-reads a lease that no longer has.
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
    replace_prompt_sql,
    summary_of,
    transition_sql,
)
from storage.postgres.history import insert_audit
from storage.changes import CHANNEL, Change, ChangeKind
from storage.postgres.pool import PgPool, changed_rows, pg
from storage.records import (
    AuditEntry,
    JobRecord,
    JobState,
    Lease,
    NewJob,
    QueuePosition,
    QueueSummary,
)

__all__ = ["PgJobStore", "AFFINITY_LOCK", "BACKEND_LOCK_CLASS", "PG_HOT_QUERIES"]

_QUEUE_ORDER = "priority_class, round, id"
# The claim's parameters: $1 backend, $2 prompt_id, $3 now, $4 owner and $5 lease_until (the
# claimer's lease, or NULL), $6 the excluded guilds, $7 the templates the backend can run (NULL:
# any), $8 the backend's capacity (NULL: no limit).
_CANDIDATE = "state = 'queued' AND guild_id <> ALL({g}::BIGINT[]) AND ({t}::TEXT[] IS NULL OR template = ANY({t}::TEXT[]))"
_CLAIMABLE = _CANDIDATE.format(g="$6", t="$7")
_ROOM = ("($8::INTEGER IS NULL OR (SELECT count(*) FROM jobs WHERE backend = $1 "
         "AND state IN ('submitted', 'running')) < $8)")
# pg_advisory_xact_lock's key for "an affinity claim is deciding who is passed over".
AFFINITY_LOCK = 0x77616E61666631  # "wanaff1"
# pg_advisory_xact_lock(class, hashtext(backend)): "a claim is counting this backend's slots". Two
# backends whose names hash alike only share a lock: their claims wait for each other, no more.
BACKEND_LOCK_CLASS = 0x77616E62  # "wanb"
_LOCK_BACKEND = "SELECT pg_advisory_xact_lock($1, hashtext($2))"
_AFFINITY_TRIES = 3
_QUALIFIED = ", ".join(f"jobs.{column.strip()}" for column in COLUMN_LIST.split(","))
_INSERT = pg(INSERT_JOB)
_PURGE = pg(PURGE)


def _claim_sql(picked: str) -> str:
    """Take the one row `picked` names, under the claimer's lease, and advance the fair clock."""
    return (
        f"WITH picked AS ({picked}), "
        "claimed AS (UPDATE jobs SET state = 'submitted', backend = $1, prompt_id = $2, "
        "attempts = attempts + 1, submitted_at = $3, updated_at = $3, "
        "owner = $4, lease_until = $5, claimed_by = $4 FROM picked "
        f"WHERE jobs.id = picked.id AND jobs.state = 'queued' RETURNING {_QUALIFIED}), "
        "clock AS (INSERT INTO fair_clock (priority_class, round) "
        "SELECT priority_class, round FROM claimed ON CONFLICT (priority_class) "
        "DO UPDATE SET round = GREATEST(fair_clock.round, excluded.round)) "
        f"SELECT {COLUMN_LIST} FROM claimed"
    )


# The head of the queue for this backend, if it has room; concurrent claimers skip each other's row.
_CLAIM = _claim_sql(f"SELECT id FROM jobs WHERE {_CLAIMABLE} AND {_ROOM} "
                    f"ORDER BY {_QUEUE_ORDER} LIMIT 1 FOR UPDATE SKIP LOCKED")
_CLAIM_BY_ID = _claim_sql("SELECT $6::BIGINT AS id")
_COUNT_ON_BACKEND = pg(HOT_QUERIES["in_flight"])
# The affinity claim's reads ($1 the excluded guilds, $2 the templates).
_HEAD = f"SELECT {_QUEUE_ORDER} FROM jobs WHERE {_CANDIDATE.format(g='$1', t='$2')} ORDER BY {_QUEUE_ORDER} LIMIT 1"
_PREFERRED = (f"SELECT {_QUEUE_ORDER} FROM jobs WHERE {_CANDIDATE.format(g='$1', t='$2')} "
              "AND template = $3 AND priority_class = $4 ORDER BY round, id LIMIT 1")
_AHEAD = f"{_CANDIDATE.format(g='$1', t='$2')} AND (priority_class, round, id) < ($3, $4, $5)"
_STARVED = f"SELECT 1 FROM jobs WHERE {_AHEAD} AND passed_over >= $6 LIMIT 1"
_PASS_OVER = f"UPDATE jobs SET passed_over = passed_over + 1 WHERE {_AHEAD}"
_RELEASE_NOTICE = f"SELECT pg_notify('{CHANNEL}', $1)"
# The hot statements as PostgreSQL runs them: SQLite's (`pg()`), but the heartbeat's ids come as
# an array rather than SQLite's JSON text.
PG_HOT_QUERIES = {name: pg(sql) for name, sql in HOT_QUERIES.items()}
PG_HOT_QUERIES["renew"] = pg(HOT_QUERIES["renew"].replace("SELECT value FROM json_each(?3)",
                                                          "SELECT unnest(?3::BIGINT[])"))
_SQL = PG_HOT_QUERIES
_RENEW = PG_HOT_QUERIES["renew"]


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
        owner: str | None = None,
        **fields_: Any,
    ) -> bool:
        sql, params = transition_sql(job_id, from_state, to_state, now, fields_, owner)
        sql = pg(sql)
        if audit is None:
            return await self._db.fetchrow(sql, params) is not None
        async with self._db.transaction() as conn:
            moved = await conn.fetchrow(sql, *params) is not None
            if moved:
                await insert_audit(conn, audit)
            return moved

    async def set_status_message(self, job_id: int, message_id: int) -> bool:
        return await self._db.execute(
            "UPDATE jobs SET status_message_id = $1 WHERE id = $2", (message_id, job_id)
        ) == 1

    async def replace_prompt_id(self, job_id: int, old: str, new: str, now: float, *,
                                owner: str | None = None) -> bool:
        params = [new, now, job_id, old, *([] if owner is None else [owner])]
        return await self._db.execute(pg(replace_prompt_sql(owner)), params) == 1

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
        lease: Lease | None = None,
        capacity: int | None = None,
    ) -> JobRecord | None:
        if templates is not None and not templates:
            return None
        names = None if templates is None else sorted(set(templates))
        guilds = list(exclude_guilds)
        held = (None, None) if lease is None else (lease.owner, lease.until)
        claim = (backend, prompt_id, now, *held, guilds, names, capacity)
        if not _affinity_may_choose(names, prefer, window):
            if capacity is None:  # nothing to count: one statement, no lock
                row = await self._db.fetchrow(_CLAIM, claim)
                return job_record(row) if row else None
            async with self._db.transaction() as conn:
                await conn.execute(_LOCK_BACKEND, BACKEND_LOCK_CLASS, backend)
                row = await conn.fetchrow(_CLAIM, *claim)
                return job_record(row) if row else None
        for _ in range(_AFFINITY_TRIES):
            async with self._db.transaction() as conn:
                # Always the backend's lock first, then the affinity lock: no two claims wait
                # for each other in opposite orders.
                if capacity is not None:
                    await conn.execute(_LOCK_BACKEND, BACKEND_LOCK_CLASS, backend)
                    if int(await conn.fetchval(_COUNT_ON_BACKEND, backend)) >= capacity:
                        return None
                await conn.execute("SELECT pg_advisory_xact_lock($1)", AFFINITY_LOCK)
                head = await conn.fetchrow(_HEAD, guilds, names)
                if head is None:
                    return None
                chosen = await _preferred(conn, guilds, names, tuple(head), prefer, window) or tuple(head)
                row = await conn.fetchrow(_CLAIM_BY_ID, *claim[:5], chosen[2])
                if row is not None:
                    return job_record(row)
            # A plain claim (which takes no affinity lock) took that row meanwhile: look again.
        return None

    async def in_flight(self, backend: str) -> int:
        row = await self._db.fetchrow(_COUNT_ON_BACKEND, (backend,))
        return int(row[0]) if row else 0

    async def renew(self, lease: Lease, job_ids: Collection[int]) -> list[int]:
        if not job_ids:
            return []
        rows = await self._db.fetch(_RENEW, (lease.until, lease.owner, sorted(job_ids)))
        return sorted(int(row[0]) for row in rows)

    async def adopt(self, lease: Lease, now: float) -> list[JobRecord]:
        # READ COMMITTED re-checks the WHERE on a row another adopter changed while this one
        # waited for its lock: the lease is then no longer expired, and the row is skipped.
        rows = await self._db.fetch(_SQL["adopt"], (lease.owner, lease.until, now))
        return sorted((job_record(row) for row in rows), key=lambda job: job.id)

    async def next_expiry(self, owner: str) -> float | None:
        row = await self._db.fetchrow(_SQL["next_expiry"], (owner,))
        return None if row is None or row[0] is None else float(row[0])

    async def release(self, owner: str) -> int:
        async with self._db.transaction() as conn:
            released = changed_rows(await conn.execute(_SQL["release"], owner))
            if released:
                await conn.execute(_RELEASE_NOTICE, Change(ChangeKind.ADOPTABLE).encode())
            return released

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
