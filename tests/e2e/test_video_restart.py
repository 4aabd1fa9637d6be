"""Restarts: buttons keep working, a job left mid-render is delivered once by the next bot, a
post that went out just before the crash is found rather than repeated, and the command tree
is not synced again when nothing changed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.delivery.attempts import PostAttempts
from bot.jobs import JobState
from bot.jobs.dispatcher import DeliveryFailed
from tests.e2e._video_helpers import (
    card_of,
    delivered,
    job_id_of,
    restarted,
    results_of,
    send_video,
    shows_done,
    text_of,
    video_world,
    wait_state,
)
from tests.e2e.conftest import World, bot_delivery, stand_in_delivery
from tests.fakes.discord import StoredMessage

pytestmark = pytest.mark.timeout(60)


async def test_buttons_work_after_a_restart(world: World) -> None:
    card = await card_of(await send_video(world, prompt="a lighthouse in a storm"))
    job_id = job_id_of(card)
    video = await delivered(world, job_id)
    await wait_state(world, job_id, JobState.DELIVERED)
    syncs = len(world.discord.syncs)

    async with restarted(world):
        assert len(world.discord.syncs) == syncs  # same definitions: no second sync
        alice = world.discord.world.user_named("alice")
        rerolled = await card_of(await world.discord.click(video.id, f"wanbot:reroll:{job_id}", user=alice))
        again = await wait_state(world, job_id_of(rerolled), JobState.DELIVERED)
        assert again.params["prompt"] == "a lighthouse in a storm"
        delete = await world.discord.click(video.id, f"wanbot:delete:{job_id}", user=alice)
        assert (await delete.wait_for_edit()).content == "Deleted." and video.deleted


async def test_a_card_queued_before_a_restart_is_cancelled_and_edited_after_it(tmp_path: Path) -> None:
    async with video_world(tmp_path, comfy={"paused": True}, max_active=5) as world:
        await card_of(await send_video(world))  # takes the GPU (paused), the next one waits
        card = await card_of(await send_video(world))
        job_id = job_id_of(card)
        async with restarted(world):
            click = await world.discord.click(card.id, f"wanbot:cancel:{job_id}",
                                              user=world.discord.world.user_named("alice"))
            assert (await click.wait_for_edit()).content == f"Video #{job_id} cancelled."
            await world.discord.wait_until(lambda: "Cancelled." in text_of(card), what="the card edit")
            assert card.edits[-1].via == "channel"  # the new process has no token: bot token


async def test_a_job_left_rendering_is_delivered_once_by_the_next_bot(tmp_path: Path) -> None:
    async with video_world(tmp_path, comfy={"steps": 8, "step_seconds": 0.15}) as world:
        card = await card_of(await send_video(world))
        job_id = job_id_of(card)
        await wait_state(world, job_id, JobState.RUNNING)
        async with restarted(world):  # ComfyUI keeps rendering while no bot follows
            await wait_state(world, job_id, JobState.DELIVERED, timeout=20)
            await world.discord.wait_until(lambda: shows_done(card), what="the new bot's card edit")
        assert len(results_of(world, job_id)) == 1
        assert len(world.comfy.accepted) == 1  # re-attached, not submitted again


async def _post_then_crash(world: World) -> tuple[int, StoredMessage]:
    """Run /video until the video is posted, then die before `delivered` is stored."""
    posted = asyncio.Event()

    async def post_then_die(job: Any, video: Path) -> int | None:
        await real(job, video)
        posted.set()
        raise asyncio.CancelledError  # the process dies before `delivered` is stored

    real = stand_in_delivery(world, post_then_die)
    card = await card_of(await send_video(world))
    job_id = job_id_of(card)
    await asyncio.wait_for(posted.wait(), 10)
    first = await delivered(world, job_id)
    assert (await world.services.db.jobs.get(job_id)).state is JobState.FETCHED  # type: ignore[union-attr]
    return job_id, first


async def test_a_post_made_just_before_a_crash_is_not_made_again(tmp_path: Path) -> None:
    async with video_world(tmp_path) as world:
        job_id, first = await _post_then_crash(world)
        async with restarted(world):
            job = await wait_state(world, job_id, JobState.DELIVERED)
            assert job.result_message_id == first.id
        assert len(results_of(world, job_id)) == 1
        assert sum(1 for m in world.discord.messages.values() if m.attachments) == 1


async def test_the_earlier_post_is_found_under_a_busy_channel(tmp_path: Path) -> None:
    """120 messages after the post: more than one page of history, and more than the 50 the
    search used to read."""
    async with video_world(tmp_path) as world:
        job_id, first = await _post_then_crash(world)
        bob = world.discord.world.user_named("bob")
        for i in range(120):  # the channel talks on while the bot is down
            world.discord.seed_message(first.channel_id, f"nice one {i}", author=bob)
        async with restarted(world):
            job = await wait_state(world, job_id, JobState.DELIVERED)
            assert job.result_message_id == first.id
        assert len(results_of(world, job_id)) == 1
        history_reads = [r for r in world.discord.requests if r.method == "GET" and r.path.endswith("/messages")]
        assert len(history_reads) == 2  # newest page first, then the next one, which holds the post


async def test_a_retry_after_a_post_whose_answer_was_lost_finds_the_post(tmp_path: Path) -> None:
    async with video_world(tmp_path) as world:
        calls: list[int | None] = []

        async def answer_lost_once(job: Any, video: Path) -> int | None:
            calls.append(await real(job, video))
            if len(calls) == 1:  # Discord took the post, but its answer never arrived
                raise DeliveryFailed("connection reset")
            return calls[-1]

        real = stand_in_delivery(world, answer_lost_once)
        job_id = job_id_of(await card_of(await send_video(world)))
        job = await wait_state(world, job_id, JobState.DELIVERED)
        (post,) = results_of(world, job_id)
        assert calls == [post.id, post.id] and job.result_message_id == post.id


async def test_the_delivery_remembers_a_bounded_number_of_jobs(tmp_path: Path) -> None:
    async with video_world(tmp_path) as world:
        delivery: Any = bot_delivery(world)  # the VideoDelivery the cog started the services with
        delivery.attempts = PostAttempts(world.services.clock.now, limit=2)
        jobs = []
        for prompt in ("a fox", "a lighthouse", "a kite"):
            jobs.append(job_id_of(await card_of(await send_video(world, prompt=prompt))))
            await wait_state(world, jobs[-1], JobState.DELIVERED)
        assert len(delivery.attempts) == 2
        assert jobs[0] not in delivery.attempts and jobs[2] in delivery.attempts
