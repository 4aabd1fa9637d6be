"""Cancel (owner or admin only, who is recorded), pause/resume, drain, purge, audit log."""

from __future__ import annotations

from bot.jobs import CancelOutcome, JobState, Requester
from tests.jobs.conftest import GUILD, Jobs, member, video
from tests.stores import each_engine  # noqa: F401  (the store-using tests run on both engines)

OWNER, STRANGER, MOD = 1, 2, 99


async def test_owner_cancels_a_queued_job(jobs: Jobs) -> None:
    job = await jobs.scheduler.enqueue(member(OWNER), video())
    result = await jobs.scheduler.cancel(job.id, by_user_id=OWNER)
    assert result.outcome is CancelOutcome.CANCELLED
    assert result.previous_state is JobState.QUEUED
    assert result.job is not None and result.job.cancelled_by == OWNER
    assert result.render("zh-CN", job.id) == f"视频 #{job.id} 已取消。"
    assert await jobs.db.audit.recent(GUILD) == []  # owners cancelling are not admin actions


async def test_a_stranger_cannot_cancel(jobs: Jobs) -> None:
    job = await jobs.scheduler.enqueue(member(OWNER), video())
    result = await jobs.scheduler.cancel(job.id, by_user_id=STRANGER)
    assert result.outcome is CancelOutcome.NOT_ALLOWED
    assert (await jobs.db.jobs.get(job.id)).state is JobState.QUEUED  # type: ignore[union-attr]
    assert "Only the person who asked" in result.render("en", job.id)


async def test_an_admin_cancels_a_running_job_and_it_is_audited(jobs: Jobs) -> None:
    job = await jobs.scheduler.enqueue(member(OWNER), video())
    await jobs.scheduler.claim_next("gpu-a")
    result = await jobs.scheduler.cancel(job.id, by_user_id=MOD, is_admin=True)
    assert result.outcome is CancelOutcome.CANCELLED
    assert result.previous_state is JobState.SUBMITTED  # the caller interrupts the backend
    assert result.job is not None and result.job.cancelled_by == MOD
    (entry,) = await jobs.db.audit.recent(GUILD)
    assert (entry.action, entry.actor_id, entry.target) == ("cancel", MOD, f"job:{job.id}")


async def test_too_late_and_not_found(jobs: Jobs) -> None:
    job = await jobs.scheduler.enqueue(member(OWNER), video())
    claimed = await jobs.scheduler.claim_next("gpu-a")
    assert claimed is not None and await jobs.scheduler.mark_fetched(claimed, "/tmp/out.mp4")
    assert (await jobs.scheduler.cancel(job.id, OWNER)).outcome is CancelOutcome.TOO_LATE
    assert (await jobs.scheduler.cancel(12345, OWNER)).outcome is CancelOutcome.NOT_FOUND


async def test_pause_holds_the_guilds_jobs_and_resume_releases_them(jobs: Jobs) -> None:
    paused_job = await jobs.scheduler.enqueue(member(OWNER), video())
    await jobs.admin.pause(GUILD, by=MOD)
    elsewhere = await jobs.scheduler.enqueue(Requester(GUILD + 1, 20, 7), video())
    claimed = await jobs.scheduler.claim_next("gpu-a")
    assert claimed is not None and claimed.id == elsewhere.id  # other guilds go on
    assert await jobs.scheduler.claim_next("gpu-a") is None
    await jobs.admin.resume(GUILD, by=MOD)
    claimed = await jobs.scheduler.claim_next("gpu-a")
    assert claimed is not None and claimed.id == paused_job.id
    actions = [entry.action for entry in await jobs.db.audit.recent(GUILD)]
    assert actions == ["resume", "pause"]


async def test_drain_stops_claims_and_reports_when_idle(jobs: Jobs) -> None:
    await jobs.scheduler.enqueue(member(OWNER), video())
    await jobs.scheduler.enqueue(member(OWNER), video())
    running = await jobs.scheduler.claim_next("gpu-a")
    assert running is not None
    await jobs.admin.drain(by=MOD)
    assert await jobs.scheduler.claim_next("gpu-b") is None
    assert not await jobs.admin.is_drained()
    assert await jobs.scheduler.mark_fetched(running, "/tmp/a.mp4")
    fetched = await jobs.db.jobs.get(running.id)
    assert fetched is not None
    assert await jobs.db.jobs.transition(
        fetched.id, JobState.FETCHED, JobState.DELIVERED, jobs.clock.now(), result_message_id=5
    )
    assert await jobs.admin.is_drained()
    assert await jobs.db.jobs.count_queued() == 1  # kept for after the restart
    await jobs.admin.undrain(by=MOD)
    assert not await jobs.admin.is_drained()
    assert await jobs.scheduler.claim_next("gpu-b") is not None
    assert [e.action for e in await jobs.db.audit.recent(None)] == ["undrain", "drain"]


async def test_purge_cancels_everything_of_a_member_without_refund(jobs: Jobs) -> None:
    for _ in range(3):
        await jobs.scheduler.enqueue(member(OWNER), video())
    keep = await jobs.scheduler.enqueue(member(STRANGER), video())
    purged = await jobs.admin.purge_user(GUILD, OWNER, by=MOD)
    assert len(purged) == 3 and all(job.cancelled_by == MOD for job in purged)
    assert await jobs.db.jobs.count_active(GUILD, OWNER) == 0
    assert (await jobs.db.jobs.get(keep.id)).state is JobState.QUEUED  # type: ignore[union-attr]
    (entry,) = await jobs.db.audit.recent(GUILD)
    assert entry.action == "purge" and entry.target == f"user:{OWNER}"


async def test_settings_changes_are_audited(jobs: Jobs) -> None:
    await jobs.admin.set_limits(GUILD, MOD, {"burst": 3})
    await jobs.admin.set_role_limits(GUILD, MOD, 555, {"priority": 1})
    await jobs.admin.set_allowed_channels(GUILD, MOD, [1, 1, 2])
    settings = await jobs.admin.set_blocked_words(GUILD, MOD, [" gore ", "gore", ""])
    assert settings.allowed_channels == (1, 2) and settings.blocked_words == ("gore",)
    assert settings.limits == {"burst": 3} and settings.role_limits == {"555": {"priority": 1}}
    entries = await jobs.db.audit.recent(GUILD)
    assert [e.action for e in entries] == [
        "set_blocked_words",
        "set_channels",
        "set_role_limits",
        "set_limits",
    ]
    assert all(e.actor_id == MOD for e in entries)
    assert entries[0].details == {"count": 1}
