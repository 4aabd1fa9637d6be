"""The job table: create, conditional transitions, the fair pick, positions, leases and
adoption.

The queue order is (`priority_class`, `round`, `id`), served by one partial index that holds
only queued rows (`jobs_queue`), so the pick is one index seek and a position is one range
count over the queue, however long the history grows. How rounds are assigned is the
scheduler's rule (bot/jobs/scheduler.py); this module only stores and orders by them.

Why one module over 400 lines: it is the SQLite store of one table, and it also holds the SQL
text the PostgreSQL store shares (`HOT_QUERIES`, the transition and record helpers): the two
engines stay in step because both read their statements from here.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import fields, replace
from typing import Any

import aiosqlite

from storage.audit import insert_audit
from storage.changes import Change, ChangeKind, job_change
from storage.records import (
    ACTIVE_STATES,
    OWNED_STATES,
    STATE_TIMESTAMP,
    TRANSITIONS,
    AuditEntry,
    InvalidTransition,
    JobRecord,
    JobState,
    Lease,
    NewJob,
    QueuePosition,
    QueueSummary,
)
from storage.sqlite import Connections

__all__ = [
    "SqliteJobStore",
    "SETTABLE_FIELDS",
    "HOT_QUERIES",
    "ACTIVE_IN",
    "OWNED_IN",
    "COLUMN_LIST",
    "INSERT_JOB",
    "PURGE",
    "insert_params",
    "gaps_query",
    "job_record",
    "places_of",
    "summary_of",
    "transition_assignments",
    "transition_sql",
    "replace_prompt_sql",
]

_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(JobRecord))
_COLUMN_LIST = COLUMN_LIST = ", ".join(_COLUMNS)
_PARAMS_AT = _COLUMNS.index("params")
_STATE_AT = _COLUMNS.index("state")
_STATES = {state.value: state for state in JobState}
# The summary's columns: a count per state, queued users, queued cost, oldest queued; a job.
_SUMMARY_JOB_AT = len(_STATES) + 3
# RETURNING hands back integral REALs as ints; keep the record's types stable.
_TIME_AT = tuple(i for i, name in enumerate(_COLUMNS) if name.endswith("_at") or name == "lease_until")

# Fields a transition may set besides the state and its timestamp.
SETTABLE_FIELDS = frozenset(
    {
        "backend",
        "prompt_id",
        "output_path",
        "status_message_id",
        "result_message_id",
        "error_code",
        "error_text",
        "cancelled_by",
    }
)
# Going back to the queue forgets the old submission: the next claim sets fresh values, and
# a stale prompt_id must not keep matching websocket events of the lost prompt. A queued job
# belongs to nobody.
_CLEARED_ON_REQUEUE = {"backend": None, "prompt_id": None, "output_path": None, "owner": None,
                       "lease_until": None, "claimed_by": None}

_QUEUE_ORDER = "priority_class, round, id"
ACTIVE_IN = ", ".join(f"'{state.value}'" for state in ACTIVE_STATES)
OWNED_IN = ", ".join(f"'{state.value}'" for state in OWNED_STATES)
_PURGEABLE_IN = "'queued', 'submitted', 'running'"
# Pinned: without statistics the planner may prefer `jobs_state` plus a sort, which costs a
# full pass over the queue on every pick. INDEXED BY fails loudly if the index ever goes.
_BY_QUEUE = "INDEXED BY jobs_queue"
_BY_USER_QUEUE = "INDEXED BY jobs_user_queue"
_BY_TEMPLATE = "INDEXED BY jobs_template_queue"

_IN_FLIGHT_IN = "'submitted', 'running'"
_QUEUED_TOTALS = (
    f"SELECT count(*), coalesce(sum(cost), 0) AS cost, min(id) AS first FROM jobs {_BY_QUEUE} "
    "WHERE state = 'queued'"
)


def _summary_sql() -> str:
    """The whole queue at a glance in one statement, so that SQLite answers it from one
    snapshot: the counts by state and the rows of the jobs on a backend always agree (as
    separate reads, a job claimed in between was counted as neither queued nor rendering
    yet listed on its backend). ?1 = since. One row per job on a backend (or one row of
    NULL job columns when none is), each carrying the same counts in front."""
    counts = ", ".join(
        f"(SELECT count(*) FROM jobs WHERE state = '{state.value}'"
        f"{'' if state in ACTIVE_STATES else ' AND updated_at >= ?1'})"
        for state in JobState
    )
    jobs = ", ".join(f"j.{column}" for column in _COLUMNS)
    return (
        f"SELECT {counts}, "
        f"(SELECT count(DISTINCT user_id) FROM jobs {_BY_USER_QUEUE} WHERE state = 'queued'), "
        "t.cost, (SELECT created_at FROM jobs WHERE id = t.first), "
        f"{jobs} FROM ({_QUEUED_TOTALS}) AS t "
        f"LEFT JOIN jobs AS j ON j.state IN ({_IN_FLIGHT_IN}) ORDER BY j.id"
    )


# The statements on a hot path, by name; tests/storage checks that each one uses an index.
HOT_QUERIES: dict[str, str] = {
    "next_queued": f"SELECT {_COLUMN_LIST} FROM jobs {_BY_QUEUE} WHERE state = 'queued' "
    f"ORDER BY {_QUEUE_ORDER} LIMIT 1",
    "position": "SELECT j.id, count(q.id), coalesce(sum(q.cost), 0) FROM jobs AS j "
    f"LEFT JOIN jobs AS q {_BY_QUEUE} ON q.state = 'queued' "
    "AND (q.priority_class, q.round, q.id) < (j.priority_class, j.round, j.id) "
    "WHERE j.id = ? AND j.state = 'queued' GROUP BY j.id",
    "range": f"SELECT count(*), coalesce(sum(cost), 0) FROM jobs {_BY_QUEUE} "
    "WHERE state = 'queued' "
    "AND (priority_class, round, id) >= (?, ?, ?) AND (priority_class, round, id) < (?, ?, ?)",
    "round_inputs": "SELECT (SELECT round FROM fair_clock WHERE priority_class = ?2), "
    f"(SELECT max(round) FROM jobs {_BY_USER_QUEUE} "
    "WHERE state = 'queued' AND user_id = ?1 AND priority_class = ?2)",
    # Kept by triggers (migration 0004); `queued_totals` counts the same thing the slow way.
    "count_queued": "SELECT queued FROM queue_length WHERE id = 1",
    "count_active": f"SELECT count(*) FROM jobs "
    f"WHERE guild_id = ? AND user_id = ? AND state IN ({ACTIVE_IN})",
    "queued_for_user": f"SELECT {_COLUMN_LIST} FROM jobs "
    f"WHERE guild_id = ? AND user_id = ? AND state = 'queued' ORDER BY {_QUEUE_ORDER}",
    "unfinished": f"SELECT {_COLUMN_LIST} FROM jobs WHERE state IN ({ACTIVE_IN}) ORDER BY id",
    "by_prompt_id": f"SELECT {_COLUMN_LIST} FROM jobs WHERE prompt_id = ?",
    # Counted in every claim's transaction: the jobs on a backend now, whoever holds them.
    "in_flight": f"SELECT count(*) FROM jobs WHERE backend = ? AND state IN ({_IN_FLIGHT_IN})",
    # The heartbeat, adoption and its timer (see JobStore.renew, adopt, next_expiry).
    # ?3: the job ids, a JSON array (one statement, one parameter, whatever their number).
    "renew": f"UPDATE jobs SET lease_until = ?1 WHERE owner = ?2 AND state IN ({OWNED_IN}) "
    "AND id IN (SELECT value FROM json_each(?3)) RETURNING id",
    "adopt": f"UPDATE jobs SET owner = ?, lease_until = ? WHERE state IN ({OWNED_IN}) "
    f"AND (lease_until IS NULL OR lease_until < ?) RETURNING {_COLUMN_LIST}",
    "next_expiry": f"SELECT min(coalesce(lease_until, 0)) FROM jobs WHERE state IN ({OWNED_IN}) "
    "AND (owner IS NULL OR owner <> ?)",
    "release": f"UPDATE jobs SET lease_until = 0 WHERE owner = ? AND state IN ({OWNED_IN})",
    "queued_totals": _QUEUED_TOTALS,
    "summary": _summary_sql(),
}


PURGE = (
    "UPDATE jobs SET state = 'cancelled', cancelled_by = ?, cancelled_at = ?, "
    f"updated_at = ? WHERE guild_id = ? AND user_id = ? AND state IN ({_PURGEABLE_IN}) "
    f"RETURNING {_COLUMN_LIST}"
)
INSERT_JOB = (
    "INSERT INTO jobs (guild_id, channel_id, user_id, locale, template, params, cost, "
    "priority_class, round, state, attempts, created_at, updated_at, queued_at) "
    f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?) RETURNING {_COLUMN_LIST}"
)


def insert_params(job: NewJob, now: float) -> tuple[Any, ...]:
    """The values of `INSERT_JOB`."""
    return (
        job.guild_id,
        job.channel_id,
        job.user_id,
        job.locale,
        job.template,
        _encode_params(job.params),
        job.cost,
        job.priority_class,
        job.round,
        now,
        now,
        now,
    )


def _record(row: Sequence[Any]) -> JobRecord:
    """A `JobRecord` from a row of `_COLUMNS`."""
    values = list(row)
    values[_PARAMS_AT] = json.loads(values[_PARAMS_AT])
    values[_STATE_AT] = _STATES[values[_STATE_AT]]
    for i in _TIME_AT:
        if values[i] is not None:
            values[i] = float(values[i])
    return JobRecord(*values)


job_record = _record


def _encode_params(params: dict[str, Any]) -> str:
    return json.dumps(params, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def gaps_query(jobs: Sequence[JobRecord]) -> tuple[str, list[int]]:
    """One statement counting the queued jobs (and their cost) between consecutive jobs of
    one requester, in queue order: the scan covers the queue only up to their last job, once."""
    # Below any job (the class is a 32-bit column on PostgreSQL).
    bounds = [(-(2**31), -(2**62), -(2**62)), *(job.sort_key for job in jobs)]
    parts = [f"SELECT {i}, * FROM ({HOT_QUERIES['range']}) AS gap" for i in range(len(jobs))]
    params = [value for i in range(len(jobs)) for value in (*bounds[i], *bounds[i + 1])]
    return " UNION ALL ".join(parts), params


def places_of(
    jobs: Sequence[JobRecord], gaps: Sequence[Sequence[Any]]
) -> list[tuple[JobRecord, QueuePosition]]:
    """Each job with its position, from the rows of `gaps_query`: the gaps added up."""
    places, ahead, cost_ahead = [], 0, 0
    for job, (_, count, cost) in zip(jobs, sorted(tuple(gap) for gap in gaps), strict=True):
        ahead, cost_ahead = ahead + int(count), cost_ahead + int(cost)
        places.append((job, QueuePosition(ahead, cost_ahead)))
    return places


def summary_of(rows: Sequence[Sequence[Any]], since: float) -> QueueSummary:
    """The `QueueSummary` from the rows of the `summary` statement."""
    head = rows[0]  # the anchor (`t`) always yields one row
    *counts, users, cost, oldest = head[:_SUMMARY_JOB_AT]
    in_flight = tuple(
        _record(row[_SUMMARY_JOB_AT:]) for row in rows if row[_SUMMARY_JOB_AT] is not None
    )
    return QueueSummary(
        by_state=dict(zip(JobState, map(int, counts), strict=True)),
        by_backend=dict(Counter(str(job.backend) for job in in_flight)),
        queued_users=int(users),
        oldest_queued_at=None if oldest is None else float(oldest),
        queued_cost=int(cost),
        since=since,
        in_flight=in_flight,
    )


def _not_in(column: str, values: Collection[int]) -> tuple[str, list[int]]:
    if not values:
        return "", []
    marks = ", ".join("?" for _ in values)
    return f" AND {column} NOT IN ({marks})", list(values)


def _candidates(exclude_guilds: Collection[int], templates: Collection[str] | None) -> tuple[str, list[Any]]:
    """The WHERE clause of the jobs a claim may take (see `JobStore.claim_next`)."""
    skip, params = _not_in("guild_id", exclude_guilds)
    where: list[Any] = list(params)
    clause = f"state = 'queued'{skip}"
    if templates is not None:
        names = sorted(set(templates))
        clause += f" AND template IN ({', '.join('?' for _ in names)})"
        where += names
    return clause, where


async def _count(conn: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> int:
    rows = list(await conn.execute_fetchall(sql, params))
    return int(rows[0][0])


async def _first(conn: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> tuple[int, int, int] | None:
    rows = list(await conn.execute_fetchall(sql, params))
    return (int(rows[0][0]), int(rows[0][1]), int(rows[0][2])) if rows else None


async def _preferred(conn: aiosqlite.Connection, where: str, params: list[Any], head: tuple[int, int, int],
                     prefer: str, window: int) -> tuple[int, int, int] | None:
    """The first candidate of template `prefer` in head's class, if affinity may take it now;
    the candidates it passes over are counted. None: take the head."""
    pref = await _first(conn, f"SELECT {_QUEUE_ORDER} FROM jobs {_BY_TEMPLATE} WHERE {where} AND template = ? "
                        "AND priority_class = ? ORDER BY round, id LIMIT 1", [*params, prefer, head[0]])
    if pref is None or pref == head:
        return None
    ahead = f"{where} AND ({_QUEUE_ORDER}) < (?, ?, ?)"
    starved = await _first(conn, f"SELECT {_QUEUE_ORDER} FROM jobs {_BY_QUEUE} WHERE {ahead} AND passed_over >= ? "
                           "LIMIT 1", [*params, *pref, window])
    if starved is not None:
        return None
    await conn.execute(f"UPDATE jobs SET passed_over = passed_over + 1 WHERE {ahead}", [*params, *pref])
    return pref


def transition_assignments(
    from_state: JobState, to_state: JobState, now: float, fields_: dict[str, Any]
) -> dict[str, Any]:
    """The columns a transition sets, checked against the state machine (both engines)."""
    if to_state not in TRANSITIONS[from_state]:
        raise InvalidTransition(from_state, to_state)
    unknown = set(fields_) - SETTABLE_FIELDS
    if unknown:
        raise ValueError(f"not settable by a transition: {sorted(unknown)}")
    if to_state is JobState.QUEUED:
        fields_ = {**_CLEARED_ON_REQUEUE, **fields_}
    assignments = {"state": to_state.value, STATE_TIMESTAMP[to_state]: now, "updated_at": now}
    assignments.update(fields_)
    return assignments


def transition_sql(job_id: int, from_state: JobState, to_state: JobState, now: float, fields_: dict[str, Any],
                   owner: str | None) -> tuple[str, list[Any]]:
    """The conditional update of a transition (both engines; `pg()` for PostgreSQL): only from
    `from_state` and, with `owner`, only while that process holds the job. Returns the guild."""
    assignments = transition_assignments(from_state, to_state, now, fields_)
    sets = ", ".join(f"{column} = ?" for column in assignments)
    held = "" if owner is None else " AND owner = ?"
    sql = f"UPDATE jobs SET {sets} WHERE id = ? AND state = ?{held} RETURNING guild_id"
    return sql, [*assignments.values(), job_id, from_state.value, *([] if owner is None else [owner])]


def replace_prompt_sql(owner: str | None) -> str:
    """`JobStore.replace_prompt_id` (both engines): params new, now, id, old[, owner]."""
    held = "" if owner is None else " AND owner = ?"
    return ("UPDATE jobs SET prompt_id = ?, updated_at = ? "
            f"WHERE id = ? AND prompt_id = ? AND state IN ({_IN_FLIGHT_IN}){held}")


def _claimed_sets(lease: Lease | None) -> tuple[str, list[Any]]:
    """What a claim sets besides the state, the backend and the prompt: the claimer's lease."""
    if lease is None:
        return "", []
    return ", owner = ?, lease_until = ?, claimed_by = ?", [lease.owner, lease.until, lease.owner]


