"""The fake's rate limits and embed attachments: raw HTTP pins the wire (headers, 429 shape,
which requests share a bucket), and the unmodified discord.py client shows it copes."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest

from tests.fakes.discord import FakeDiscord, Limit, RateLimits, StoredMessage, running_bot
from tests.fakes_tests.test_discord_fake import SampleBot


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(rate_limits=RateLimits()) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _patch(http: aiohttp.ClientSession, fake: FakeDiscord, channel_id: int, message_id: int,
                 ) -> tuple[int, dict[str, str], Any]:
    async with http.patch(f"{fake.api_url}/channels/{channel_id}/messages/{message_id}", json={"content": "x"},
                          headers={"Authorization": f"Bot {fake.token}"}) as resp:
        return resp.status, dict(resp.headers), await resp.json()


async def test_message_edits_share_one_bucket_per_channel(fake: FakeDiscord, http: aiohttp.ClientSession) -> None:
    general, other = fake.world.channel_named("general"), fake.world.channel_named("videos")
    first, second = fake.seed_message(general, "a"), fake.seed_message(general, "b")
    answers = [await _patch(http, fake, general.id, (first if n % 2 else second).id) for n in range(6)]
    assert [status for status, _, _ in answers] == [200] * 5 + [429]
    assert [h["X-RateLimit-Remaining"] for _, h, _ in answers] == ["4", "3", "2", "1", "0", "0"]
    assert {h["X-RateLimit-Limit"] for _, h, _ in answers} == {"5"}
    status, headers, body = answers[-1]
    assert body["message"] == "You are being rate limited." and body["global"] is False
    assert 0 < body["retry_after"] <= 5 and headers["Retry-After"] == "5"
    assert headers["X-RateLimit-Scope"] == "user" and headers["Via"]  # discord.py needs Via to retry
    elsewhere = fake.seed_message(other, "c")
    assert (await _patch(http, fake, other.id, elsewhere.id))[0] == 200
    assert [(e.status, e.route) for e in fake.rate_limited] == [(429, "/channels/{channel_id}/messages/{message_id}")]
    fake.advance_clock(5.0)
    assert (await _patch(http, fake, general.id, first.id))[0] == 200
    assert first.content == "x" and len(first.edits) == 3  # the refused edit changed nothing


async def test_the_global_limit_counts_bot_token_requests_only(fake: FakeDiscord, http: aiohttp.ClientSession,
                                                              ) -> None:
    auth = {"Authorization": f"Bot {fake.token}"}
    statuses = []
    for _ in range(51):
        async with http.get(f"{fake.api_url}/users/@me", headers=auth) as resp:
            statuses.append(resp.status)
            last = dict(resp.headers), await resp.json()
    assert statuses == [200] * 50 + [429]
    headers, body = last
    assert body["global"] is True and headers["X-RateLimit-Global"] == "true"
    assert headers["X-RateLimit-Scope"] == "global"


async def test_interaction_webhooks_have_a_bucket_per_token_outside_the_global_limit() -> None:
    async with FakeDiscord(rate_limits=RateLimits(interaction_webhook=Limit(2, 60.0))) as fake, \
            running_bot(SampleBot(), fake):
        first, second = await fake.slash("ping", {"msg": "a"}), await fake.slash("ping", {"msg": "b"})
        await first.wait_for_edit()
        await second.wait_for_edit()
        assert fake.rate_limiter is not None
        # No bot-token request may pass any more; webhook requests are not counted globally.
        fake.rate_limiter.limits = RateLimits(global_per_second=0, interaction_webhook=Limit(2, 60.0))
        async with aiohttp.ClientSession() as http:
            for handle in (first, second):
                url = f"{fake.api_url}/webhooks/{fake.world.application_id}/{handle.token}/messages/@original"
                statuses = []
                for _ in range(2):
                    async with http.patch(url, json={"content": "again"}) as resp:
                        statuses.append(resp.status)
                assert statuses == [200, 429]  # the bot's edit used one of the two; no bucket shared
    assert {e.route for e in fake.rate_limited} == {"/webhooks/{app_id}/{token}/messages/{message_id}"}


async def test_discord_py_waits_instead_of_hammering() -> None:
    """Eight concurrent edits in one channel, two per half second: discord.py reads the headers
    and spaces them out."""
    async with FakeDiscord(rate_limits=RateLimits(channel_message_edit=Limit(2, 0.5))) as fake, \
            running_bot(SampleBot(), fake) as bot:
        general = fake.world.channel_named("general")
        seeded = [fake.seed_message(general, str(n)) for n in range(8)]
        channel = bot.get_partial_messageable(general.id)
        await asyncio.gather(*(channel.get_partial_message(m.id).edit(content="edited") for m in seeded))
    assert all(m.content == "edited" for m in seeded)
    assert fake.rate_limited == []
    times = sorted(m.edits[0].at for m in seeded)
    assert times[-1] - times[0] >= 1.4  # four windows of two


async def _sent_with(bot: SampleBot, fake: FakeDiscord, embed: discord.Embed,
                     filename: str) -> tuple[discord.Message, StoredMessage]:
    """`embed` posted in #general with one file, as discord.py sees it and as the fake keeps it."""
    channel = bot.get_partial_messageable(fake.world.channel_named("general").id)
    sent = await channel.send(embed=embed, file=discord.File(io.BytesIO(b"jpeg"), filename))
    return sent, fake.messages[sent.id]


