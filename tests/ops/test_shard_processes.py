"""Two `wanbot run` processes splitting the gateway as an operator configures them
(WANBOT_SHARD_COUNT=2, WANBOT_SHARD_IDS=0 and 1), on one SQLite file: each identifies as its
shard, and `/video` is answered and delivered in a guild of each shard."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.comfyui import FakeComfyUI
from tests.fakes.discord import FakeDiscord, FakeWorld
from tests.ops._process import BotProcess

pytestmark = pytest.mark.timeout(90)


async def test_two_processes_split_the_shards_and_both_serve_video(tmp_path: Path) -> None:
    async with FakeComfyUI(steps=3, step_seconds=0.01) as comfy, FakeDiscord(FakeWorld.sharded(2)) as discord_fake:
        processes = [BotProcess.configure(tmp_path, discord_url=discord_fake.url, discord_token=discord_fake.token,
                                          comfy_url=comfy.url, WANBOT_SHARD_COUNT="2", WANBOT_SHARD_IDS=str(shard))
                     for shard in (0, 1)]
        try:
            for process in processes:  # one after the other, as a StatefulSet starts its pods
                await process.start()
                await process.wait_healthy()
            assert sorted(session.shard for session in discord_fake.gateway.sessions) == [(0, 2), (1, 2)]
            world = discord_fake.world
            for shard, guild in enumerate(world.guilds):
                handle = await discord_fake.slash("video", {"prompt": f"a fox on shard {shard}"},
                                                  user=world.user_named("alice"),
                                                  channel=world.channel_named("videos", guild))
                assert (await handle.acked(timeout=10)).type == 5
                assert handle.shards == [(shard, 2)]
                posted = await discord_fake.wait_for_message(
                    lambda m, guild=guild: m.guild_id == guild.id and any(a.filename.endswith(".mp4")
                                                                          for a in m.attachments), timeout=30)
                assert posted.channel_id == world.channel_named("videos", guild).id
            codes = [await process.terminate() for process in processes]
        finally:
            for process in processes:
                await process.kill()
    assert codes == [0, 0], "\n".join(process.tail for process in processes)
    for process in processes:
        assert "Traceback" not in process.text and discord_fake.token not in process.text
