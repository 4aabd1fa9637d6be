"""Guild settings, queue switches, rate buckets, audit log and run statistics."""

from __future__ import annotations


from storage import AuditEntry, GuildSettings, QueueControl, RateBucket, RunSample, Store
from storage.runs import KEEP_PER_BACKEND
from tests.storage.conftest import T0, OpenDb


async def test_guild_settings_default_then_round_trip_with_audit(db: Store) -> None:
    assert await db.guilds.get(5) == GuildSettings(guild_id=5)
    settings = GuildSettings(
        guild_id=5,
        paused=True,
        allowed_channels=(1, 2),
        blocked_words=("貓", "gore"),
        limits={"burst": 4},
        role_limits={"77": {"videos_per_hour": 10}},
    )
    await db.guilds.save(settings, AuditEntry(T0, 42, "set", 5, "settings"))
    stored = await db.guilds.get(5)
    assert stored.paused and stored.allowed_channels == (1, 2)
    assert stored.blocked_words == ("貓", "gore")
    assert stored.limits == {"burst": 4} and stored.role_limits == {"77": {"videos_per_hour": 10}}
    assert (stored.updated_at, stored.updated_by) == (T0, 42)
    assert await db.guilds.paused_guilds() == [5]
    assert [entry.action for entry in await db.audit.recent(5)] == ["set"]


async def test_queue_control_round_trip(db: Store) -> None:
    assert await db.control.get() == QueueControl()
    await db.control.save(QueueControl(draining=True), AuditEntry(T0, 1, "drain"))
    control = await db.control.get()
    assert control.draining and control.updated_by == 1


async def test_audit_log_newest_first_and_per_guild(db: Store) -> None:
    for n in range(3):
        await db.audit.record(AuditEntry(T0 + n, 1, f"a{n}", 5, details={"n": n}))
    await db.audit.record(AuditEntry(T0, 1, "other", 6))
    entries = await db.audit.recent(5, limit=2)
    assert [(e.action, e.details) for e in entries] == [("a2", {"n": 2}), ("a1", {"n": 1})]


async def test_rate_bucket_compare_and_set(db: Store) -> None:
    bucket = RateBucket(5, 1, tokens=1.0, updated_at=T0, capacity=2.0, per_second=0.01)
    assert await db.quotas.get(5, 1) is None
    assert await db.quotas.put(bucket, expected_version=None)
    assert not await db.quotas.put(bucket, expected_version=None)  # already exists
    stored = await db.quotas.get(5, 1)
    assert stored is not None and stored.version == 1
    assert await db.quotas.put(RateBucket(5, 1, 0.0, T0 + 1, 2.0, 0.01), expected_version=1)
    assert not await db.quotas.put(RateBucket(5, 1, 2.0, T0 + 2, 2.0, 0.01), expected_version=1)
    assert (await db.quotas.get(5, 1)).tokens == 0.0  # type: ignore[union-attr]


async def test_rate_buckets_survive_reopen(open_db: OpenDb) -> None:
    db = await open_db()
    await db.quotas.put(RateBucket(5, 1, 0.5, T0, 2.0, 0.01), None)
    await db.close()
    db = await open_db()
    assert (await db.quotas.get(5, 1)).tokens == 0.5  # type: ignore[union-attr]


async def test_run_stats_keep_the_newest(db: Store) -> None:
    for n in range(KEEP_PER_BACKEND + 5):
        await db.runs.record(RunSample("gpu-a", 100, float(n), T0 + n))
    await db.runs.record(RunSample("gpu-b", 100, 1.0, T0))
    recent = await db.runs.recent("gpu-a", limit=KEEP_PER_BACKEND + 50)
    assert len(recent) == KEEP_PER_BACKEND
    assert recent[0].seconds == KEEP_PER_BACKEND + 4  # newest first
    assert len(await db.runs.recent("gpu-b", 10)) == 1
