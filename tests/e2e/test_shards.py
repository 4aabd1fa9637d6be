"""The bot split into shards: two bots (as two `wanbot run` processes would be) with
WANBOT_SHARD_COUNT=2 and one shard each, on one database. Each connects only its shard, sees
only its guilds and receives only their interactions; `/video` works in the guilds of both
shards, whichever bot's dispatcher renders and posts the video (posting needs no shard)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest
import yarl
from discord.gateway import DiscordWebSocket

from bot.app import WanBot
from bot.fatal import GatewayUnreachable
from bot.jobs import JobState
from tests.e2e._video_helpers import card_of, job_id_of
from tests.e2e.conftest import e2e_settings, start_bot
from tests.fakes.comfyui import FakeComfyUI
from tests.fakes.discord import FakeDiscord, FakeWorld, point_discord_py_at, running_bot, shard_of
from tests.ops._process import free_port

pytestmark = pytest.mark.timeout(60)


class Received:
    """The interactions one bot's gateway delivered to it, by id."""

    def __init__(self, bot: WanBot) -> None:
        self.ids: list[int] = []
        bot.add_listener(self.on_interaction)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.ids.append(interaction.id)


@contextlib.asynccontextmanager
async def two_shard_bots(tmp_path: Path, discord_fake: FakeDiscord, comfy: FakeComfyUI) -> AsyncIterator[list[WanBot]]:
    async with contextlib.AsyncExitStack() as running:
        bots = []
        for shard in (0, 1):
            settings = e2e_settings(tmp_path, comfy.url, discord_fake.token, shard_count=2, shard_ids=[shard])
            bot = await start_bot(discord_fake, settings)
            bots.append(await running.enter_async_context(running_bot(bot, discord_fake)))
        yield bots


async def _until_delivered(bot: WanBot, job_id: int) -> None:
    """Poll the store (the bot signals nothing we can await for `delivered`)."""
    async with asyncio.timeout(10):
        while (job := await bot.services.db.jobs.get(job_id)) is None or job.state is not JobState.DELIVERED:
            await asyncio.sleep(0.01)


async def test_each_bot_gets_only_its_shards_guilds_and_video_works_on_both(tmp_path: Path) -> None:
    async with FakeComfyUI(steps=3, step_seconds=0.01) as comfy, FakeDiscord(FakeWorld.sharded(2)) as discord_fake:
        guilds = discord_fake.world.guilds
        async with two_shard_bots(tmp_path, discord_fake, comfy) as bots:
            assert sorted(session.shard for session in discord_fake.gateway.sessions) == [(0, 2), (1, 2)]
            received = [Received(bot) for bot in bots]
            for shard, bot in enumerate(bots):
                assert bot.shard_count == 2 and bot.shard_ids == [shard]
                assert [guild.id for guild in bot.guilds] == [guilds[shard].id]

            alice = discord_fake.world.user_named("alice")
            handles = [await discord_fake.slash("video", {"prompt": f"a fox on shard {shard}"}, user=alice,
                                                channel=discord_fake.world.channel_named("videos", guild))
                       for shard, guild in enumerate(guilds)]
            jobs = [job_id_of(await card_of(handle)) for handle in handles]
            for shard, (handle, job_id) in enumerate(zip(handles, jobs, strict=True)):
                posted = await discord_fake.wait_for_message(
                    lambda m, job_id=job_id: f"wanbot:delete:{job_id}" in m.custom_ids(), timeout=20)
                assert posted.guild_id == guilds[shard].id and any(a.filename.endswith(".mp4") for a in posted.attachments)
                assert handle.shards == [(shard, 2)]
                assert handle.id in received[shard].ids and handle.id not in received[1 - shard].ids
                job = await bots[shard].services.db.jobs.get(job_id)
                assert job is not None and job.guild_id == guilds[shard].id
            for job_id in jobs:  # one database: either bot reads what the other stored
                # `delivered` is stored right after the post the fake has already shown us.
                await _until_delivered(bots[0], job_id)
                job = await bots[1].services.db.jobs.get(job_id)
                assert job is not None and job.state is JobState.DELIVERED
        assert [e for e in discord_fake.errors if e.code == 40060] == []  # nobody answered twice


async def test_each_bot_keeps_its_own_comfyui_client_id(tmp_path: Path) -> None:
    """ComfyUI keeps one websocket per clientId (a second connection under the same id takes
    over, leaving the first open and silent) and sends a prompt's progress to the clientId that
    queued it. Two bots on one database must therefore not share an id, or one of them renders
    blind: each is its process's identity."""
    async with FakeComfyUI(steps=3, step_seconds=0.01) as comfy, FakeDiscord(FakeWorld.sharded(2)) as discord_fake:
        async with two_shard_bots(tmp_path, discord_fake, comfy) as bots:
            ids = [bot.services.backends[0].client.client_id for bot in bots]
            assert ids[0] != ids[1] and ids == [bot.services.dispatcher.identity.id for bot in bots]
            assert sorted(comfy.connected_clients) == sorted(ids)


async def test_an_unsharded_bot_still_connects_every_shard_discord_recommends(tmp_path: Path) -> None:
    async with FakeComfyUI() as comfy, FakeDiscord(FakeWorld.sharded(2)) as discord_fake:
        discord_fake.recommend_shards(2)
        bot = await start_bot(discord_fake, e2e_settings(tmp_path, comfy.url, discord_fake.token))
        # discord.py waits 5 s between two IDENTIFYs of one process (Discord's identify rate limit).
        async with running_bot(bot, discord_fake, ready_timeout=20):
            assert bot.shard_count == 2
            assert sorted(session.shard for session in discord_fake.gateway.sessions) == [(0, 2), (1, 2)]
            assert sorted(guild.id for guild in bot.guilds) == sorted(guild.id for guild in discord_fake.world.guilds)
            assert {shard_of(guild.id, 2) for guild in bot.guilds} == {0, 1}


async def test_given_shards_that_cannot_connect_end_start_up_instead_of_retrying(tmp_path: Path) -> None:
    """With a fixed count discord.py skips GET /gateway/bot and dials its default gateway;
    the bot's own launch_shard still gives up on the first failure."""
    async with FakeComfyUI() as comfy, FakeDiscord(FakeWorld.sharded(2)) as discord_fake:
        settings = e2e_settings(tmp_path, comfy.url, discord_fake.token, shard_count=2, shard_ids=[1])
        bot = await start_bot(discord_fake, settings)
        restore = point_discord_py_at(discord_fake.url)
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"ws://127.0.0.1:{free_port()}/gateway")
        try:
            await bot.login(discord_fake.token)
            with pytest.raises(GatewayUnreachable) as unreachable:
                await bot.connect()
            assert unreachable.value.host == "127.0.0.1"
        finally:
            await bot.close()
            restore()
        assert discord_fake.gateway.identify_count == 0
