"""Modals in the fake Discord, driven through an unmodified discord.py client: a form opened
from a command or a button (callback type 9) and read back as the member sees it, checked
against Discord's form limits, and submitted (MODAL_SUBMIT, type 5) with the values the
member's client would send, into discord.py's own `Modal.on_submit`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from discord.ext import commands

from tests.fakes.discord import FakeDiscord, InteractionKind, ModalInput, running_bot

OPEN_ID = "sample:open"
EPHEMERAL = 1 << 6


class PromptForm(discord.ui.Modal):
    """A prompt (pre-filled, required) and an optional seed, in Labels as discord.py 2.6+ builds them."""

    def __init__(self, bot: ModalBot, *, title: str = "Edit the prompt", label: str = "Prompt",
                 prompt: str = "a red fox in snow", custom_id: str = "form:1", seed_id: str = "form:seed") -> None:
        super().__init__(title=title, custom_id=custom_id)
        self.bot = bot
        self.prompt: discord.ui.TextInput[PromptForm] = discord.ui.TextInput(
            custom_id="form:prompt", style=discord.TextStyle.paragraph, default=prompt, max_length=4000)
        self.seed: discord.ui.TextInput[PromptForm] = discord.ui.TextInput(
            custom_id=seed_id, required=False, placeholder="Empty: a new random seed", max_length=20)
        self.add_item(discord.ui.Label(text=label, description="In Chinese or English", component=self.prompt))
        self.add_item(discord.ui.Label(text="Seed", component=self.seed))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.bot.submitted.append((self.prompt.value, self.seed.value))
        if interaction.message is not None:  # opened from a button: edit that message
            await interaction.response.edit_message(content=f"now: {self.prompt.value}")
        elif self.seed.value == "again":
            await self._open_again(interaction)
        else:
            await interaction.response.send_message(f"queued {self.prompt.value!r} seed {self.seed.value!r}")

    async def _open_again(self, interaction: discord.Interaction) -> None:
        try:
            await interaction.response.send_modal(PromptForm(self.bot, custom_id="form:2"))
        except discord.HTTPException as exc:
            self.bot.refusals.append(exc)
            self.bot.refused.set()


class OpenButton(discord.ui.View):
    def __init__(self, bot: ModalBot) -> None:
        super().__init__(timeout=None)
        self.bot = bot

    @discord.ui.button(label="Edit", custom_id=OPEN_ID)
    async def edit(self, interaction: discord.Interaction, button: discord.ui.Button[OpenButton]) -> None:
        await interaction.response.send_modal(PromptForm(self.bot, prompt="a boat"))


class ModalBot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.submitted: list[tuple[str, str]] = []
        self.refusals: list[discord.HTTPException] = []
        self.refused = asyncio.Event()
        self.form_kwargs: dict[str, Any] = {}

        @self.tree.command(description="Open the prompt form")
        async def form(interaction: discord.Interaction) -> None:
            try:
                await interaction.response.send_modal(PromptForm(self, **self.form_kwargs))
            except discord.HTTPException as exc:
                self.refusals.append(exc)
                self.refused.set()

        @self.tree.command(description="Post a message with an Edit button")
        async def post(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("a boat", view=OpenButton(self))

    async def setup_hook(self) -> None:
        self.add_view(OpenButton(self))
        await self.tree.sync()


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[ModalBot]:
    async with running_bot(ModalBot(), fake) as running:
        yield running


async def test_the_form_is_read_as_the_member_sees_it_and_submitted_into_discord_py(
    fake: FakeDiscord, bot: ModalBot
) -> None:
    shown = await fake.slash("form", locale="zh-CN")
    assert (await shown.acked()).type == 9
    modal = shown.shown_modal
    assert modal is not None and (modal.custom_id, modal.title) == ("form:1", "Edit the prompt")
    assert modal.inputs["form:prompt"] == ModalInput(
        custom_id="form:prompt", label="Prompt", description="In Chinese or English", style=2,
        value="a red fox in snow", placeholder=None, required=True, min_length=0, max_length=4000)
    assert modal.inputs["form:seed"].placeholder == "Empty: a new random seed"
    assert modal.values() == {"form:prompt": "a red fox in snow", "form:seed": ""}

    submitted = await fake.submit_modal(shown, {"form:prompt": "a blue fox", "form:seed": "42"})
    answer = await submitted.acked()
    assert answer.type == 4 and answer.body["data"]["content"] == "queued 'a blue fox' seed '42'"
    assert bot.submitted == [("a blue fox", "42")]
    # The wire form of the submit: Discord's type 5, the member's locale, inputs inside their labels.
    payload = submitted.payload
    assert (payload["type"], payload["locale"], payload["data"]["custom_id"]) == (5, "zh-CN", "form:1")
    assert payload["data"]["components"] == [
        {"type": 18, "id": 1, "component": {"type": 4, "id": 2, "custom_id": "form:prompt", "value": "a blue fox"}},
        {"type": 18, "id": 3, "component": {"type": 4, "id": 4, "custom_id": "form:seed", "value": "42"}},
    ]
    assert "message" not in payload  # opened from a command, not from a message


async def test_untouched_inputs_are_submitted_as_pre_filled(fake: FakeDiscord, bot: ModalBot) -> None:
    shown = await fake.slash("form")
    await shown.acked()
    submitted = await fake.submit_modal(shown)
    assert (await submitted.acked()).body["data"]["content"] == "queued 'a red fox in snow' seed ''"


async def test_a_form_opened_from_a_button_is_submitted_with_its_message(fake: FakeDiscord, bot: ModalBot) -> None:
    posted = await fake.slash("post")
    await posted.acked()
    assert posted.original is not None
    click = await fake.click(posted.original.id, OPEN_ID)
    assert (await click.acked()).type == 9 and click.shown_modal is not None
    assert click.shown_modal.values()["form:prompt"] == "a boat"

    submitted = await fake.submit_modal(click, {"form:prompt": "a bigger boat"})
    assert submitted.type == InteractionKind.MODAL_SUBMIT
    assert submitted.payload["message"]["id"] == str(posted.original.id)
    assert (await submitted.acked()).type == 7  # the bot updated the message the button is on
    assert posted.original.content == "now: a bigger boat"


@pytest.mark.parametrize(
    ("knobs", "path"),
    [
        ({"title": "T" * 46}, ["title"]),
        ({"label": "L" * 46}, ["components", "0", "label"]),
        ({"prompt": "p" * 4001}, ["components", "0", "component", "value"]),
        ({"custom_id": "c" * 101}, ["custom_id"]),
        ({"seed_id": "form:prompt"}, ["components", "1", "component", "custom_id"]),
    ],
    ids=["title over 45", "label over 45", "value over 4000", "custom_id over 100", "duplicate custom_id"],
)
async def test_a_form_past_discords_limits_is_refused_with_50035(
    fake: FakeDiscord, bot: ModalBot, knobs: dict[str, Any], path: list[str]
) -> None:
    bot.form_kwargs = knobs
    shown = await fake.slash("form")
    await asyncio.wait_for(bot.refused.wait(), 5)
    (refusal,) = bot.refusals
    assert (refusal.status, refusal.code) == (400, 50035)
    assert shown.ack is None and shown.modal is None  # no modal opened: nothing to submit
    assert f"In {'.'.join(['data', *path])}:" in refusal.text  # discord.py flattens Discord's error tree
    (error,) = fake.errors
    assert error.route.endswith("/callback")


async def test_a_modal_cannot_answer_a_modal(fake: FakeDiscord, bot: ModalBot) -> None:
    shown = await fake.slash("form")
    await shown.acked()
    submitted = await fake.submit_modal(shown, {"form:seed": "again"})
    await asyncio.wait_for(bot.refused.wait(), 5)
    assert (bot.refusals[0].status, bot.refusals[0].code) == (400, 50035)
    assert submitted.ack is None


@pytest.mark.parametrize(
    ("values", "raised", "why"),
    [
        ({"form:prompt": ""}, ValueError, "required"),
        ({"form:prompt": "p" * 4001}, ValueError, "0-4000 characters"),
        ({"form:seed": "9" * 21}, ValueError, "0-20 characters"),
        ({"form:steps": "20"}, LookupError, "no input"),
    ],
)
async def test_the_client_refuses_what_the_form_forbids_and_sends_nothing(
    fake: FakeDiscord, bot: ModalBot, values: dict[str, str], raised: type[Exception], why: str
) -> None:
    shown = await fake.slash("form")
    await shown.acked()
    before = len(fake.interactions)
    with pytest.raises(raised, match=why):
        await fake.submit_modal(shown, values)
    assert len(fake.interactions) == before and bot.submitted == []
