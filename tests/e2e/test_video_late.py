"""Late and awkward deliveries: after the 15-minute interaction token died, in a channel the bot
may not post in (followup, then DM), and failures explained on the card."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.jobs import JobState
from tests.e2e._video_helpers import (
    card_of,
    cards_of,
    delivered,
    job_id_of,
    results_of,
    send_video,
    shows_done,
    text_of,
    video_world,
    wait_state,
)
from tests.e2e.conftest import World

pytestmark = pytest.mark.timeout(60)

_QUARTER_HOUR = 15 * 60


async def test_a_job_finishing_after_the_token_died_is_delivered_with_the_bot_token(tmp_path: Path) -> None:
    async with video_world(tmp_path, comfy={"paused": True}) as world:
        card = await card_of(await send_video(world, locale="zh-CN"))
        job_id = job_id_of(card)
        world.discord.advance_clock(_QUARTER_HOUR + 1)  # Discord now refuses the token: 401/50027
        world.comfy.resume()

        video = await delivered(world, job_id)
        await wait_state(world, job_id, JobState.DELIVERED)
        await world.discord.wait_until(lambda: shows_done(card), what="the final card edit")
        assert video.via == "channel" and video.attachments
        assert card.edits[-1].via == "channel"  # switched to the bot token, not failed
        assert set(world.discord.error_codes()) == {50027}  # learnt once, then never tried again
        assert len(world.discord.error_codes()) == 1


async def test_past_our_own_count_of_15_minutes_the_token_is_not_even_tried(tmp_path: Path) -> None:
    async with video_world(tmp_path, comfy={"paused": True}) as world:
        card = await card_of(await send_video(world))
        cards = cards_of(world)
        cards.clock = lambda: time.monotonic() + _QUARTER_HOUR
        world.comfy.resume()
        await wait_state(world, job_id_of(card), JobState.DELIVERED)
        await world.discord.wait_until(lambda: shows_done(card), what="the final card edit")
        assert {edit.via for edit in card.edits[1:]} == {"channel"}
        assert world.discord.errors == []


async def test_no_permission_in_the_channel_falls_back_to_the_followup(world: World) -> None:
    card = await card_of(await send_video(world, channel="locked"))  # interaction replies work there
    job_id = job_id_of(card)
    video = await delivered(world, job_id)
    job = await wait_state(world, job_id, JobState.DELIVERED)
    assert video.via == "followup" and video.attachments and job.result_message_id == video.id
    assert video.pings.users == {world.discord.world.user_named("alice").id}
    assert world.discord.errors == []  # the permission cache said so: no 403 needed


async def test_no_permission_and_a_dead_token_falls_back_to_a_dm(world: World) -> None:
    card = await card_of(await send_video(world, channel="locked"))
    cards_of(world).clock = lambda: time.monotonic() + _QUARTER_HOUR
    job_id = job_id_of(card)
    video = await delivered(world, job_id)
    await wait_state(world, job_id, JobState.DELIVERED)
    alice = world.discord.world.user_named("alice")
    assert video.channel_id == world.discord.dm_channel(alice) and video.attachments
    locked = world.discord.world.channel_named("locked")
    assert video.content == f"I could not post in <#{locked.id}>, so here is your video #{job_id}."
    assert video.custom_ids() == [f"wanbot:delete:{job_id}"]


async def test_nowhere_to_post_fails_the_job_with_the_reason(world: World) -> None:
    carol = world.discord.world.user_named("carol")  # DMs closed
    card = await card_of(await send_video(world, channel="locked", who=carol))
    cards_of(world).clock = lambda: time.monotonic() + _QUARTER_HOUR
    job = await wait_state(world, job_id_of(card), JobState.FAILED)
    assert job.error_code == "delivery_failed" and "DMs are closed" in (job.error_text or "")
    assert results_of(world, job.id) == []


async def test_out_of_memory_is_explained_on_the_card_in_the_members_language(world: World) -> None:
    world.comfy.fail_next(1, "oom")
    card = await card_of(await send_video(world, locale="zh-CN"))
    job = await wait_state(world, job_id_of(card), JobState.FAILED)
    assert job.error_code == "out_of_memory"
    await world.discord.wait_until(lambda: "GPU 显存不足" in text_of(card), what="the failure on the card")
    assert "请尝试更小的尺寸或更短的时长" in text_of(card) and card.custom_ids() == []
