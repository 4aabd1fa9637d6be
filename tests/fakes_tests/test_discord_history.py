"""The fake's channel history (GET /channels/{id}/messages) keeps Discord's paging rules.

Discord: ``limit`` 1-100 (default 50); at most one of ``before``, ``after``, ``around``;
``before`` gives the newest messages older than it, ``after`` the *oldest* messages newer than
it, ``around`` the nearest on both sides (``limit // 2`` each way, plus the message itself);
every answer is sorted newest first; ephemeral and deleted messages are never listed. The last
test pages an unmodified discord.py client through it both ways.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import discord
import pytest

from tests.fakes.discord import FakeDiscord, StoredMessage, running_bot


@pytest.fixture
def chatter(fake: FakeDiscord) -> list[StoredMessage]:
    """Ten messages in #general, oldest first: members talking, with one bot post among them."""
    general = fake.world.channel_named("general")
    bob = fake.world.user_named("bob")
    return [fake.seed_message(general, f"m{i}", author=None if i == 4 else bob) for i in range(10)]


async def _list(fake: FakeDiscord, channel_id: int, **query: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bot {fake.token}"}
    params = {key: str(value) for key, value in query.items()}
    async with aiohttp.ClientSession(headers=headers) as http, \
            http.get(f"{fake.api_url}/channels/{channel_id}/messages", params=params) as response:
        return response.status, await response.json()


async def _contents(fake: FakeDiscord, **query: Any) -> list[str]:
    status, body = await _list(fake, fake.world.channel_named("general").id, **query)
    assert status == 200, body
    return [message["content"] for message in body]


def _names(messages: list[StoredMessage], *indexes: int) -> list[str]:
    return [messages[i].content for i in indexes]


async def test_without_a_cursor_the_newest_come_first(fake: FakeDiscord, chatter: list[StoredMessage]) -> None:
    assert await _contents(fake, limit=3) == _names(chatter, 9, 8, 7)
    assert await _contents(fake) == _names(chatter, *range(9, -1, -1))  # default 50: all ten


async def test_before_gives_the_newest_older_messages(fake: FakeDiscord, chatter: list[StoredMessage]) -> None:
    assert await _contents(fake, before=chatter[6].id, limit=3) == _names(chatter, 5, 4, 3)
    assert await _contents(fake, before=chatter[1].id, limit=3) == _names(chatter, 0)


async def test_after_gives_the_oldest_newer_messages_newest_first(
        fake: FakeDiscord, chatter: list[StoredMessage]) -> None:
    assert await _contents(fake, after=chatter[2].id, limit=3) == _names(chatter, 5, 4, 3)
    assert await _contents(fake, after=chatter[7].id, limit=5) == _names(chatter, 9, 8)
    assert await _contents(fake, after=0, limit=2) == _names(chatter, 1, 0)


async def test_around_gives_half_the_limit_each_side_and_the_message(
        fake: FakeDiscord, chatter: list[StoredMessage]) -> None:
    assert await _contents(fake, around=chatter[5].id, limit=3) == _names(chatter, 6, 5, 4)
    assert await _contents(fake, around=chatter[5].id, limit=4) == _names(chatter, 7, 6, 5, 4, 3)  # limit + 1
    assert await _contents(fake, around=chatter[1].id, limit=6) == _names(chatter, 4, 3, 2, 1, 0)


async def test_deleted_and_ephemeral_messages_are_not_listed(fake: FakeDiscord, chatter: list[StoredMessage]) -> None:
    chatter[8].mark_deleted(fake.state.clock.now())
    chatter[7].flags |= 1 << 6  # only its recipient ever sees an ephemeral message
    assert await _contents(fake, limit=3) == _names(chatter, 9, 6, 5)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"before": "soon"}, "before"),
        ({"before": 5, "after": 1}, "after"),
        ({"around": 5, "before": 9}, "around"),
    ],
)
async def test_bad_queries_get_400_50035(fake: FakeDiscord, query: dict[str, Any], field: str) -> None:
    status, body = await _list(fake, fake.world.channel_named("general").id, **query)
    assert (status, body["code"]) == (400, 50035)
    assert field in body["errors"]


async def test_an_unknown_channel_gets_404(fake: FakeDiscord) -> None:
    status, body = await _list(fake, 42)
    assert (status, body["code"]) == (404, 10003)


async def test_discord_py_pages_through_a_long_history_both_ways(fake: FakeDiscord) -> None:
    general = fake.world.channel_named("general")
    bob = fake.world.user_named("bob")
    seeded = [fake.seed_message(general, f"m{i}", author=bob) for i in range(250)]
    client = discord.Client(intents=discord.Intents.default())
    async with running_bot(client, fake):
        channel = client.get_partial_messageable(general.id)
        newest_first = [m.id async for m in channel.history(limit=None)]
        oldest_first = [m.id async for m in channel.history(limit=None, after=seeded[9])]
        between = [m.id async for m in channel.history(limit=None, after=seeded[9], before=seeded[200])]
        recent = [m.id async for m in channel.history(limit=120, after=seeded[9], oldest_first=False)]
    ids = [m.id for m in seeded]
    assert newest_first == ids[::-1]
    assert oldest_first == ids[10:]
    assert between == ids[10:200]
    assert recent == ids[::-1][:120]
