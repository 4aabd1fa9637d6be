"""Load and hostile text: 200 `/video` from 100 members in a second are all answered in time,
and a prompt full of mentions, markdown, CJK and emoji pings nobody and breaks nothing."""

from __future__ import annotations

import asyncio
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
from tests.fakes.discord import FakeMember, FakeUser, FakeWorld, InteractionHandle

pytestmark = pytest.mark.timeout(60)


def crowd(members: int) -> FakeWorld:
    world = FakeWorld.default()
    for n in range(members):
        world.guild.members.append(FakeMember(FakeUser(1_200_000_000_000_000_000 + n, f"member{n}")))
    return world


async def _outcome(handle: InteractionHandle) -> str:
    """"queued" when the placeholder became a card, else the private refusal's text."""
    await handle.acked(10)
    event = await handle.wait_for(lambda e: e.kind in ("edit_original", "followup"), 10)
    if event.kind == "edit_original":
        assert event.body.get("embeds"), "a card edit without the card"
        return "queued"
    assert int(event.body.get("flags", 0)) & EPHEMERAL and event.content
    return str(event.content)


async def test_200_requests_from_100_members_in_a_second_are_all_answered_in_time(tmp_path: Path) -> None:
    fake_world = crowd(100)
    members = [m.user for m in fake_world.guild.members if m.user.name.startswith("member")]
    async with video_world(tmp_path, fake_world=fake_world, comfy={"paused": True}, max_active=1) as world:
        started = asyncio.get_running_loop().time()
        handles = await asyncio.gather(*(send_video(world, prompt=f"clip {n}", who=members[n % 100])
                                         for n in range(200)))
        sent_in = asyncio.get_running_loop().time() - started
        outcomes = await asyncio.gather(*(_outcome(h) for h in handles))

        assert sent_in < 1.5
        assert 10062 not in world.discord.error_codes() and world.discord.errors == []
        assert all(h.ack is not None and h.ack.latency_ms < 3000 for h in handles)
        assert outcomes.count("queued") == 100  # one each: the cap is 1 active job per member
        refusals = [o for o in outcomes if o != "queued"]
        assert len(refusals) == 100 and all("your limit is 1" in r for r in refusals)
        assert await world.services.db.jobs.count_queued() >= 98  # two went to the (paused) GPU


HOSTILE = "@everyone @here <@&{role}> <@{user}> **bold** __under__ # Title\n> quote `code` ||spoiler|| "
MIXED = "山水画风格的龙🐉在云中飞翔，金色的光芒✨照亮了夜空🌙。"


async def test_a_4000_character_prompt_with_mentions_gets_a_clear_answer_and_pings_nobody(world: World) -> None:
    role = world.discord.world.guild.roles[1].id
    bob = world.discord.world.user_named("bob").id
    prompt = HOSTILE.format(role=role, user=bob) + MIXED * 200
    prompt = prompt[:4000]
    handle = await send_video(world, prompt=prompt, locale="zh-CN")
    ack = await handle.acked()
    answer = ack.body["data"]["content"]
    assert ack.type == 4 and ack.body["data"]["flags"] & EPHEMERAL
    assert answer == "提示词有 4000 个字符，上限是 2000——请缩短"
    assert all(m.pings.none for m in world.discord.messages.values())


async def test_mentions_and_markdown_in_an_accepted_prompt_stay_inert(world: World) -> None:
    role = world.discord.world.guild.roles[1].id
    bob = world.discord.world.user_named("bob").id
    prompt = (HOSTILE.format(role=role, user=bob) + MIXED * 40)[:1990]
    card = await card_of(await send_video(world, prompt=prompt))
    job_id = job_id_of(card)
    video = await delivered(world, job_id)
    job = await wait_state(world, job_id, JobState.DELIVERED)
    assert job.params["prompt"] == prompt.strip()  # Wan gets the prompt unchanged
    shown = card.embeds[0]["description"]
    assert "@\u200beveryone" in shown and f"<@\u200b&{role}>" in shown and "\\*\\*bold\\*\\*" in shown
    assert len(shown.encode("utf-16-le")) // 2 <= 4096
    assert video.pings.users == {world.discord.world.user_named("alice").id}
    assert not video.pings.roles and not video.pings.everyone
    assert all(m.pings.none for m in world.discord.messages.values() if m.id != video.id)
    assert "🐉" in text_of(video)
