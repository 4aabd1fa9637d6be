"""The fake Discord against a real, unmodified discord.py ``commands.Bot``.

Each test starts the fake and a small bot defined here (slash commands, a persistent
view, a locale check) and drives it as a user would; the assertions are on what reached
the wire. A few tests speak raw HTTP to pin down wire details discord.py depends on.
"""

from __future__ import annotations

import asyncio
import io
import os
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands
from PIL import Image

from tests.fakes.discord import (
    DEFAULT_UPLOAD_LIMIT,
    ENV_VAR,
    CommandAttachment,
    FakeDiscord,
    FakeWorld,
    OptionType,
    running_bot,
)

REROLL_ID = "wanbot:reroll"
SITECUSTOMIZE_DIR = Path(__file__).resolve().parents[1] / "fakes" / "discord" / "sitecustomize"


def clip_bytes(size: int) -> bytes:
    return random.Random(size).randbytes(size)


class RerollView(discord.ui.View):
    """Persistent: no timeout, a stable custom_id, registered in setup_hook."""

    def __init__(self, clicks: list[int]) -> None:
        super().__init__(timeout=None)
        self.clicks = clicks

    @discord.ui.button(label="Reroll", custom_id=REROLL_ID)
    async def reroll(self, interaction: discord.Interaction, button: discord.ui.Button[RerollView]) -> None:
        self.clicks.append(interaction.user.id)
        await interaction.response.send_message("rerolling", ephemeral=True)


class NoteModal(discord.ui.Modal, title="Note"):
    text: discord.ui.TextInput[NoteModal] = discord.ui.TextInput(label="Text", custom_id="note:text")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"noted: {self.text.value}")


