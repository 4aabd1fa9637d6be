"""`/queue` and `/history` on the real bot: what a member sees of the queue and of their own
videos, in English and Chinese, ephemeral and pinging nobody."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.jobs import JobRecord, JobRequest, JobState, Requester
from tests.e2e._queue_helpers import (
    SLOW_STEP,
    Deliveries,
    answer_of,
    embed_text,
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


async def _two_on_the_backend(world: World) -> list[int]:
    """With a step that outlives the test, the first job sits running and the second prefetched behind it;
    everything after that waits in our queue."""
    alice = world.discord.world.user_named("alice")
    world.comfy.step_seconds = SLOW_STEP  # the first job stays running until cancelled
    first = await submit(world, alice, "first clip")
    await wait_state(world, first.id, JobState.RUNNING)
    second = await submit(world, alice, "second clip")
    await wait_state(world, second.id, JobState.SUBMITTED)
    return [first.id, second.id]


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (EN, ["Video queue", "**2** waiting · **2** rendering", "Servers", "Your videos", "🎬 rendering",
              "🚀 starting", "⏳ queued · position 2 · done in about", "first clip"]),
        (ZH, ["视频队列", "**2** 个等待中 · **2** 个生成中", "生成服务器", "你的视频", "🎬 生成中",
              "🚀 即将开始", "⏳ 排队中 · 第 2 位 · 约 ", "first clip"]),
    ],
)
async def test_queue_shows_length_backends_and_my_places(
    world: World, deliveries: Deliveries, locale: str, expected: list[str]
) -> None:
    first, second = await _two_on_the_backend(world)
    fake = world.discord.world
    carol, alice = fake.user_named("carol"), fake.user_named("alice")
    await submit(world, carol, "carol's clip")
    third = await submit(world, alice, "third clip")

    handle = await world.discord.slash("queue", user=alice, locale=locale)
    message = await answer_of(handle)

    text = embed_text(message)
    for piece in expected:
        assert piece in text
    (backend_field, mine_field) = message.embeds[0]["fields"]
    assert f"#{first}" in backend_field["value"] and "first clip" in backend_field["value"]
    mine = mine_field["value"].splitlines()
    assert [line.split()[0] for line in mine] == [f"**#{first}**", f"**#{second}**", f"**#{third.id}**"]
    assert "carol's clip" not in mine_field["value"]  # other members' jobs are not listed
    assert message.ephemeral and message.pings.none
    assert world.discord.errors == []


@pytest.mark.parametrize(
    ("locale", "paused", "draining"),
    [(EN, "⏸️ A moderator has paused", "🚧 The bot is draining"), (ZH, "⏸️ 管理员已暂停", "🚧 机器人正在为重启做准备")],
)
async def test_queue_shows_paused_and_draining(
    world: World, deliveries: Deliveries, locale: str, paused: str, draining: str
) -> None:
    fake = world.discord.world
    handle = await world.discord.slash("queue", locale=locale)
    before = embed_text(await answer_of(handle))
    assert paused not in before and draining not in before

    await world.services.admin.pause(fake.guild.id, by=fake.user_named("bob").id)
    handle = await world.discord.slash("queue", locale=locale)
    assert paused in embed_text(await answer_of(handle))

    await world.services.admin.drain(by=fake.user_named("bob").id)
    handle = await world.discord.slash("queue", locale=locale)
    text = embed_text(await answer_of(handle))
    assert paused in text and draining in text


async def test_queue_counts_and_servers_agree_when_a_job_starts_while_reading(
    world: World, deliveries: Deliveries, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job queued and started on the GPU right after `/queue` read the queue's counts: the
    answer must not say "0 rendering" above a server line rendering that job (it did: the
    counts and the server lines were two reads)."""
    world.comfy.step_seconds = SLOW_STEP  # the late job stays running until the test ends
    alice = world.discord.world.user_named("alice")
    read_counts = world.services.db.jobs.summary
    started: list[JobRecord] = []

    async def counts_then_a_job_starts(*args: Any, **kwargs: Any) -> Any:
        counts = await read_counts(*args, **kwargs)
        if not started:
            job = await submit(world, alice, "late clip")
            started.append(await wait_state(world, job.id, JobState.RUNNING))
        return counts

    monkeypatch.setattr(world.services.db.jobs, "summary", counts_then_a_job_starts)
    message = await answer_of(await world.discord.slash("queue", user=alice))

    assert started, "the job was meant to start between the reads"
    embed = message.embeds[0]
    counts = re.search(r"\*\*(\d+)\*\* waiting · \*\*(\d+)\*\* rendering", embed["description"])
    assert counts is not None
    servers = embed["fields"][0]["value"]
    on_servers = servers.count("**#") + sum(int(n) for n in re.findall(r"\+(\d+) waiting on it", servers))
    assert int(counts[2]) == on_servers, f"{embed['description']!r} vs {servers!r}"


