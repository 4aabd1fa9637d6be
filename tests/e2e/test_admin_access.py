"""Who may use `/wanbot`: members with Manage Server or the WANBOT_ADMIN_ROLE role; everyone
else is refused at run time (Discord's default_permissions only hides the group). Also: the
synced command surface exists in English and Chinese."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.jobs import AdmissionRefused, Refusal
from tests.e2e._queue_helpers import answer_of, audit, custom_world, prepare, submit
from tests.e2e.conftest import World
from tests.fakes.discord import FakeRole, FakeWorld

EN, ZH = "en-US", "zh-CN"
REFUSAL_EN = "Only moderators (Manage Server, or the bot's admin role) can use this command."
REFUSAL_ZH = "只有管理员（拥有“管理服务器”权限或机器人的管理身份组）可以使用此命令。"


def every_subcommand(world: World) -> list[tuple[str, dict[str, Any]]]:
    fake = world.discord.world
    return [
        ("wanbot pause", {}),
        ("wanbot resume", {}),
        ("wanbot drain", {"mode": "on"}),
        ("wanbot limits", {"max_active": 0}),
        ("wanbot limits", {}),
        ("wanbot channels add", {"channel": fake.channel_named("videos")}),
        ("wanbot channels remove", {"channel": fake.channel_named("videos")}),
        ("wanbot channels clear", {}),
        ("wanbot channels list", {}),
        ("wanbot blocked-words add", {"words": "cat"}),
        ("wanbot blocked-words remove", {"words": "cat"}),
        ("wanbot blocked-words list", {}),
        ("wanbot purge", {"member": fake.user_named("alice")}),
        ("wanbot backends", {}),
        ("wanbot audit", {}),
    ]


async def test_a_member_without_rights_is_refused_every_subcommand(world: World) -> None:
    await prepare(world)
    fake = world.discord.world
    alice = fake.user_named("alice")
    world.comfy.pause()
    job = await submit(world, alice)
    commands = every_subcommand(world)
    for command, options in commands:
        handle = await world.discord.slash(command, options, user=fake.user_named("carol"))
        message = await answer_of(handle)
        assert (message.content, message.ephemeral, message.embeds) == (REFUSAL_EN, True, []), command
    assert await audit(world) == [] and await audit(world, guild=False) == []
    settings = await world.services.db.guilds.get(fake.guild.id)
    assert not settings.paused and not settings.limits and not settings.allowed_channels
    assert (await world.services.db.jobs.get(job.id)).is_active
    assert {c.split()[1] for c, _ in commands} == {
        option["name"] for option in _synced(world, "wanbot")["options"]}  # every subcommand was tried


async def test_the_refusal_is_in_chinese_for_chinese_clients(world: World) -> None:
    await prepare(world)
    handle = await world.discord.slash("wanbot pause", user=world.discord.world.user_named("carol"), locale=ZH)
    assert (await answer_of(handle)).content == REFUSAL_ZH


@pytest.mark.parametrize("by", ["name", "id"])
async def test_the_configured_admin_role_works_without_manage_server(tmp_path: Path, by: str) -> None:
    fake = FakeWorld.default()
    helpers = FakeRole(fake.guild.id + 5, "Video Admin", permissions=0)
    fake.guild.roles.append(helpers)
    carol = fake.user_named("carol")
    member = fake.guild.member(carol.id)
    assert member is not None
    member.role_ids.append(helpers.id)
    configured = helpers.name if by == "name" else str(helpers.id)

    async with custom_world(tmp_path, fake, admin_role=configured) as world:
        await prepare(world)
        handle = await world.discord.slash("wanbot pause", user=carol, locale=ZH)
        assert (await answer_of(handle)).content.startswith("⏸️ 已暂停")
        with pytest.raises(AdmissionRefused) as caught:
            await submit(world, fake.user_named("alice"))
        assert caught.value.reason is Refusal.PAUSED
        (entry,) = await audit(world)
        assert (entry.action, entry.actor_id) == ("pause", carol.id)


async def test_the_group_is_hidden_from_non_moderators_and_guild_only(world: World) -> None:
    await prepare(world)
    group = _synced(world, "wanbot")
    assert int(group["default_member_permissions"]) == 1 << 5  # Manage Server
    assert group["contexts"] == [0] and group["dm_permission"] is False
    for name in ("queue", "cancel", "history"):
        command = _synced(world, name)
        assert command["default_member_permissions"] is None and command["contexts"] == [0]


async def test_every_name_description_option_and_choice_has_chinese(world: World) -> None:
    await prepare(world)
    names = {c["name"]: c for c in world.discord.commands()}
    assert {"queue", "cancel", "history", "wanbot"} <= set(names)
    assert {names[n]["name_localizations"]["zh-CN"] for n in ("queue", "cancel", "history", "wanbot")} == {
        "队列", "取消", "历史", "视频管理"}
    checked = 0
    for node in _walk([names[n] for n in ("queue", "cancel", "history", "wanbot")]):
        assert node["name_localizations"]["zh-CN"], node["name"]
        assert node["description_localizations"]["zh-CN"], node["name"]
        for choice in node.get("choices") or []:
            assert choice["name_localizations"]["zh-CN"], choice["name"]
            checked += 1
        checked += 1
    assert checked > 30
    drain = next(o for o in _synced(world, "wanbot")["options"] if o["name"] == "drain")
    (mode,) = drain["options"]
    assert [c["name_localizations"]["zh-CN"] for c in mode["choices"]] == ["开启", "关闭"]


def _synced(world: World, name: str) -> dict[str, Any]:
    return next(c for c in world.discord.commands() if c["name"] == name)


def _walk(nodes: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for node in nodes:
        yield node
        yield from _walk(node.get("options") or [])