class SqliteJobStore:
    """`storage.interface.JobStore` on SQLite."""

    def __init__(self, conns: Connections) -> None:
        self._db = conns

    async def create(self, job: NewJob, now: float) -> JobRecord:
        rows = await self._db.write(INSERT_JOB, insert_params(job, now))
        created = _record(rows[0])
        self._db.committed(job_change(created.id, created.guild_id, None, JobState.QUEUED))
        return created

    async def get(self, job_id: int) -> JobRecord | None:
        row = await self._db.read_one(f"SELECT {_COLUMN_LIST} FROM jobs WHERE id = ?", (job_id,))
        return _record(row) if row else None

    async def by_prompt_id(self, prompt_id: str) -> JobRecord | None:
        row = await self._db.read_one(HOT_QUERIES["by_prompt_id"], (prompt_id,))
        return _record(row) if row else None

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
        if audit is None:
            moved = await self._db.write(sql, params)
        else:
            async with self._db.transaction() as conn:
                moved = list(await conn.execute_fetchall(sql, params))
                if moved:
                    await insert_audit(conn, audit)
        if moved:
            self._db.committed(job_change(job_id, int(moved[0][0]), from_state, to_state))
        return bool(moved)

    async def set_status_message(self, job_id: int, message_id: int) -> bool:
        changed = await self._db.write_changes(
            "UPDATE jobs SET status_message_id = ? WHERE id = ?", (message_id, job_id)
        )
        return changed == 1

    async def replace_prompt_id(self, job_id: int, old: str, new: str, now: float, *,
                                owner: str | None = None) -> bool:
        params = [new, now, job_id, old, *([] if owner is None else [owner])]
        return await self._db.write_changes(replace_prompt_sql(owner), params) == 1

    async def next_queued(self, exclude_guilds: Collection[int] = ()) -> JobRecord | None:
        skip, skip_params = _not_in("guild_id", exclude_guilds)
        row = await self._db.read_one(
            f"SELECT {_COLUMN_LIST} FROM jobs {_BY_QUEUE} WHERE state = 'queued'{skip} "
            f"ORDER BY {_QUEUE_ORDER} LIMIT 1",
            skip_params,
        )
        return _record(row) if row else None

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
        where, where_params = _candidates(exclude_guilds, templates)
        head_sql = f"SELECT {_QUEUE_ORDER} FROM jobs {_BY_QUEUE} WHERE {where} ORDER BY {_QUEUE_ORDER} LIMIT 1"
        extra_sets, extra_params = _claimed_sets(lease)
        async with self._db.transaction() as conn:
            # One writer at a time on the file: the count and the take below are atomic.
            if capacity is not None and await _count(conn, HOT_QUERIES["in_flight"], [backend]) >= capacity:
                return None
            # Without affinity the pick is a subquery of the move: one statement, one seek.
            target, target_params = f"(SELECT id FROM ({head_sql}))", where_params
            if prefer is not None and window > 0:
                head = await _first(conn, head_sql, where_params)
                if head is None:
                    return None
                chosen = await _preferred(conn, where, where_params, head, prefer, window) or head
                target, target_params = "?", [chosen[2]]
            # `AND state = 'queued'`: a no-op if another connection took the row meanwhile.
            rows = list(await conn.execute_fetchall(
                "UPDATE jobs SET state = 'submitted', backend = ?, prompt_id = ?, "
                f"attempts = attempts + 1, submitted_at = ?, updated_at = ?{extra_sets} "
                f"WHERE id = {target} AND state = 'queued' RETURNING {_COLUMN_LIST}",
                [backend, prompt_id, now, now, *extra_params, *target_params]))
            if not rows:
                return None
            job = _record(rows[0])
            await conn.execute(
                "INSERT INTO fair_clock (priority_class, round) VALUES (?, ?) "
                "ON CONFLICT (priority_class) DO UPDATE SET round = max(round, excluded.round)",
                (job.priority_class, job.round),
            )
            return job

    async def in_flight(self, backend: str) -> int:
        row = await self._db.read_one(HOT_QUERIES["in_flight"], (backend,))
        return int(row[0]) if row else 0

    async def renew(self, lease: Lease, job_ids: Collection[int]) -> list[int]:
        if not job_ids:
            return []
        ids = json.dumps(sorted(job_ids))
        rows = await self._db.write(HOT_QUERIES["renew"], (lease.until, lease.owner, ids))
        return sorted(int(row[0]) for row in rows)

    async def adopt(self, lease: Lease, now: float) -> list[JobRecord]:
        rows = await self._db.write(HOT_QUERIES["adopt"], (lease.owner, lease.until, now))
        return sorted((_record(row) for row in rows), key=lambda job: job.id)

    async def next_expiry(self, owner: str) -> float | None:
        row = await self._db.read_one(HOT_QUERIES["next_expiry"], (owner,))
        return None if row is None or row[0] is None else float(row[0])

    async def release(self, owner: str) -> int:
        released = await self._db.write_changes(HOT_QUERIES["release"], (owner,))
        if released:
            self._db.committed(Change(ChangeKind.ADOPTABLE))
        return released

    async def fair_clock(self, priority_class: int) -> int:
        row = await self._db.read_one(
            "SELECT round FROM fair_clock WHERE priority_class = ?", (priority_class,)
        )
        return int(row[0]) if row else 0

    async def round_inputs(self, user_id: int, priority_class: int) -> tuple[int, int | None]:
        row = await self._db.read_one(HOT_QUERIES["round_inputs"], (user_id, priority_class))
        assert row is not None  # a SELECT of scalar subqueries always yields one row
        clock = 0 if row[0] is None else int(row[0])
        return clock, None if row[1] is None else int(row[1])

    async def position(self, job_id: int) -> QueuePosition | None:
        row = await self._db.read_one(HOT_QUERIES["position"], (job_id,))
        return QueuePosition(int(row[1]), int(row[2])) if row else None

    async def queue_places(
        self, guild_id: int, user_id: int
    ) -> list[tuple[JobRecord, QueuePosition]]:
        rows = await self._db.read(HOT_QUERIES["queued_for_user"], (guild_id, user_id))
        jobs = [_record(row) for row in rows]
        if not jobs:
            return []
        sql, params = gaps_query(jobs)
        return places_of(jobs, await self._db.read(sql, params))

    async def count_queued(self) -> int:
        row = await self._db.read_one(HOT_QUERIES["count_queued"])
        return int(row[0]) if row else 0

    async def count_active(self, guild_id: int, user_id: int) -> int:
        row = await self._db.read_one(HOT_QUERIES["count_active"], (guild_id, user_id))
        return int(row[0]) if row else 0

    async def active_for_user(self, guild_id: int, user_id: int) -> list[JobRecord]:
        rows = await self._db.read(
            f"SELECT {_COLUMN_LIST} FROM jobs WHERE guild_id = ? AND user_id = ? "
            f"AND state IN ({ACTIVE_IN}) ORDER BY id",
            (guild_id, user_id),
        )
        return [_record(row) for row in rows]

    async def in_states(self, states: Sequence[JobState]) -> list[JobRecord]:
        if not states:
            return []
        marks = ", ".join("?" for _ in states)
        rows = await self._db.read(
            f"SELECT {_COLUMN_LIST} FROM jobs WHERE state IN ({marks}) ORDER BY id",
            [state.value for state in states],
        )
        return [_record(row) for row in rows]

    async def unfinished(self) -> list[JobRecord]:
        return [_record(row) for row in await self._db.read(HOT_QUERIES["unfinished"])]

    async def summary(self, since: float) -> QueueSummary:
        return summary_of(await self._db.read(HOT_QUERIES["summary"], (since,)), since)

    async def recent_for_user(self, guild_id: int, user_id: int, limit: int) -> list[JobRecord]:
        rows = await self._db.read(
            f"SELECT {_COLUMN_LIST} FROM jobs WHERE guild_id = ? AND user_id = ? "
            "ORDER BY id DESC LIMIT ?",
            (guild_id, user_id, limit),
        )
        return [_record(row) for row in rows]

    async def purge_user(
        self, guild_id: int, user_id: int, by: int, now: float, audit: AuditEntry
    ) -> list[JobRecord]:
        async with self._db.transaction() as conn:
            rows = await conn.execute_fetchall(PURGE, (by, now, now, guild_id, user_id))
            jobs = sorted((_record(row) for row in rows), key=lambda job: job.id)
            details = {**audit.details, "jobs": [job.id for job in jobs]}
            await insert_audit(conn, replace(audit, details=details))
        for job in jobs:
            self._db.committed(job_change(job.id, job.guild_id, None, JobState.CANCELLED))
        return jobs