class SampleBot(commands.Bot):
    """The bot under test; its knobs and records are plain attributes the tests read."""

    def __init__(self) -> None:
        super().__init__(
            command_prefix="!",
            intents=discord.Intents.default(),
            guild_ready_timeout=0.05,
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self.clicks: list[int] = []
        self.failures: list[discord.HTTPException] = []
        self.failed = asyncio.Event()
        self.release = asyncio.Event()
        self.slow_delay = 0.0
        self.ready_count = 0
        self.seen_attachments: list[discord.Attachment] = []
        add_sample_commands(self)

    async def setup_hook(self) -> None:
        self.add_view(RerollView(self.clicks))
        await self.tree.sync()

    async def on_ready(self) -> None:
        self.ready_count += 1

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Skip discord.py's 5 s pause before a re-IDENTIFY (a documented override point)."""

    def record_failure(self, exc: discord.HTTPException) -> None:
        self.failures.append(exc)
        self.failed.set()


def add_sample_commands(bot: SampleBot) -> None:
    tree = bot.tree

    @tree.command(description="Defer, then edit the original response")
    async def ping(interaction: discord.Interaction, msg: str) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content=f"pong: {msg}")

    @tree.command(description="Answer in the user's language")
    async def hello(interaction: discord.Interaction) -> None:
        text = "你好" if interaction.locale is discord.Locale.chinese else "hello"
        await interaction.response.send_message(text)

    @tree.command(description="Post a clip file with a Reroll button")
    async def clip(
        interaction: discord.Interaction, size: int, via: Literal["channel", "followup"] = "channel"
    ) -> None:
        await interaction.response.defer(thinking=True)
        file = discord.File(io.BytesIO(clip_bytes(size)), "clip.mp4")
        try:
            if via == "channel":
                assert isinstance(interaction.channel, discord.TextChannel)
                await interaction.channel.send("your clip", file=file, view=RerollView(bot.clicks))
            else:
                await interaction.followup.send("your clip", file=file)
        except discord.HTTPException as exc:
            await interaction.edit_original_response(content=f"failed {exc.status}/{exc.code}")
            return
        await interaction.edit_original_response(content=f"posted (limit {interaction.filesize_limit})")

    @tree.command(description="Ack only after slow_delay seconds (late on purpose)")
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(bot.slow_delay)
        await _defer_recording(bot, interaction)

    @tree.command(description="Block the event loop, then ack")
    async def block(interaction: discord.Interaction) -> None:
        time.sleep(bot.slow_delay)  # noqa: ASYNC251 - the bug under test: blocking the loop
        await _defer_recording(bot, interaction)

    @tree.command(description="Defer, wait for the test, then edit (the token may be dead)")
    async def wait(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await bot.release.wait()
        try:
            await interaction.edit_original_response(content="done")
        except discord.HTTPException as exc:
            bot.record_failure(exc)
            assert isinstance(interaction.channel, discord.TextChannel)
            await interaction.channel.send("done (via the bot token)")

    @tree.command(description="Mention someone, pinging them only if asked")
    async def shout(interaction: discord.Interaction, target: discord.Member, ping: bool = False) -> None:
        allowed = discord.AllowedMentions(users=[target]) if ping else discord.utils.MISSING
        await interaction.response.send_message(f"hey {target.mention} @everyone", allowed_mentions=allowed)

    @tree.command(description="DM the caller")
    async def dm(interaction: discord.Interaction) -> None:
        try:
            await interaction.user.send("psst")
        except discord.HTTPException as exc:
            await interaction.response.send_message(f"failed {exc.status}/{exc.code}", ephemeral=True)
            return
        await interaction.response.send_message("sent", ephemeral=True)

    @tree.command(description="Pick a template (autocomplete)")
    async def pick(interaction: discord.Interaction, template: str) -> None:
        await interaction.response.send_message(template)

    @pick.autocomplete("template")
    async def pick_template(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        names = ["wan-native", "wan-wrapper"]
        return [app_commands.Choice(name=n, value=n) for n in names if n.startswith(current)]

    @tree.command(description="Status card: post, edit twice, reply to it, delete it")
    async def card(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True)
        assert isinstance(interaction.channel, discord.TextChannel)
        status = await interaction.channel.send(embed=discord.Embed(title="queued"))
        await status.edit(embed=discord.Embed(title="rendering 50%"))
        await status.edit(embed=discord.Embed(title="done"))
        only_requester = discord.AllowedMentions(users=[interaction.user])
        await status.reply(f"{interaction.user.mention} your clip", allowed_mentions=only_requester)
        await status.delete()
        await interaction.edit_original_response(content="ok")

    @tree.command(description="Walk every interaction webhook route once")
    async def tour(interaction: discord.Interaction) -> None:
        file = discord.File(io.BytesIO(b"frame"), "frame.png")
        await interaction.response.send_message("first", file=file)
        original = await interaction.original_response()
        extra = await interaction.followup.send(f"{original.attachments[0].filename} seen", ephemeral=True, wait=True)
        await extra.edit(content="edited")
        await extra.delete()
        await interaction.edit_original_response(content="final", attachments=[])
        await interaction.delete_original_response()

    @tree.command(description="Read an attached picture and show it back as a thumbnail")
    async def mirror(interaction: discord.Interaction, picture: discord.Attachment) -> None:
        data = await picture.read()
        bot.seen_attachments.append(picture)
        embed = discord.Embed(title=f"{picture.filename} {picture.size} {picture.content_type} "
                                    f"{picture.width}x{picture.height} {picture.ephemeral}")
        embed.set_thumbnail(url="attachment://copy.png")
        await interaction.response.send_message(embed=embed, file=discord.File(io.BytesIO(data), "copy.png"))

    admin = app_commands.Group(name="admin", description="Moderator tools")
    queue = app_commands.Group(name="queue", description="Queue control", parent=admin)

    @admin.command(description="Purge a member's jobs")
    async def purge(interaction: discord.Interaction, user: discord.Member) -> None:
        await interaction.response.send_message(f"purged {user.display_name}", ephemeral=True)

    @queue.command(description="Pause the queue")
    async def pause(interaction: discord.Interaction, minutes: app_commands.Range[int, 1, 60] = 10) -> None:
        await interaction.response.send_message(f"paused {minutes} min")

    tree.add_command(admin)

    @tree.command(description="Open a modal")
    async def note(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(NoteModal())


async def _defer_recording(bot: SampleBot, interaction: discord.Interaction) -> None:
    try:
        await interaction.response.defer()
    except discord.HTTPException as exc:
        bot.record_failure(exc)


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[SampleBot]:
    async with running_bot(SampleBot(), fake) as running:
        yield running


# -- connection and commands --------------------------------------------------------------


async def test_bot_connects_and_on_ready_fires(fake: FakeDiscord, bot: SampleBot) -> None:
    world = fake.world
    assert bot.ready_count == 1 and bot.user is not None and bot.user.id == world.bot.id
    guild = bot.get_guild(world.guild.id)
    assert guild is not None and guild.me is not None
    assert guild.filesize_limit == DEFAULT_UPLOAD_LIMIT
    locked = guild.get_channel(world.channel_named("locked").id)
    assert isinstance(locked, discord.TextChannel)
    assert not locked.permissions_for(guild.me).send_messages  # agrees with the 403 the fake gives
    assert fake.gateway.identify_count == 1 and fake.gateway.heartbeat_count >= 1


async def test_tree_sync_stores_commands(fake: FakeDiscord, bot: SampleBot) -> None:
    assert [s.guild_id for s in fake.syncs] == [None]
    commands_by_name = {c["name"]: c for c in fake.commands()}
    assert {"ping", "hello", "clip", "slow", "wait"} <= set(commands_by_name)
    (msg,) = commands_by_name["ping"]["options"]
    assert msg == msg | {"name": "msg", "type": 3, "required": True}
    synced = await bot.tree.fetch_commands()
    assert {c.name for c in synced} == set(commands_by_name)


async def test_ping_is_acked_within_3s_and_the_edit_arrives(fake: FakeDiscord, bot: SampleBot) -> None:
    handle = await fake.slash("ping", {"msg": "hi"})
    ack = await handle.acked()
    assert ack.type == 5 and ack.latency_ms < 3000
    edit = await handle.wait_for_edit()
    assert edit.content == "pong: hi"
    assert handle.original is not None and handle.original.content == "pong: hi" and not handle.original.loading
    assert fake.errors == []


async def test_an_unsynced_option_is_refused_by_the_driver(fake: FakeDiscord, bot: SampleBot) -> None:
    with pytest.raises(ValueError, match="no option 'message'"):
        await fake.slash("ping", {"message": "hi"})
    with pytest.raises(ValueError, match="required"):
        await fake.slash("ping", {})


async def test_group_subcommands_and_member_options(fake: FakeDiscord, bot: SampleBot) -> None:
    purge = await fake.slash("admin purge", {"user": fake.world.user_named("bob")})
    assert (await purge.acked()).body["data"]["content"] == "purged Bob"
    pause = await fake.slash("admin queue pause", {"minutes": 5})
    assert (await pause.acked()).body["data"]["content"] == "paused 5 min"
    with pytest.raises(ValueError, match="below min_value"):
        await fake.slash("admin queue pause", {"minutes": 0})


# -- Discord's clocks ------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["slow", "block"])
async def test_a_late_ack_gets_10062(fake: FakeDiscord, bot: SampleBot, command: str) -> None:
    fake.ack_window = 0.15
    bot.slow_delay = 0.3
    handle = await fake.slash(command)
    await asyncio.wait_for(bot.failed.wait(), timeout=5)
    assert handle.ack is None
    assert [(e.status, e.code) for e in handle.errors] == [(404, 10062)]
    assert isinstance(bot.failures[0], discord.NotFound) and bot.failures[0].code == 10062


async def test_a_second_ack_gets_40060(fake: FakeDiscord, bot: SampleBot) -> None:
    handle = await fake.slash("hello")
    await handle.acked()
    url = f"{fake.api_url}/interactions/{handle.id}/{handle.token}/callback"
    async with aiohttp.ClientSession() as http, http.post(url, json={"type": 5}) as response:
        assert response.status == 400
        assert (await response.json())["code"] == 40060
    assert fake.error_codes() == [40060]


@pytest.mark.parametrize("how", ["expire", "advance_clock"])
async def test_an_expired_token_surfaces_as_50027(fake: FakeDiscord, bot: SampleBot, how: str) -> None:
    handle = await fake.slash("wait")
    await handle.acked()
    if how == "expire":
        handle.expire()
    else:
        fake.advance_clock(15 * 60 + 1)
    bot.release.set()
    fallback = await fake.wait_for_message(lambda m: m.content == "done (via the bot token)")
    (failure,) = bot.failures
    assert isinstance(failure, discord.HTTPException) and (failure.status, failure.code) == (401, 50027)
    assert fallback.via == "channel"


# -- uploads, buttons, permissions -------------------------------------------------------------


async def test_file_upload_bytes_arrive_intact(fake: FakeDiscord, bot: SampleBot) -> None:
    handle = await fake.slash("clip", {"size": 300_000})
    message = await fake.wait_for_message(lambda m: bool(m.attachments))
    (attachment,) = message.attachments
    assert attachment.filename == "clip.mp4" and attachment.data == clip_bytes(300_000)
    assert message.custom_ids() == [REROLL_ID]
    edit = await handle.wait_for_edit()
    assert edit.content == f"posted (limit {DEFAULT_UPLOAD_LIMIT})"
    async with aiohttp.ClientSession() as http, http.get(attachment.url) as response:
        assert await response.read() == attachment.data


async def test_an_attachment_option_reaches_the_bot_through_the_cdn(fake: FakeDiscord, bot: SampleBot) -> None:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (9, 99, 199)).save(out, "PNG")
    picture = CommandAttachment("sunset.jpg", out.getvalue())  # a PNG under a JPEG name
    handle = await fake.slash("mirror", {"picture": picture})
    (definition,) = [c for c in fake.commands() if c["name"] == "mirror"]
    assert definition["options"][0]["type"] == OptionType.ATTACHMENT == 11
    (option,) = handle.payload["data"]["options"]
    resolved = handle.payload["data"]["resolved"]["attachments"][option["value"]]
    assert resolved["filename"] == "sunset.jpg" and resolved["size"] == len(picture.data)
    assert resolved["content_type"] == "image/jpeg"  # Discord goes by the name; the bytes say otherwise
    assert (resolved["width"], resolved["height"], resolved["ephemeral"]) == (40, 30, True)
    assert f"/ephemeral-attachments/{fake.world.application_id}/{option['value']}/sunset.jpg" in resolved["url"]
    reply = await fake.wait_for_message(lambda m: bool(m.embeds))
    assert reply.embeds[0]["title"] == f"sunset.jpg {len(picture.data)} image/jpeg 40x30 True"
    (copy,) = reply.attachments
    assert copy.data == picture.data  # the bot downloaded the exact bytes from the CDN
    # An embed naming attachment://copy.png is stored pointing at that attachment, as Discord does.
    assert reply.embeds[0]["thumbnail"]["url"] == copy.url
    downloads = [r for r in fake.requests if r.path.startswith("/ephemeral-attachments/")]
    assert [(r.method, r.status) for r in downloads] == [("GET", 200)]


async def test_an_attachment_option_takes_only_a_file(fake: FakeDiscord, bot: SampleBot) -> None:
    with pytest.raises(ValueError, match="CommandAttachment"):
        await fake.slash("mirror", {"picture": "not-a-file.png"})


@pytest.mark.parametrize("via", ["channel", "followup"])
async def test_an_oversize_upload_gets_413_40005(fake: FakeDiscord, bot: SampleBot, via: str) -> None:
    handle = await fake.slash("clip", {"size": DEFAULT_UPLOAD_LIMIT + 1, "via": via})
    edit = await handle.wait_for_edit(timeout=10)
    assert edit.content == "failed 413/40005"
    assert [(e.status, e.code) for e in fake.errors] == [(413, 40005)]
    assert not any(m.attachments for m in fake.messages.values())


async def test_a_click_reaches_the_view_on_the_posted_message(fake: FakeDiscord, bot: SampleBot) -> None:
    await fake.slash("clip", {"size": 10})
    message = await fake.wait_for_message(lambda m: bool(m.attachments))
    bob = fake.world.user_named("bob")
    handle = await fake.click(message.id, REROLL_ID, user=bob)
    ack = await handle.acked()
    assert ack.type == 4 and handle.original is not None and handle.original.ephemeral
    assert handle.original.content == "rerolling" and bot.clicks == [bob.id]


async def test_a_click_after_a_restart_reaches_the_persistent_view(fake: FakeDiscord, bot: SampleBot) -> None:
    button = {"type": 2, "style": 1, "label": "Reroll", "custom_id": REROLL_ID}
    row = {"type": 1, "components": [button]}
    earlier = fake.seed_message(fake.world.channel_named("videos"), "old clip", components=[row])
    handle = await fake.click(earlier.id, REROLL_ID)
    assert (await handle.acked()).type == 4
    assert bot.clicks == [fake.world.default_member(fake.world.guild).id]


async def test_a_status_card_is_edited_replied_to_and_deleted(fake: FakeDiscord, bot: SampleBot) -> None:
    handle = await fake.slash("card")
    assert (await handle.wait_for_edit()).content == "ok"
    general = fake.world.channel_named("general")
    card, reply = fake.channel_messages(general, include_deleted=True, include_ephemeral=False)
    assert [e.changes["embeds"][0]["title"] for e in card.edits] == ["rendering 50%", "done"]
    assert card.edits[0].at < card.edits[1].at and card.deleted
    assert reply.type == 19 and reply.message_reference is not None
    assert reply.message_reference["message_id"] == str(card.id)
    assert reply.pings.users == {handle.user.id}  # the requester only, never the bot itself
    assert handle.original is not None and handle.original.ephemeral


async def test_every_interaction_webhook_route_round_trips(fake: FakeDiscord, bot: SampleBot) -> None:
    handle = await fake.slash("tour")
    await handle.wait_for(lambda e: e.kind == "delete_original")
    kinds = [e.kind for e in handle.responses]
    assert kinds == ["callback", "followup", "edit_followup", "delete_followup", "edit_original", "delete_original"]
    followup = fake.messages[handle.responses[1].message_id or 0]
    assert followup.ephemeral and followup.content == "edited" and followup.deleted
    original = handle.original
    assert original is not None and original.deleted and original.content == "final" and not original.attachments
    assert fake.errors == []


async def test_a_boosted_guild_gets_a_larger_upload_limit() -> None:
    world = FakeWorld.default()
    world.guild.premium_tier = 2
    async with FakeDiscord(world) as fake, running_bot(SampleBot(), fake) as bot:
        guild = bot.get_guild(world.guild.id)
        assert guild is not None and guild.filesize_limit == 50 * 1024 * 1024
        handle = await fake.slash("clip", {"size": 10})
        assert (await handle.wait_for_edit()).content == f"posted (limit {50 * 1024 * 1024})"


async def test_missing_permissions_gets_403_50013(fake: FakeDiscord, bot: SampleBot) -> None:
    handle = await fake.slash("clip", {"size": 10}, channel=fake.world.channel_named("locked"))
    edit = await handle.wait_for_edit()  # the interaction response itself still works there
    assert edit.content == "failed 403/50013"
    assert [(e.route, e.code) for e in fake.errors] == [("/channels/{channel_id}/messages", 50013)]


# -- locale, mentions, DMs, autocomplete, modals ------------------------------------------------


@pytest.mark.parametrize(("locale", "expected"), [("zh-CN", "你好"), ("en-US", "hello")])
async def test_the_reply_follows_the_interaction_locale(
    fake: FakeDiscord, bot: SampleBot, locale: str, expected: str
) -> None:
    handle = await fake.slash("hello", locale=locale)
    ack = await handle.acked()
    assert ack.body["data"]["content"] == expected


@pytest.mark.parametrize(("ping", "pinged"), [(False, set()), (True, {"bob"})])
async def test_mentions_ping_only_what_allowed_mentions_allows(
    fake: FakeDiscord, bot: SampleBot, ping: bool, pinged: set[str]
) -> None:
    bob = fake.world.user_named("bob")
    handle = await fake.slash("shout", {"target": bob, "ping": ping})
    await handle.acked()
    assert handle.original is not None and f"<@{bob.id}>" in handle.original.content
    pings = handle.original.pings
    assert {fake.world.get_user(u).name for u in pings.users} == pinged  # type: ignore[union-attr]
    assert not pings.everyone


@pytest.mark.parametrize(("name", "answer"), [("alice", "sent"), ("carol", "failed 403/50007")])
async def test_dms_reach_open_inboxes_only(fake: FakeDiscord, bot: SampleBot, name: str, answer: str) -> None:
    user = fake.world.user_named(name)
    handle = await fake.slash("dm", user=user)
    assert (await handle.acked()).body["data"]["content"] == answer
    dms = fake.channel_messages(fake.dm_channel(user))
    assert [m.content for m in dms] == (["psst"] if answer == "sent" else [])


async def test_autocomplete_and_modal_round_trips(fake: FakeDiscord, bot: SampleBot) -> None:
    suggest = await fake.autocomplete("pick", {"template": "wan-n"}, focused="template")
    assert (await suggest.acked()).type == 8
    assert suggest.choices == [{"name": "wan-native", "value": "wan-native"}]
    shown = await fake.slash("note")
    assert (await shown.acked()).type == 9
    submitted = await fake.submit_modal(shown, {"note:text": "more frames"})
    assert (await submitted.acked()).body["data"]["content"] == "noted: more frames"


# -- gateway and process plumbing -----------------------------------------------------------------


async def test_the_bot_reconnects_after_a_gateway_drop(fake: FakeDiscord, bot: SampleBot) -> None:
    await fake.disconnect_gateway()
    await fake.wait_for_identify(2)
    assert fake.gateway.resume_count == 1  # it tried to RESUME, got op 9, identified again
    handle = await fake.slash("ping", {"msg": "again"})
    assert (await handle.wait_for_edit()).content == "pong: again"


@pytest.mark.parametrize(("close_code", "raised"), [
    (4004, discord.ConnectionClosed),
    (4011, discord.ConnectionClosed),
    (4013, discord.ConnectionClosed),
    (4014, discord.PrivilegedIntentsRequired),
])
async def test_a_refused_identify_closes_the_gateway_with_discords_code(
    fake: FakeDiscord, close_code: int, raised: type[Exception]
) -> None:
    fake.refuse_identify(close_code)
    with pytest.raises(raised) as caught:
        async with running_bot(SampleBot(), fake):
            pass
    if isinstance(caught.value, discord.ConnectionClosed):
        assert caught.value.code == close_code
    assert fake.gateway.identify_count == 0
    fake.refuse_identify(None)
    async with running_bot(SampleBot(), fake) as bot:  # REST never stopped answering
        assert bot.is_ready()


async def test_an_advertised_gateway_is_what_clients_are_told(fake: FakeDiscord) -> None:
    headers = {"Authorization": f"Bot {fake.token}"}
    fake.advertise_gateway("ws://127.0.0.1:9/gateway")
    async with aiohttp.ClientSession(headers=headers) as http:
        for route in ("/gateway", "/gateway/bot"):
            async with http.get(f"{fake.api_url}{route}") as response:
                assert (await response.json())["url"] == "ws://127.0.0.1:9/gateway"
        fake.advertise_gateway(None)
        async with http.get(f"{fake.api_url}/gateway/bot") as response:
            assert (await response.json())["url"] == fake.gateway.url


async def test_a_bot_in_a_subprocess_reaches_the_fake_via_sitecustomize(fake: FakeDiscord) -> None:
    script = (
        "import discord\n"
        "client = discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.05)\n"
        "@client.event\n"
        "async def on_ready():\n"
        "    await client.close()\n"
        f"client.run({fake.token!r}, log_handler=None)\n"
    )
    env = {**os.environ, ENV_VAR: fake.url, "PYTHONPATH": str(SITECUSTOMIZE_DIR)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 0, stderr.decode()
    assert fake.gateway.identify_count == 1


# -- wire details ---------------------------------------------------------------------------------


async def test_wire_content_type_auth_and_form_limits(fake: FakeDiscord) -> None:
    general = fake.world.channel_named("general").id
    headers = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{fake.api_url}/users/@me") as response:
            assert response.headers["Content-Type"] == "application/json"
        async with http.post(f"{fake.api_url}/channels/{general}/messages", json={"content": "x" * 2001}) as response:
            assert (response.status, (await response.json())["code"]) == (400, 50035)
        async with http.get(f"{fake.api_url}/channels/{general}/messages/1") as response:
            assert (response.status, (await response.json())["code"]) == (404, 10008)
    async with aiohttp.ClientSession() as http, http.get(f"{fake.api_url}/users/@me") as response:
        assert response.status == 401
    assert fake.error_codes() == [50035, 10008, 0]
