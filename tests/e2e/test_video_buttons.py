"""The buttons: Cancel on the card, Reroll / Same settings / Delete on the video. Cancel and
Delete belong to the owner and moderators; anyone else is told so, privately."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.jobs import JobState
from tests.e2e._video_helpers import (
    EPHEMERAL,
    card_of,
    delivered,
    job_id_of,
    send_video,
    text_of,
    video_world,
    wait_state,
)
from tests.e2e.conftest import World
from tests.fakes.discord import InteractionHandle

pytestmark = pytest.mark.timeout(60)


async def _private_answer(handle: InteractionHandle) -> str:
    edit = await handle.wait_for_edit()
    assert handle.ack is not None and handle.ack.body["data"]["flags"] & EPHEMERAL
    return str(edit.content)


async def _click(world: World, message_id: int, custom_id: str, who: str, locale: str = "en-US") -> InteractionHandle:
    return await world.discord.click(message_id, custom_id, user=world.discord.world.user_named(who), locale=locale)


async def test_cancel_by_the_owner_someone_else_and_a_moderator(tmp_path: Path) -> None:
    async with video_world(tmp_path, comfy={"paused": True}) as world:
        first = await card_of(await send_video(world))
        second = await card_of(await send_video(world))
        first_id, second_id = job_id_of(first), job_id_of(second)

        refused = await _private_answer(await _click(world, first.id, f"wanbot:cancel:{first_id}", "carol"))
        assert refused == f"Only the person who asked for video #{first_id} or a moderator can cancel it."
        job = await world.services.db.jobs.get(first_id)
        assert job is not None and job.is_active

        answer = await _private_answer(await _click(world, first.id, f"wanbot:cancel:{first_id}", "alice", "zh-CN"))
        assert answer == f"视频 #{first_id} 已取消。"
        await wait_state(world, first_id, JobState.CANCELLED)
        await world.discord.wait_until(lambda: "Cancelled." in text_of(first), what="the card to say cancelled")
        assert first.custom_ids() == []

        answer = await _private_answer(await _click(world, second.id, f"wanbot:cancel:{second_id}", "bob"))
        assert answer == f"Video #{second_id} cancelled."
        await world.discord.wait_until(lambda: "Cancelled by a moderator." in text_of(second), what="mod cancel")
        assert all(m.pings.none for m in world.discord.messages.values())


async def test_delete_by_someone_else_is_refused_then_the_owner_deletes(world: World) -> None:
    card = await card_of(await send_video(world))
    job_id = job_id_of(card)
    video = await delivered(world, job_id)
    await wait_state(world, job_id, JobState.DELIVERED)

    refused = await _private_answer(await _click(world, video.id, f"wanbot:delete:{job_id}", "carol", "zh-CN"))
    assert refused == f"只有视频 #{job_id} 的请求者或管理员可以删除它。"
    assert not video.deleted

    assert await _private_answer(await _click(world, video.id, f"wanbot:delete:{job_id}", "alice")) == "Deleted."
    assert video.deleted


async def test_reroll_keeps_the_prompt_with_a_new_seed_and_same_settings_keeps_the_seed(world: World) -> None:
    card = await card_of(await send_video(world, {"seed": 42, "size": "square", "steps": 20}, prompt="a koi pond"))
    job_id = job_id_of(card)
    video = await delivered(world, job_id)
    await wait_state(world, job_id, JobState.DELIVERED)

    reroll = await _click(world, video.id, f"wanbot:reroll:{job_id}", "alice")
    rerolled = await card_of(reroll)
    again = await card_of(await _click(world, video.id, f"wanbot:again:{job_id}", "carol", "zh-CN"))
    jobs = [await wait_state(world, job_id_of(c), JobState.DELIVERED) for c in (rerolled, again)]
    source = await world.services.db.jobs.get(job_id)
    assert source is not None
    assert jobs[0].params["seed"] != 42 and jobs[1].params["seed"] == 42
    for job in jobs:
        assert job.params["prompt"] == "a koi pond" and job.params["width"] == 624 and job.params["steps"] == 20
    assert jobs[1].user_id == world.discord.world.user_named("carol").id and jobs[1].locale == "zh-CN"
    assert reroll.ack is not None and reroll.ack.type == 5  # a public card of its own
    await delivered(world, jobs[1].id)


async def test_a_reroll_past_the_members_limit_is_refused_privately(world: World) -> None:
    alice = world.discord.world.user_named("alice")
    await world.services.admin.set_limits(world.discord.world.guild.id, alice.id, {"burst": 1, "videos_per_hour": 1})
    card = await card_of(await send_video(world))
    job_id = job_id_of(card)
    video = await delivered(world, job_id)
    reroll = await _click(world, video.id, f"wanbot:reroll:{job_id}", "alice", "zh-CN")
    answer = await reroll.wait_for(lambda e: e.kind == "followup")
    assert "你暂时用完了生成次数" in str(answer.content) and int(answer.body["flags"]) & EPHEMERAL
    assert any(e.kind == "delete_original" for e in reroll.responses)
