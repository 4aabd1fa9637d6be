"""Admission: each refusal with its exact reason and retry time, in both languages; quota
accounting on cancel and failure."""

from __future__ import annotations

import pytest

from bot.jobs import AdmissionRefused, Fault, Limits, ManualClock, Refusal, Requester
from storage import JobState
from tests.jobs.conftest import GUILD, Jobs, member, video, wire
from tests.storage.conftest import OpenDb
from tests.stores import each_engine  # noqa: F401  (the store-using tests run on both engines)

FIVE_AN_HOUR = Limits(videos_per_hour=5, burst=2, max_active=10)


@pytest.fixture
async def strict(open_db: OpenDb, clock: ManualClock) -> Jobs:
    return wire(await open_db(), clock, limits=FIVE_AN_HOUR, max_queued=100)


async def refusal(jobs: Jobs, user: int = 1, **kwargs: object) -> AdmissionRefused:
    with pytest.raises(AdmissionRefused) as caught:
        await jobs.admission.submit(member(user, **kwargs), video())  # type: ignore[arg-type]
    return caught.value


async def test_rate_limit_refusal_says_when_in_both_languages(strict: Jobs) -> None:
    await strict.admission.submit(member(1), video())
    strict.clock.advance(60)
    await strict.admission.submit(member(1), video())
    refused = await refusal(strict)
    assert refused.reason is Refusal.RATE_LIMITED and not refused.estimated
    # Two spent, 60 s refilled 1/12 of a token: 11/12 of 720 s to go after the second.
    assert refused.retry_at == pytest.approx(strict.clock.now() + 660)
    now = strict.clock.now()
    assert refused.render("en-US", now) == (
        "You have used your videos for now (5 per hour, 2 in a row). "
        "You can make another video in 11 min."
    )
    assert refused.render("zh-CN", now) == (
        "你暂时用完了生成次数（每小时 5 个，最多连续 2 个）。11 分钟后可以再生成。"
    )
    strict.clock.set(refused.retry_at)  # type: ignore[arg-type]
    assert (await strict.admission.submit(member(1), video())).state is JobState.QUEUED


async def test_active_cap(strict: Jobs) -> None:
    await strict.admin.set_limits(GUILD, by=9, limits={"max_active": 1, "burst": 5})
    first = await strict.admission.submit(member(1), video())
    refused = await refusal(strict)
    assert refused.reason is Refusal.TOO_MANY_ACTIVE
    assert refused.values == {"active": 1, "limit": 1}
    # Estimated from the ETA model: the first job's expected end (nothing ahead of it).
    assert refused.estimated and refused.retry_at is not None
    assert "1 videos queued or rendering (your limit is 1)" in refused.render("en", None)
    await strict.scheduler.cancel(first.id, by_user_id=1)
    await strict.admission.submit(member(1), video())


async def test_global_queue_cap(strict: Jobs) -> None:
    strict.admission.max_queued = 3
    for user in (1, 2, 3):
        await strict.admission.submit(member(user), video())
    refused = await refusal(strict, user=4)
    assert refused.reason is Refusal.QUEUE_FULL and refused.values == {"queued": 3}
    assert refused.retry_at is None  # nothing running: no honest estimate
    assert refused.render("zh", None) == "队列已满（3 个视频在等待）。请几分钟后再试。"
    running = await strict.scheduler.claim_next("gpu-a")
    assert running is not None
    await strict.admission.submit(member(4), video())  # back under the cap
    refused = await refusal(strict, user=5)
    # Estimated: when the running job should end (the ETA model's default speed).
    expected_end = strict.clock.now() + strict.eta.remaining_seconds(running, strict.clock.now())
    assert refused.estimated and refused.retry_at == pytest.approx(expected_end)
    assert refused.render("en", strict.clock.now()).endswith("try again in about 4 min.")


async def test_guild_override(strict: Jobs) -> None:
    await strict.admin.set_limits(GUILD, by=9, limits={"burst": 4})
    for _ in range(4):
        await strict.admission.submit(member(1), video())
    assert (await refusal(strict)).reason is Refusal.RATE_LIMITED
    elsewhere = Requester(GUILD + 1, 20, 1)
    assert (await strict.admission.limits_for(elsewhere)).burst == 2
    await strict.admission.submit(elsewhere, video())  # its own bucket, its own limits


