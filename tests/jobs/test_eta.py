"""ETA: cost-weighted moving average per backend, persisted; estimates from queue position."""

from __future__ import annotations


import pytest

from bot.jobs import EtaModel, ManualClock, job_cost
from bot.jobs.eta import DEFAULT_SECONDS_PER_UNIT
from bot.store_target import StoreTarget
from storage import JobRecord, JobState, RunSample, open_store
from tests.jobs.conftest import Jobs, member, video
from tests.stores import each_engine  # noqa: F401  (the store-using tests run on both engines)


def test_cost_is_frames_times_pixels_times_steps() -> None:
    assert job_cost({"frames": 33, "width": 512, "height": 512, "steps": 10}) == 33 * 512 * 512 * 10
    assert job_cost({}) == 81 * 832 * 480 * 15  # the seed's defaults
    assert DEFAULT_SECONDS_PER_UNIT * job_cost({}) == pytest.approx(240)


async def test_cost_weighted_average_over_a_window(store_target: StoreTarget, clock: ManualClock) -> None:
    async with await open_store(store_target.location) as db:
        eta = EtaModel(db.runs, clock, window=3)
        assert eta.seconds_per_unit("gpu") == DEFAULT_SECONDS_PER_UNIT
        await eta.observe("gpu", 100, 1000.0)  # pushed out of the window below
        await eta.observe("gpu", 100, 10.0)
        await eta.observe("gpu", 300, 50.0)
        await eta.observe("gpu", 100, 20.0)
        assert eta.seconds_per_unit("gpu") == pytest.approx(80 / 500)


async def test_speed_survives_a_restart(store_target: StoreTarget, clock: ManualClock) -> None:
    async with await open_store(store_target.location) as db:
        await EtaModel(db.runs, clock).observe("gpu", 1000, 30.0, job_id=None)
    async with await open_store(store_target.location) as db:
        eta = EtaModel(db.runs, clock)
        await eta.load(["gpu", "other"])
        assert eta.seconds_per_unit("gpu") == pytest.approx(0.03)
        assert eta.seconds_per_unit("other") == DEFAULT_SECONDS_PER_UNIT


def _running(backend: str, cost: int, running_at: float) -> JobRecord:
    return JobRecord(
        id=1, guild_id=1, channel_id=1, user_id=1, locale="en", template="t", params={},
        cost=cost, priority_class=0, round=0, state=JobState.RUNNING, attempts=1,
        created_at=0.0, updated_at=0.0, backend=backend, running_at=running_at,
    )  # fmt: skip


async def test_estimate_with_two_backends(store_target: StoreTarget, clock: ManualClock) -> None:
    async with await open_store(store_target.location) as db:
        eta = EtaModel(db.runs, clock)
        await eta.observe("fast", 100, 10.0)  # 0.1 s per unit
        await eta.observe("slow", 100, 40.0)  # 0.4 s per unit
        now = clock.now()
        # 'fast' is 50 s into a 900-unit job (90 s there): 40 s, i.e. 400 units, remain.
        in_flight = [_running("fast", 900, now - 50)]
        estimate = eta.estimate(["fast", "slow"], in_flight, cost_ahead=500, own_cost=100)
        assert estimate is not None
        speed = 1 / 0.1 + 1 / 0.4  # 12.5 units per second together
        running_units = (900 * 0.1 - 50) / 0.1  # 400 units still to do
        assert estimate.starts_at == pytest.approx(now + (running_units + 500) / speed)
        assert estimate.done_at == pytest.approx(estimate.starts_at + 100 * 0.25)
        assert eta.estimate([], in_flight, 500, 100) is None


async def test_places_give_growing_etas_and_fetches_feed_the_model(jobs: Jobs) -> None:
    for user in (1, 2, 1, 2):
        await jobs.scheduler.enqueue(member(user), video())
    running = await jobs.scheduler.claim_next("gpu-a")
    assert running is not None
    places = await jobs.scheduler.places(10, 1)
    assert [place.ahead for place in places] == [None, 1]
    assert places[0].eta is not None and places[1].eta is not None
    assert places[0].eta.done_at < places[1].eta.done_at
    single = await jobs.scheduler.place(places[1].job.id)
    assert single is not None and single.ahead == 1 and single.eta == places[1].eta
    jobs.clock.advance(120)
    assert await jobs.scheduler.mark_fetched(running, "/tmp/x.mp4")
    assert jobs.eta.seconds_per_unit("gpu-a") == pytest.approx(120 / running.cost)
    assert await jobs.scheduler.place(running.id) is not None  # fetched is still active
    summary = await jobs.scheduler.summary()
    assert summary.by_state[JobState.QUEUED] == 3 and summary.by_state[JobState.FETCHED] == 1


async def test_runs_recorded_by_someone_else_show_up_after_the_refresh_age(jobs: Jobs) -> None:
    await jobs.eta.refresh(["gpu-a"])
    await jobs.db.runs.record(RunSample("gpu-a", 1000, 5.0, jobs.clock.now()))  # e.g. dispatcher
    await jobs.eta.refresh(["gpu-a"])
    assert jobs.eta.seconds_per_unit("gpu-a") == DEFAULT_SECONDS_PER_UNIT  # not stale yet
    jobs.clock.advance(30)
    await jobs.eta.refresh(["gpu-a"])
    assert jobs.eta.seconds_per_unit("gpu-a") == pytest.approx(0.005)


async def test_runs_that_took_no_measurable_time_never_break_the_estimate(
    store_target: StoreTarget, clock: ManualClock
) -> None:
    """A run the clock saw take 0 s (a cached result, a coarse clock) must not make the
    backend infinitely fast: estimates stay finite instead of dividing by zero."""
    async with await open_store(store_target.location) as db:
        eta = EtaModel(db.runs, clock)
        await eta.observe("gpu", 100, 0.0)
        now = clock.now()
        estimate = eta.estimate(["gpu"], [_running("gpu", 900, now)], cost_ahead=500, own_cost=100)
        assert estimate is not None
        assert now <= estimate.starts_at <= estimate.done_at < now + 60
