"""Refused `/video` requests: private, in the member's language, with the reason and when to
try again; nothing of the refused request stays visible in the channel."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.jobs import JobState
from tests.e2e._video_helpers import (
    card_of,
    job_id_of,
    refusal_of,
    send_video,
    video_world,
    wait_state,
)
from tests.e2e.conftest import World

pytestmark = pytest.mark.timeout(60)


def _guild(world: World) -> int:
    return world.discord.world.guild.id


def _public_leftovers(world: World) -> list[str]:
    """Visible, non-card messages in #general: a refusal must leave none."""
    channel = world.discord.world.channel_named("general")
    return [m.content for m in world.discord.channel_messages(channel, include_ephemeral=False) if not m.embeds]


def _refusals(world: World, reason: str) -> float:
    value = world.services.metrics.registry.get_sample_value("wanbot_refusals_total", {"reason": reason})
    return value or 0.0


async def test_rate_limit_says_when_to_come_back(world: World) -> None:
    alice = world.discord.world.user_named("alice")
    await world.services.admin.set_limits(_guild(world), alice.id, {"burst": 1, "videos_per_hour": 2})
    await card_of(await send_video(world))
    answer = await refusal_of(await send_video(world))
    assert "You have used your videos for now (2 per hour, 1 in a row)" in answer
    assert "You can make another video in 30 min" in answer
    answer = await refusal_of(await send_video(world, locale="zh-CN"))
    assert "你暂时用完了生成次数" in answer and "分钟后可以再生成" in answer
    assert _public_leftovers(world) == []
    assert _refusals(world, "rate_limited") == 2


async def test_active_job_cap(tmp_path: Path) -> None:
    async with video_world(tmp_path, comfy={"paused": True}, max_active=1) as world:
        first = await card_of(await send_video(world))
        answer = await refusal_of(await send_video(world))
        assert "You already have 1 videos queued or rendering (your limit is 1)" in answer
        assert "when one of them finishes" in answer or "in about" in answer
        job = await world.services.db.jobs.get(job_id_of(first))
        assert job is not None and job.is_active
        assert _refusals(world, "too_many_active") == 1


async def test_blocked_word_in_chinese(world: World) -> None:
    await world.services.admin.set_blocked_words(_guild(world), 1, ["坏词"])
    answer = await refusal_of(await send_video(world, prompt="一只猫说坏词", locale="zh-CN"))
    assert answer == "你的提示词包含本服务器不允许的词：“坏词”。请修改后再试。"
    assert await world.services.db.jobs.count_queued() == 0
    assert _public_leftovers(world) == []


async def test_channel_not_allowed_points_to_the_right_channel(world: World) -> None:
    videos = world.discord.world.channel_named("videos")
    await world.services.admin.set_allowed_channels(_guild(world), 1, [videos.id])
    answer = await refusal_of(await send_video(world, channel="general"))
    assert answer == f"Videos cannot be made in this channel. Please use <#{videos.id}>."
    card = await card_of(await send_video(world, channel="videos"))
    await wait_state(world, job_id_of(card), JobState.DELIVERED)


async def test_invalid_options_are_answered_at_once_without_a_defer(world: World) -> None:
    handle = await send_video(world, prompt="x" * 2001)
    ack = await handle.acked()
    assert ack.type == 4 and ack.body["data"]["flags"] & 64
    assert ack.body["data"]["content"] == "prompt is 2001 characters long; the limit is 2000 — shorten it"
    assert await world.services.db.jobs.count_queued() == 0
    assert _refusals(world, "invalid") == 1


async def test_a_restarting_bot_says_so(world: World) -> None:
    world.services.accepting = False
    answer = await refusal_of(await send_video(world, locale="zh-CN"))
    assert answer == "机器人正在重启，暂不接受新的视频请求。请一分钟后再试。"
