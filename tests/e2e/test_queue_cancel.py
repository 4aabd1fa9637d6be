"""`/cancel` on the real bot: the default job, queued / prefetched / running jobs (ComfyUI
really stops), other members' jobs, moderators (audited), autocomplete."""

from __future__ import annotations

import pytest

from bot.jobs import JobState, Requester
from tests.e2e._queue_helpers import (
    SLOW_STEP,
    Deliveries,
    answer_of,
    audit,
    eventually,
    interrupted_on_comfy,
    prepare,
    submit,
    video,
    wait_state,
)
from tests.e2e.conftest import World

EN, ZH = "en-US", "zh-CN"


@pytest.fixture
async def deliveries(world: World) -> Deliveries:
    return await prepare(world)


async def test_cancel_without_a_job_takes_the_latest_active_one(world: World, deliveries: Deliveries) -> None:
    alice = world.discord.world.user_named("alice")
    world.comfy.step_seconds = SLOW_STEP  # the first job stays running until cancelled
    running = await submit(world, alice, "one")
    await wait_state(world, running.id, JobState.RUNNING)
    prefetched = await submit(world, alice, "two")
    prefetched = await wait_state(world, prefetched.id, JobState.SUBMITTED)
    queued = await submit(world, alice, "three")

    handle = await world.discord.slash("cancel", user=alice)
    message = await answer_of(handle)
    assert message.content == f"Video #{queued.id} cancelled." and message.ephemeral and message.pings.none
    assert (await wait_state(world, queued.id, JobState.CANCELLED)).cancelled_by == alice.id

    # Next the prefetched one: it leaves ComfyUI's own queue too.
    handle = await world.discord.slash("cancel", user=alice, locale=ZH)
    assert (await answer_of(handle)).content == f"视频 #{prefetched.id} 已取消。"
    assert prefetched.prompt_id not in world.comfy.queue_pending
    assert (await world.services.db.jobs.get(running.id)).state is JobState.RUNNING  # untouched


async def test_cancel_a_running_job_interrupts_it_on_comfyui(world: World, deliveries: Deliveries) -> None:
    alice = world.discord.world.user_named("alice")
    world.comfy.step_seconds = SLOW_STEP
    job = await submit(world, alice)
    job = await wait_state(world, job.id, JobState.RUNNING)
    assert job.prompt_id is not None
    await eventually(lambda: world.comfy.running == job.prompt_id, "ComfyUI runs the prompt")

    handle = await world.discord.slash("cancel", {"job": job.id}, user=alice)

    assert (await answer_of(handle)).content == f"Video #{job.id} cancelled."
    await eventually(lambda: interrupted_on_comfy(world, job.prompt_id), "ComfyUI reports the interrupt")
    assert (await world.services.db.jobs.get(job.id)).state is JobState.CANCELLED
    assert deliveries.posted == {}


@pytest.mark.parametrize(
    ("locale", "refusal"),
    [(EN, "Only the person who asked for video #{id} or a moderator can cancel it."),
     (ZH, "只有视频 #{id} 的请求者或管理员可以取消它。")],
)
async def test_cancel_refuses_someone_elses_job(
    world: World, deliveries: Deliveries, locale: str, refusal: str
) -> None:
    fake = world.discord.world
    world.comfy.step_seconds = SLOW_STEP  # the first job stays running until cancelled
    job = await submit(world, fake.user_named("alice"))

    handle = await world.discord.slash("cancel", {"job": job.id}, user=fake.user_named("carol"), locale=locale)

    message = await answer_of(handle)
    assert message.content == refusal.format(id=job.id) and message.ephemeral
    assert (await world.services.db.jobs.get(job.id)).is_active


async def test_a_moderator_cancels_anyones_job_and_it_is_audited(world: World, deliveries: Deliveries) -> None:
    fake = world.discord.world
    alice, bob = fake.user_named("alice"), fake.user_named("bob")
    world.comfy.step_seconds = SLOW_STEP
    job = await submit(world, alice)
    job = await wait_state(world, job.id, JobState.RUNNING)

    handle = await world.discord.slash("cancel", {"job": job.id}, user=bob)

    assert (await answer_of(handle)).content == f"Video #{job.id} cancelled."
    assert (await world.services.db.jobs.get(job.id)).cancelled_by == bob.id
    (entry,) = await audit(world)
    assert (entry.action, entry.actor_id, entry.target) == ("cancel", bob.id, f"job:{job.id}")
    await eventually(lambda: interrupted_on_comfy(world, job.prompt_id or ""), "ComfyUI reports the interrupt")


async def test_a_moderator_cannot_reach_another_servers_job(world: World, deliveries: Deliveries) -> None:
    world.comfy.step_seconds = SLOW_STEP  # the first job stays running until cancelled
    elsewhere = await world.services.admission.submit(Requester(42, 43, 44), video(world, "not yours"))
    handle = await world.discord.slash("cancel", {"job": elsewhere.id}, user=world.discord.world.user_named("bob"))
    assert (await answer_of(handle)).content == f"There is no video #{elsewhere.id}."
    assert (await world.services.db.jobs.get(elsewhere.id)).is_active


@pytest.mark.parametrize(
    ("locale", "text"),
    [(EN, "You have no video queued or rendering to cancel."), (ZH, "你没有可以取消的排队中或生成中的视频。")],
)
async def test_cancel_with_nothing_to_cancel(world: World, deliveries: Deliveries, locale: str, text: str) -> None:
    handle = await world.discord.slash("cancel", user=world.discord.world.user_named("carol"), locale=locale)
    assert (await answer_of(handle)).content == text


async def test_cancel_of_a_finished_job_is_too_late(world: World, deliveries: Deliveries) -> None:
    alice = world.discord.world.user_named("alice")
    job = await submit(world, alice)
    await wait_state(world, job.id, JobState.DELIVERED)
    handle = await world.discord.slash("cancel", {"job": job.id}, user=alice)
    assert "already finished" in (await answer_of(handle)).content


async def test_autocomplete_offers_own_jobs_and_moderators_all(world: World, deliveries: Deliveries) -> None:
    fake = world.discord.world
    alice, bob, carol = fake.user_named("alice"), fake.user_named("bob"), fake.user_named("carol")
    world.comfy.step_seconds = SLOW_STEP  # the first job stays running until cancelled
    first = await submit(world, carol, "alpha clip")
    theirs = await submit(world, alice, "gamma clip")
    assert (first.id, theirs.id) == (1, 2)
    await wait_state(world, first.id, JobState.RUNNING)
    await wait_state(world, theirs.id, JobState.SUBMITTED)

    async def choices(typed: int, user: object, locale: str = EN) -> list[dict[str, object]]:
        # The fake types the focused value from the synced INTEGER option, so the test types
        # digits (Discord itself would pass any partial text through).
        handle = await world.discord.autocomplete("cancel", {"job": typed}, focused="job", user=user, locale=locale)
        await handle.acked()
        return handle.choices or []

    (own,) = await choices(1, carol)
    assert own["value"] == first.id and own["name"] == "#1 · 🎬 rendering · alpha clip"
    assert await choices(2, carol) == []  # alice's job is not carol's to cancel
    (other,) = await choices(2, bob, ZH)  # a moderator is offered every job of the server
    assert other == {"name": "#2 · 🚀 即将开始 · gamma clip", "value": theirs.id}