async def test_role_override_gives_more_and_priority(strict: Jobs) -> None:
    patron = 555
    await strict.admin.set_role_limits(GUILD, 9, patron, {"burst": 2, "priority": 1})
    for _ in range(4):
        await strict.admission.submit(member(1, roles=(patron,)), video())
    assert (await refusal(strict, roles=(patron,))).reason is Refusal.RATE_LIMITED
    await strict.admission.submit(member(2), video())
    first = await strict.scheduler.claim_next("gpu-a")
    assert first is not None and first.user_id == 1 and first.priority_class == -1
    await strict.admin.set_role_limits(GUILD, 9, patron, None)
    assert (await strict.admission.limits_for(member(1, roles=(patron,)))).burst == 2


async def test_paused_guild(strict: Jobs) -> None:
    await strict.admin.pause(GUILD, by=9)
    refused = await refusal(strict)
    assert refused.reason is Refusal.PAUSED and refused.retry_at is None
    assert "暂停" in refused.render("zh-TW", None)
    await strict.admin.resume(GUILD, by=9)
    await strict.admission.submit(member(1), video())


async def test_draining(strict: Jobs) -> None:
    await strict.admin.drain(by=9)
    refused = await refusal(strict)
    assert refused.reason is Refusal.DRAINING
    assert refused.render("en", None).startswith("The bot is finishing")
    await strict.admin.undrain(by=9)
    await strict.admission.submit(member(1), video())


async def test_channel_not_allowed(strict: Jobs) -> None:
    await strict.admin.set_allowed_channels(GUILD, by=9, channel_ids=[31, 32])
    refused = await refusal(strict, channel=20)
    assert refused.reason is Refusal.CHANNEL_NOT_ALLOWED
    assert refused.render("en", None) == (
        "Videos cannot be made in this channel. Please use <#31>, <#32>."
    )
    await strict.admission.submit(member(1, channel=31), video())


async def test_blocked_word(strict: Jobs) -> None:
    await strict.admin.set_blocked_words(GUILD, by=9, words=["貓"])
    with pytest.raises(AdmissionRefused) as caught:
        await strict.admission.submit(member(1), video("一只猫在冲浪"))
    assert caught.value.reason is Refusal.BLOCKED_WORD and caught.value.values == {"word": "貓"}
    assert caught.value.render("zh", None) == (
        "你的提示词包含本服务器不允许的词：“貓”。请修改后再试。"
    )


async def test_refusals_other_than_rate_cost_no_token(strict: Jobs) -> None:
    await strict.admin.set_blocked_words(GUILD, by=9, words=["bad"])
    for _ in range(5):
        with pytest.raises(AdmissionRefused):
            await strict.admission.submit(member(1), video("bad cat"))
    await strict.admission.submit(member(1), video())
    await strict.admission.submit(member(1), video())  # the burst of 2 is intact


async def _spend_burst(jobs: Jobs) -> list[int]:
    ids = [(await jobs.admission.submit(member(1), video())).id for _ in range(2)]
    assert (await refusal(jobs)).reason is Refusal.RATE_LIMITED
    return ids


async def test_cancel_gives_the_token_back(strict: Jobs) -> None:
    first, _ = await _spend_burst(strict)
    await strict.scheduler.cancel(first, by_user_id=1)
    await strict.admission.submit(member(1), video())


async def test_system_failure_gives_the_token_back(strict: Jobs) -> None:
    await _spend_burst(strict)
    job = await strict.scheduler.claim_next("gpu-a")
    assert job is not None
    assert await strict.scheduler.fail(job, "backend_down", "gpu-a stopped answering", Fault.SYSTEM)
    await strict.admission.submit(member(1), video())


async def test_user_failure_keeps_the_token_spent(strict: Jobs) -> None:
    await _spend_burst(strict)
    job = await strict.scheduler.claim_next("gpu-a")
    assert job is not None
    assert await strict.scheduler.fail(job, "content", "rejected by the safety node", Fault.USER)
    assert (await refusal(strict)).reason is Refusal.RATE_LIMITED


async def test_a_failure_that_lost_the_race_refunds_nothing(strict: Jobs) -> None:
    await _spend_burst(strict)
    job = await strict.scheduler.claim_next("gpu-a")
    assert job is not None
    assert await strict.scheduler.fail(job, "x", "y", Fault.SYSTEM)
    assert not await strict.scheduler.fail(job, "x", "y", Fault.SYSTEM)  # stale copy
    await strict.admission.submit(member(1), video())
    assert (await refusal(strict)).reason is Refusal.RATE_LIMITED