async def test_queue_does_not_show_another_servers_prompt(world: World, deliveries: Deliveries) -> None:
    world.comfy.step_seconds = SLOW_STEP  # the first job stays running until cancelled
    other = Requester(guild_id=42, channel_id=43, user_id=44)
    job = await world.services.admission.submit(other, video(world, "a secret from elsewhere"))
    world.services.dispatcher.kick()
    await wait_state(world, job.id, JobState.RUNNING)

    handle = await world.discord.slash("queue")
    text = embed_text(await answer_of(handle))

    assert "busy (another server)" in text and "secret" not in text


async def test_history_lists_states_params_seed_and_a_jump_link(world: World, deliveries: Deliveries) -> None:
    fake = world.discord.world
    alice = fake.user_named("alice")
    delivered = await submit(world, alice, "a red fox in snow", seed=777)
    delivered = await wait_state(world, delivered.id, JobState.DELIVERED)
    world.comfy.fail_next(1, "oom")
    failed = await submit(world, alice, "too big")
    await wait_state(world, failed.id, JobState.FAILED)
    world.comfy.step_seconds = SLOW_STEP  # the first job stays running until cancelled
    cancelled = await submit(world, alice, "<@1100000000000000102> @everyone **loud**", width=640, height=352)
    await world.services.dispatcher.cancel(cancelled.id, alice.id)

    handle = await world.discord.slash("history", user=alice)
    message = await answer_of(handle)

    fields = message.embeds[0]["fields"]
    assert [f["name"] for f in fields] == [
        f"#{cancelled.id} · 🚫 cancelled", f"#{failed.id} · ❌ failed", f"#{delivered.id} · ✅ delivered"]
    newest, failure, done = (f["value"] for f in fields)
    link = f"https://discord.com/channels/{fake.guild.id}/{delivered.channel_id}/{deliveries.posted[delivered.id]}"
    assert "a red fox in snow" in done and f"[open the video]({link})" in done
    assert "832×480 · 81 frames @ 16 fps · 15 steps · CFG 6 · shift 5 · seed `777`" in done
    assert "reason: `out_of_memory`" in failure and "open the video" not in failure
    # Member text is inert in the embed: escaped markdown, mentions broken.
    assert "\\*\\*loud\\*\\*" in newest and "@everyone" not in newest and "<@1100000000000000102>" not in newest
    assert "640×352" in newest
    assert message.ephemeral and message.pings.none


async def test_history_in_chinese_and_when_empty(world: World, deliveries: Deliveries) -> None:
    fake = world.discord.world
    carol = fake.user_named("carol")
    handle = await world.discord.slash("history", user=carol, locale=ZH)
    assert "你还没有在本服务器生成过视频。" in embed_text(await answer_of(handle))

    job = await submit(world, carol, "一只猫在冲浪", seed=5)
    await wait_state(world, job.id, JobState.DELIVERED)
    handle = await world.discord.slash("history", {"count": 1}, user=carol, locale=ZH)
    text = embed_text(await answer_of(handle))
    assert "✅ 已完成" in text and "一只猫在冲浪" in text and "种子 `5`" in text and "[查看视频](" in text
    assert "81 帧 @ 16 fps · 15 步" in text


async def test_history_count_is_bounded(world: World, deliveries: Deliveries) -> None:
    world.comfy.step_seconds = SLOW_STEP  # the first job stays running until cancelled
    alice = world.discord.world.user_named("alice")
    request = video(world, "clip")
    for _ in range(3):
        await world.services.scheduler.enqueue(
            Requester(world.discord.world.guild.id, 1, alice.id), JobRequest(request.template, request.params))
    handle = await world.discord.slash("history", {"count": 2}, user=alice)
    assert len((await answer_of(handle)).embeds[0]["fields"]) == 2
    with pytest.raises(ValueError, match="above max_value"):
        await world.discord.slash("history", {"count": 11}, user=alice)


async def test_an_unexpected_failure_is_logged_and_answered(
    world: World, deliveries: Deliveries, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the store is on fire")

    monkeypatch.setattr(world.services.scheduler, "summary", broken)
    handle = await world.discord.slash("queue", locale=ZH)

    message = await answer_of(handle)
    assert message.content == "我们这边出了点问题。请重试；如果一直这样，请告诉管理员。" and message.ephemeral
    (record,) = [r for r in caplog.records if r.getMessage() == "command /queue failed"]
    assert record.exc_info is not None and "on fire" in str(record.exc_info[1])
    assert len(handle.responses) == 1  # answered once, by the tree's error hook
