"""Recent run times per backend, so the ETA's moving average survives a restart."""

from __future__ import annotations

from storage.records import RunSample
from storage.sqlite import Connections

__all__ = ["SqliteRunLog", "KEEP_PER_BACKEND"]

# Older samples say nothing about today's speed; keep the table from growing forever.
KEEP_PER_BACKEND = 200


class SqliteRunLog:
    """`storage.interface.RunLog` on SQLite."""

    def __init__(self, conns: Connections) -> None:
        self._db = conns

    async def record(self, sample: RunSample) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO run_stats (backend, cost, seconds, finished_at, job_id) "
                "VALUES (?, ?, ?, ?, ?)",
                (sample.backend, sample.cost, sample.seconds, sample.finished_at, sample.job_id),
            )
            await conn.execute(
                "DELETE FROM run_stats WHERE backend = ? AND id <= ("
                "SELECT id FROM run_stats WHERE backend = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (sample.backend, sample.backend, KEEP_PER_BACKEND),
            )

    async def recent(self, backend: str, limit: int) -> list[RunSample]:
        """Newest first."""
        rows = await self._db.read(
            "SELECT backend, cost, seconds, finished_at, job_id FROM run_stats "
            "WHERE backend = ? ORDER BY id DESC LIMIT ?",
            (backend, limit),
        )
        return [RunSample(*row) for row in rows]