async def test_an_embed_shows_its_attachment_and_members_see_no_loose_file(fake: FakeDiscord) -> None:
    async with running_bot(SampleBot(), fake) as bot:
        embed = discord.Embed(title="card").set_image(url="attachment://preview.jpg")
        sent, stored = await _sent_with(bot, fake, embed, "preview.jpg")
        (attachment,) = stored.attachments
        assert stored.embeds[0]["image"]["url"] == attachment.url and stored.loose_attachments == []
        assert sent.embeds[0].image.url == attachment.url
        await sent.edit(embed=discord.Embed(title="text only"))  # the file stays, outside the embed now
        assert stored.loose_attachments == [attachment]
        await sent.edit(embed=discord.Embed(title="cleared"), attachments=[])
        assert stored.attachments == [] and stored.edits[-1].files == ()
        await sent.edit(embed=embed, attachments=[discord.File(io.BytesIO(b"jpeg2"), "preview.jpg")])
        assert stored.edits[-1].files == ("preview.jpg",) and stored.loose_attachments == []


async def test_only_attachment_references_keep_a_file_inside_the_embed(fake: FakeDiscord) -> None:
    """Discord hides a file below the message only while an embed names it
    `attachment://<filename>`: naming it by the URL Discord gave it shows it loose as well
    (discord-api-docs #4809, #5675); a file kept by id may be named again, and the new list
    replaces the old."""
    async with running_bot(SampleBot(), fake) as bot:
        card = discord.Embed(title="card").set_thumbnail(url="attachment://start.jpg")
        sent, stored = await _sent_with(bot, fake, card, "start.jpg")
        (start,) = sent.attachments
        by_url = discord.Embed(title="by URL").set_thumbnail(url=sent.embeds[0].thumbnail.url)
        await sent.edit(embed=by_url)
        assert stored.loose_attachments == stored.attachments and stored.edits[-1].loose == ("start.jpg",)
        both = card.copy().set_image(url="attachment://preview.jpg")
        await sent.edit(embed=both, attachments=[start, discord.File(io.BytesIO(b"jpeg2"), "preview.jpg")])
        assert [a.filename for a in stored.attachments] == ["start.jpg", "preview.jpg"]
        assert stored.edits[-1].files == ("preview.jpg",) and stored.loose_attachments == []
        assert stored.embeds[0]["thumbnail"]["url"] == start.url
        await sent.edit(embed=card, attachments=[start])
        assert stored.attachments[0].id == start.id and stored.edits[-1].files == ()
        assert stored.loose_attachments == [] and stored.edits[-1].loose == ()
        await sent.edit(content="text only")  # the embed is left as it is, and so are its files
        assert stored.loose_attachments == []
