"""A store call cancelled part-way (a stopping dispatcher cancels its loops in the middle of
claims) leaves the store as it was for everything after it: the next transaction starts, and
what is written afterwards is durable. On SQLite a cancel during `BEGIN` used to leave the
writer inside a transaction nobody ended: every later write joined it, and closing the store
rolled them all back (a released lease came back; a queued job was lost)."""

from __future__ import annotations

import asyncio
import contextlib

from storage import JobState
from tests.storage.conftest import T0, OpenDb, new_job, queue


async def _cancel_after(steps: int, call: asyncio.Future[object] | asyncio.Task[object]) -> None:
    for _ in range(steps):
        await asyncio.sleep(0)
    call.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await call


async def test_a_claim_cancelled_at_any_point_leaves_later_writes_durable(open_db: OpenDb) -> None:
    store = await open_db()
    await queue(store, new_job(1))
    for steps in range(8):  # every suspension point of the claim's first few, in turn
        claim = asyncio.ensure_future(store.jobs.claim_next("gpu-a", f"p{steps}", T0, capacity=2))
        await _cancel_after(steps, claim)
    later = await queue(store, new_job(2, prompt="queued after the cancels"))
    claimed = await store.jobs.claim_next("gpu-b", "p-next", T0, capacity=5)
    assert claimed is not None  # the next transaction starts
    await store.close()

    reopened = await open_db()
    kept = await reopened.jobs.get(later[0].id)
    assert kept is not None and kept.params["prompt"] == "queued after the cancels"
    after = await reopened.jobs.get(claimed.id)
    assert after is not None and after.state is JobState.SUBMITTED and after.prompt_id == "p-next"
