"""The fake Discord's gateway shards, as Discord documents them: GET /gateway/bot recommends a
count, IDENTIFY's ``shard: [shard_id, num_shards]`` selects the guilds ``(guild_id >> 22) %
num_shards == shard_id`` and their interactions, a shard that cannot exist is closed with 4010,
too few shards with 4011, and two sessions on one shard both get that shard's traffic.

Most cases speak the gateway protocol by hand (a websocket, HELLO, IDENTIFY, frames), so what
each session receives is read off the wire; the rest run discord.py's own clients.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest

from tests.fakes.discord import FakeDiscord, FakeWorld, running_bot, shard_of

TIMEOUT = 5.0


class RawSession:
    """One gateway connection driven by hand: IDENTIFY, then read its dispatches."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ready: dict[str, Any] = {}
        self.guild_creates: list[int] = []

    async def frame(self) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT):
            message = await self.ws.receive()
        if message.type is not aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"gateway sent {message.type.name} {self.ws.close_code}")
        return json.loads(message.data)

    async def identify(self, token: str, shard: list[int] | None) -> None:
        hello = await self.frame()
        assert hello["op"] == 10
        data: dict[str, Any] = {"token": token, "intents": 1, "properties": {"os": "linux"}}
        if shard is not None:
            data["shard"] = shard
        await self.ws.send_str(json.dumps({"op": 2, "d": data}))
        ready = await self.frame()
        assert ready["t"] == "READY", ready
        self.ready = ready["d"]
        for _ in self.ready["guilds"]:
            created = await self.frame()
            assert created["t"] == "GUILD_CREATE"
            self.guild_creates.append(int(created["d"]["id"]))

    async def dispatch(self, event: str) -> dict[str, Any]:
        while (frame := await self.frame())["t"] != event:
            pass
        return frame["d"]

    async def closed_with(self) -> int | None:
        async with asyncio.timeout(TIMEOUT):
            while not self.ws.closed:
                message = await self.ws.receive()
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    break
        return self.ws.close_code


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(FakeWorld.sharded(3)) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def connect(fake: FakeDiscord, http: aiohttp.ClientSession, shard: list[int] | None) -> RawSession:
    session = RawSession(await http.ws_connect(fake.gateway.url))
    await session.identify(fake.token, shard)
    return session


async def refused(fake: FakeDiscord, http: aiohttp.ClientSession, identify: dict[str, Any]) -> int | None:
    session = RawSession(await http.ws_connect(fake.gateway.url))
    assert (await session.frame())["op"] == 10
    await session.ws.send_str(json.dumps({"op": 2, "d": {"token": fake.token, "intents": 1, **identify}}))
    return await session.closed_with()


def test_the_sharded_world_puts_guild_i_on_shard_i() -> None:
    world = FakeWorld.sharded(3)
    assert [shard_of(guild.id, 3) for guild in world.guilds] == [0, 1, 2]
    assert len({guild.id for guild in world.guilds}) == 3
    assert FakeWorld.sharded(1).guild.id == FakeWorld.default().guild.id


async def test_gateway_bot_recommends_the_configured_count(fake: FakeDiscord, http: aiohttp.ClientSession) -> None:
    headers = {"Authorization": f"Bot {fake.token}"}
    async with http.get(f"{fake.api_url}/gateway/bot", headers=headers) as response:
        assert (await response.json())["shards"] == 1
    fake.recommend_shards(3)
    async with http.get(f"{fake.api_url}/gateway/bot", headers=headers) as response:
        body = await response.json()
    assert body["shards"] == 3 and body["url"] == fake.gateway.url


