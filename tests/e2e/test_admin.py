"""`/wanbot …` on the real bot, run by bob (Moderator role with Manage Server): each subcommand
changes what the queue does (seen through admission and the dispatcher, as `/video` would
meet it), lands in the audit log, and answers ephemerally in the moderator's language."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.jobs import AdmissionRefused, JobState, Refusal
from tests.e2e._queue_helpers import (
    SLOW_STEP,
    Deliveries,
    answer_of,
    audit,
    embed_text,
    eventually,
    interrupted_on_comfy,
    prepare,
    requester,
    submit,
    video,
    wait_state,
)
from tests.e2e.conftest import World
from tests.fakes.discord import StoredMessage

EN, ZH = "en-US", "zh-CN"


@pytest.fixture
async def deliveries(world: World) -> Deliveries:
    return await prepare(world)


async def as_bob(world: World, command: str, options: dict[str, Any] | None = None,
                 locale: str = EN) -> StoredMessage:
    handle = await world.discord.slash(command, options or {}, user=world.discord.world.user_named("bob"),
                                       locale=locale)
    message = await answer_of(handle)
    assert message.ephemeral and message.pings.none
    return message


async def refused(world: World, user: str, prompt: str = "a cat surfing", **where: Any) -> Refusal:
    with pytest.raises(AdmissionRefused) as caught:
        await submit(world, world.discord.world.user_named(user), prompt, **where)
    return caught.value.reason


async def test_pause_refuses_new_videos_until_resume(world: World, deliveries: Deliveries) -> None:
    bob = world.discord.world.user_named("bob")
    message = await as_bob(world, "wanbot pause", locale=ZH)
    assert message.content.startswith("⏸️ 已暂停本服务器的视频生成")
    assert await refused(world, "carol") is Refusal.PAUSED

    message = await as_bob(world, "wanbot resume")
    assert message.content == "▶️ Video generation is running again on this server."
    job = await submit(world, world.discord.world.user_named("carol"))
    await wait_state(world, job.id, JobState.DELIVERED)
    assert [(e.action, e.actor_id) for e in await audit(world)] == [("resume", bob.id), ("pause", bob.id)]


async def test_drain_stops_claims_and_admission_until_turned_off(world: World, deliveries: Deliveries) -> None:
    carol = world.discord.world.user_named("carol")
    message = await as_bob(world, "wanbot drain", {"mode": "on"})
    assert message.content.startswith("🚧 Draining (all servers), and nothing is rendering")
    assert await refused(world, "carol") is Refusal.DRAINING
    # A job that enters the queue during the drain (as a requeued one does) waits it out,
    # although its arrival wakes the dispatcher.
    job = await world.services.scheduler.enqueue(requester(world, carol), video(world, "waits out the drain"))
    world.services.dispatcher.kick()
    await asyncio.sleep(0.2)  # the claim loop answers a kick within milliseconds
    assert (await world.services.db.jobs.get(job.id)).state is JobState.QUEUED

    message = await as_bob(world, "wanbot drain", {"mode": "off"}, locale=ZH)
    assert message.content == "▶️ 已停止排空：队列重新接受并开始生成视频。"
    await wait_state(world, job.id, JobState.DELIVERED)
    assert [e.action for e in await audit(world, guild=False)] == ["undrain", "drain"]


async def test_drain_reports_what_still_renders(world: World, deliveries: Deliveries) -> None:
    world.comfy.step_seconds = SLOW_STEP  # the first job stays running until cancelled
    job = await submit(world, world.discord.world.user_named("carol"))
    await wait_state(world, job.id, JobState.RUNNING)
    message = await as_bob(world, "wanbot drain", {"mode": "on"}, locale=ZH)
    assert message.content == "🚧 正在排空（所有服务器）：不接受也不开始新视频。仍有 1 个在生成或发送中。"


async def test_limits_apply_to_the_next_request(world: World, deliveries: Deliveries) -> None:
    fake = world.discord.world
    carol, moderator = fake.user_named("carol"), fake.guild.roles[1]
    world.comfy.step_seconds = SLOW_STEP  # the first job stays running until cancelled

    message = await as_bob(world, "wanbot limits", {"max_active": 1, "burst": 5})
    assert "This server's override" in embed_text(message) and "active at once **1**" in embed_text(message)
    await submit(world, carol)
    assert await refused(world, "carol") is Refusal.TOO_MANY_ACTIVE

    # A role's adjustment is added on top of the server's override.
    message = await as_bob(world, "wanbot limits", {"max_active": 2, "role": moderator}, locale=ZH)
    assert f"<@&{moderator.id}>: 同时进行上限 **+2**" in embed_text(message)
    limits = await world.services.admission.limits_for(requester(world, carol, roles=[moderator.id]))
    assert (limits.max_active, limits.burst) == (3, 5)

    # Changing one field keeps the others; reset clears the override.
    await as_bob(world, "wanbot limits", {"burst": 4})
    assert (await world.services.db.guilds.get(fake.guild.id)).limits == {"max_active": 1, "burst": 4}
    await as_bob(world, "wanbot limits", {"reset": True})
    settings = await world.services.db.guilds.get(fake.guild.id)
    assert settings.limits == {} and settings.role_limits == {str(moderator.id): {"max_active": 2}}
    await submit(world, carol)  # back to the operator's max_active of 10

    actions = [(e.action, e.target, e.details) for e in await audit(world)]
    assert actions[-2:] == [("set_role_limits", f"role:{moderator.id}", {"delta": {"max_active": 2}}),
                            ("set_limits", "limits", {"limits": {"burst": 5, "max_active": 1}})]
    assert actions[0] == ("set_limits", "limits", {"limits": {}})


async def test_limits_without_options_only_shows_them(world: World, deliveries: Deliveries) -> None:
    message = await as_bob(world, "wanbot limits")
    assert "videos per hour **100** · in a row **100** · active at once **10**" in embed_text(message)
    assert await audit(world) == []


async def test_channels_limit_where_videos_can_be_made(world: World, deliveries: Deliveries) -> None:
    fake = world.discord.world
    general, videos = fake.channel_named("general"), fake.channel_named("videos")

    message = await as_bob(world, "wanbot channels add", {"channel": videos})
    assert message.content == f"`/video` can be used in: <#{videos.id}>"
    assert await refused(world, "carol", channel=general) is Refusal.CHANNEL_NOT_ALLOWED
    await submit(world, fake.user_named("carol"), channel=videos)

    await as_bob(world, "wanbot channels add", {"channel": general})
    message = await as_bob(world, "wanbot channels list", locale=ZH)
    assert message.content == f"`/video` 可在以下频道使用：<#{videos.id}>, <#{general.id}>"
    await as_bob(world, "wanbot channels remove", {"channel": general})
    assert await refused(world, "carol", channel=general) is Refusal.CHANNEL_NOT_ALLOWED

    message = await as_bob(world, "wanbot channels clear")
    assert message.content == "`/video` can be used in every channel."
    await submit(world, fake.user_named("carol"), channel=general)
    details = [e.details["channels"] for e in await audit(world)]
    assert details == [[], [videos.id], [videos.id, general.id], [videos.id]]


async def test_blocked_words_catch_other_spellings(world: World, deliveries: Deliveries) -> None:
    fake = world.discord.world
    message = await as_bob(world, "wanbot blocked-words add", {"words": "貓，ｇｏｒｅ, gore"})
    assert message.content == "Blocked words (2): ||貓||, ||ｇｏｒｅ||"  # gore = ｇｏｒｅ once folded

    assert await refused(world, "carol", "一只猫在冲浪") is Refusal.BLOCKED_WORD  # simplified 猫
    assert await refused(world, "carol", "GORE everywhere") is Refusal.BLOCKED_WORD
    await submit(world, fake.user_named("carol"), "a gorilla")  # whole words only

    message = await as_bob(world, "wanbot blocked-words remove", {"words": "猫"}, locale=ZH)
    assert message.content == "屏蔽词（1 个）：||ｇｏｒｅ||"
    await submit(world, fake.user_named("carol"), "一只猫在冲浪")
    message = await as_bob(world, "wanbot blocked-words list")
    assert message.content == "Blocked words (1): ||ｇｏｒｅ||"
    # The words stay out of the audit log; the count is there.
    assert [e.details for e in await audit(world)] == [{"count": 1}, {"count": 2}]


async def test_purge_cancels_a_members_jobs_everywhere(world: World, deliveries: Deliveries) -> None:
    fake = world.discord.world
    carol, alice = fake.user_named("carol"), fake.user_named("alice")
    world.comfy.step_seconds = SLOW_STEP
    running = await submit(world, carol, "spam 1")
    running = await wait_state(world, running.id, JobState.RUNNING)
    assert running.prompt_id is not None
    await eventually(lambda: world.comfy.running == running.prompt_id, "ComfyUI runs carol's prompt")
    queued = [await submit(world, carol, f"spam {n}") for n in (2, 3)]
    alices = await submit(world, alice, "not spam")

    message = await as_bob(world, "wanbot purge", {"member": carol})

    ids = [running.id, *(job.id for job in queued)]
    assert message.content == f"🧹 Cancelled 3 videos of <@{carol.id}>: " + ", ".join(f"#{i}" for i in ids) + "."
    for job_id in ids:
        assert (await world.services.db.jobs.get(job_id)).state is JobState.CANCELLED
    await eventually(lambda: interrupted_on_comfy(world, running.prompt_id or ""), "ComfyUI stops carol's prompt")
    assert (await world.services.db.jobs.get(alices.id)).is_active
    (entry,) = await audit(world)
    assert (entry.action, entry.target, entry.details) == ("purge", f"user:{carol.id}", {"jobs": ids})

    message = await as_bob(world, "wanbot purge", {"member": carol}, locale=ZH)
    assert message.content == f"<@{carol.id}> 没有排队中或生成中的视频。"


async def test_backends_show_health_version_vram_and_the_running_job(world: World, deliveries: Deliveries) -> None:
    world.comfy.step_seconds = SLOW_STEP
    job = await submit(world, world.discord.world.user_named("carol"), "a lighthouse at dusk")
    await wait_state(world, job.id, JobState.RUNNING)

    message = await as_bob(world, "wanbot backends")

    (backend,) = message.embeds[0]["fields"]
    assert backend["name"] == world.services.dispatcher.backend_views()[0].name
    lines = backend["value"].splitlines()
    assert lines[0] == "🟢 up" and lines[1].startswith("ComfyUI 0.8.0 · ")
    assert lines[2].startswith("VRAM free: ") and lines[2].endswith("GiB (at the last check)")
    assert lines[3].startswith(f"running: **#{job.id}** a lighthouse at dusk — ")

    await world.comfy.stop()
    # The health probe concludes it once its retries run out.
    await eventually(lambda: not world.services.dispatcher.backend_views()[0].up, "marked down", timeout=20)
    message = await as_bob(world, "wanbot backends", locale=ZH)
    assert message.embeds[0]["fields"][0]["value"].startswith("🔴 离线")


async def test_audit_lists_recent_actions_with_queue_wide_ones(world: World, deliveries: Deliveries) -> None:
    fake = world.discord.world
    bob = fake.user_named("bob")
    await as_bob(world, "wanbot pause")
    await as_bob(world, "wanbot drain", {"mode": "on"})
    await as_bob(world, "wanbot purge", {"member": fake.user_named("carol")})

    message = await as_bob(world, "wanbot audit")
    lines = message.embeds[0]["description"].splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == [
        f"purged the videos of <@{fake.user_named('carol').id}> —",
        "started draining (all servers)",
        "paused the queue",
    ]
    assert all(f"<@{bob.id}>" in line for line in lines)

    message = await as_bob(world, "wanbot audit", {"count": 1}, locale=ZH)
    assert message.embeds[0]["title"] == "审计日志" and len(message.embeds[0]["description"].splitlines()) == 1
