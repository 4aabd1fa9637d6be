"""The synced `/video` definition (options, choices, ranges, Chinese), the workflow choice with
several templates, and the start-up sync: per guild when configured, skipped when unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.app import SYNC_STATE_FILE
from bot.jobs import JobState
from tests.e2e._video_helpers import (
    card_of,
    job_id_of,
    restarted,
    send_video,
    video_world,
    wait_state,
)
from tests.e2e.conftest import World
from tests.fakes.discord import FakeWorld

pytestmark = pytest.mark.timeout(60)


def _video(commands: list[dict[str, Any]]) -> dict[str, Any]:
    return next(c for c in commands if c["name"] == "video")


def _option(command: dict[str, Any], name: str) -> dict[str, Any]:
    return next(o for o in command["options"] if o["name"] == name)


async def test_the_video_command_as_discord_sees_it(world: World) -> None:
    video = _video(world.discord.commands())
    assert video["description_localizations"]["zh-CN"].startswith("用文字提示词")
    names = [o["name"] for o in video["options"]]
    # One template: no workflow. The picture comes right after the prompt, where members see it.
    assert names == ["prompt", "image", "negative", "seed", "steps", "cfg", "size", "duration"]
    assert _option(video, "prompt")["required"] and _option(video, "prompt")["name_localizations"]["zh-CN"] == "提示词"
    image = _option(video, "image")
    assert (image["type"], image.get("required", False)) == (11, False)  # an optional attachment
    assert image["name_localizations"]["zh-CN"] == "图片"
    assert image["description_localizations"]["zh-CN"].startswith("从这张图片开始")
    steps = _option(video, "steps")
    assert (steps["min_value"], steps["max_value"]) == (10, 30)
    cfg = _option(video, "cfg")
    assert (cfg["type"], cfg["min_value"], cfg["max_value"]) == (10, 1.0, 15.0)
    sizes = _option(video, "size")["choices"]
    assert [c["value"] for c in sizes] == ["landscape", "portrait", "square"]
    assert sizes[1]["name_localizations"]["zh-CN"] == "竖屏 480×832"
    assert [c["value"] for c in _option(video, "duration")["choices"]] == [1, 2, 3, 4, 5]
    assert video.get("contexts") == [0]  # servers only


async def test_with_two_templates_the_workflow_is_a_choice(tmp_path: Path) -> None:
    async with video_world(tmp_path, workflow="wan-wrapper,wan-native") as world:
        workflow = _option(_video(world.discord.commands()), "workflow")
        assert [c["value"] for c in workflow["choices"]] == ["wan-wrapper", "wan-native"]
        assert [c["name"] for c in workflow["choices"]] == ["Fast (1.3B)", "Fast (1.3B, core nodes)"]
        assert workflow["choices"][0]["name_localizations"]["zh-CN"] == "快速 (1.3B)"
        card = await card_of(await send_video(world, {"workflow": "wan-native", "duration": 2}))
        job = await wait_state(world, job_id_of(card), JobState.DELIVERED, timeout=15)
        assert job.template == "wan-native" and job.params["frames"] == 33


async def test_sync_goes_to_the_configured_guilds_and_is_skipped_when_unchanged(tmp_path: Path) -> None:
    guild_id = FakeWorld.default().guild.id
    async with video_world(tmp_path, discord_guilds=[guild_id]) as world:
        scopes = sorted(str(s.guild_id) for s in world.discord.syncs)
        assert scopes == sorted([str(guild_id), "None"])
        assert world.discord.commands() == []  # the global scope is emptied: no duplicates
        assert _video(world.discord.commands(guild_id))["guild_id"] == str(guild_id)
        await card_of(await send_video(world))  # the guild command dispatches

        state = tmp_path / SYNC_STATE_FILE
        synced = json.loads(state.read_text())
        assert set(synced["scopes"]) == {"global", f"guild:{guild_id}"}
        async with restarted(world):
            assert len(world.discord.syncs) == 2  # nothing changed: nothing synced

        synced["scopes"][f"guild:{guild_id}"] = "something older"
        state.write_text(json.dumps(synced))
        async with restarted(world):
            assert [s.guild_id for s in world.discord.syncs[2:]] == [guild_id]  # only what changed