async def test_each_shard_gets_only_its_guilds_and_their_interactions(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    sessions = [await connect(fake, http, [shard, 3]) for shard in range(3)]
    guilds = fake.world.guilds
    for shard, session in enumerate(sessions):
        assert session.ready["shard"] == [shard, 3]
        assert [int(g["id"]) for g in session.ready["guilds"]] == [guilds[shard].id]
        assert session.guild_creates == [guilds[shard].id]
    for shard in (2, 0, 1):
        handle = await fake.slash("video", {"prompt": f"shard {shard}"}, guild=guilds[shard])
        received = await sessions[shard].dispatch("INTERACTION_CREATE")
        assert int(received["id"]) == handle.id and int(received["guild_id"]) == guilds[shard].id
        assert handle.shards == [(shard, 3)]
    for session in sessions:  # nothing else arrives anywhere: a heartbeat is answered next
        await session.ws.send_str(json.dumps({"op": 1, "d": None}))
        assert (await session.frame())["op"] == 11


async def test_a_dm_goes_to_shard_0_only(fake: FakeDiscord, http: aiohttp.ClientSession) -> None:
    sessions = [await connect(fake, http, [shard, 3]) for shard in range(3)]
    handle = await fake.slash("video", {"prompt": "in a DM"}, channel=fake.dm_channel(fake.world.user_named("alice")))
    assert handle.shards == [(0, 3)]
    assert int((await sessions[0].dispatch("INTERACTION_CREATE"))["id"]) == handle.id


async def test_an_unsharded_session_gets_every_guild(fake: FakeDiscord, http: aiohttp.ClientSession) -> None:
    session = await connect(fake, http, None)
    assert session.guild_creates == [guild.id for guild in fake.world.guilds]
    assert "shard" not in session.ready
    handle = await fake.slash("video", {"prompt": "anywhere"}, guild=fake.world.guilds[2])
    assert handle.shards == [(0, 1)]


async def test_two_sessions_on_one_shard_both_get_its_interactions(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    """Discord's docs: num_shards only routes traffic; several sessions may identify as the
    same shard, and each receives it (a second copy of a bot answers every command too)."""
    old, new = await connect(fake, http, [1, 3]), await connect(fake, http, [1, 3])
    assert not old.ws.closed and new.guild_creates == old.guild_creates == [fake.world.guilds[1].id]
    handle = await fake.slash("video", {"prompt": "twice"}, guild=fake.world.guilds[1])
    assert handle.shards == [(1, 3), (1, 3)]
    for session in (old, new):
        assert int((await session.dispatch("INTERACTION_CREATE"))["id"]) == handle.id


async def test_a_session_with_another_count_routes_by_its_own(fake: FakeDiscord, http: aiohttp.ClientSession) -> None:
    """Re-sharding without downtime: sessions of the old and the new count run side by side."""
    whole = await connect(fake, http, [0, 1])
    part = await connect(fake, http, [2, 3])
    handle = await fake.slash("video", {"prompt": "both counts"}, guild=fake.world.guilds[2])
    assert sorted(handle.shards) == [(0, 1), (2, 3)]
    for session in (whole, part):
        assert int((await session.dispatch("INTERACTION_CREATE"))["id"]) == handle.id


@pytest.mark.parametrize("shard", [[3, 3], [0, 0], [-1, 3], [1], "0,3", [0.0, 3]])
async def test_a_shard_that_cannot_exist_is_closed_with_4010(
    fake: FakeDiscord, http: aiohttp.ClientSession, shard: Any
) -> None:
    assert await refused(fake, http, {"shard": shard}) == 4010
    assert fake.gateway.identify_count == 0


async def test_too_few_shards_are_closed_with_4011(fake: FakeDiscord, http: aiohttp.ClientSession) -> None:
    fake.require_shards(2)
    assert await refused(fake, http, {}) == 4011  # unsharded: one shard
    assert await refused(fake, http, {"shard": [0, 1]}) == 4011
    session = await connect(fake, http, [1, 2])
    assert session.ready["shard"] == [1, 2]
    async with http.get(f"{fake.api_url}/gateway/bot", headers={"Authorization": f"Bot {fake.token}"}) as response:
        assert (await response.json())["shards"] == 2


# -- discord.py's own clients ---------------------------------------------------------------------


class ShardedClient(discord.AutoShardedClient):
    def __init__(self, **options: Any) -> None:
        super().__init__(intents=discord.Intents(guilds=True), guild_ready_timeout=0.05, **options)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Skip discord.py's 5 s pause between two shards' IDENTIFYs (Discord's rate limit for
        max_concurrency 1; a documented override point)."""


async def test_discord_py_starts_the_recommended_shards(fake: FakeDiscord) -> None:
    fake.recommend_shards(3)
    async with running_bot(ShardedClient(), fake) as client:
        assert client.shard_count == 3
        assert sorted(s.shard for s in fake.gateway.sessions) == [(0, 3), (1, 3), (2, 3)]
        assert {guild.id: guild.shard_id for guild in client.guilds} == {
            guild.id: shard for shard, guild in enumerate(fake.world.guilds)}


async def test_discord_py_with_given_shard_ids_sees_only_their_guilds(fake: FakeDiscord) -> None:
    async with running_bot(ShardedClient(shard_count=3, shard_ids=[0, 2]), fake) as client:
        assert sorted(s.shard for s in fake.gateway.sessions) == [(0, 3), (2, 3)]
        guilds = fake.world.guilds
        assert sorted(guild.id for guild in client.guilds) == sorted([guilds[0].id, guilds[2].id])


async def test_discord_py_below_the_required_count_gets_4011(fake: FakeDiscord) -> None:
    fake.require_shards(3)
    with pytest.raises(discord.ConnectionClosed) as closed:
        async with running_bot(ShardedClient(shard_count=2), fake):
            pass
    assert closed.value.code == 4011


def test_a_sharded_world_spreads_its_crowd_over_the_guilds_in_turn() -> None:
    world = FakeWorld.sharded(3, crowd=5)
    crowd = world.crowd_members()
    assert [(user.name, world.guilds.index(guild)) for user, guild in crowd] == [
        ("member0", 0), ("member1", 1), ("member2", 2), ("member3", 0), ("member4", 1)]
    for user, guild in crowd:
        assert guild.member(user.id) is not None
        assert all(other.member(user.id) is None for other in world.guilds if other is not guild)
