"""The live preview on the status card, through the unmodified discord.py client against the
fake Discord and the ComfyUI emulator: shown while the sampler runs, gone when the MP4 is
posted, never on another member's card, harmless when broken, absent when turned off."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.jobs import JobState
from tests.e2e._video_helpers import (
    card_of,
    cards_of,
    delivered,
    job_id_of,
    send_video,
    shows_done,
    video_world,
    wait_state,
)
from tests.e2e.conftest import World, e2e_settings, start_bot
from tests.fakes.comfyui import FakeComfyUI, preview_colour
from tests.fakes.discord import FakeDiscord, FakeWorld, MessageEdit, StoredMessage
from tests.fakes.discord.runner import running_bot

SLOW_SAMPLER = {"steps": 6, "step_seconds": 0.15}


def _previews(card: StoredMessage) -> list[MessageEdit]:
    return [edit for edit in card.edits if edit.uploads]


def _picture(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _is_of(data: bytes, prompt_id: str) -> bool:
    """The preview shows `prompt_id`'s colour (the emulator paints each prompt its own)."""
    pixel = _picture(data).convert("RGB").getpixel((2, 2))
    assert isinstance(pixel, tuple)
    return all(abs(a - b) <= 16 for a, b in zip(pixel, preview_colour(prompt_id), strict=True))


async def _prompt_of(world: World, job_id: int) -> str:
    job = await world.services.db.jobs.get(job_id)
    assert job is not None and job.prompt_id is not None
    return job.prompt_id


def _status_field(edit: MessageEdit) -> str:
    return str(edit.changes["embeds"][0]["fields"][0]["value"])


async def test_the_card_shows_the_latest_preview_then_drops_it_when_the_mp4_arrives(tmp_path: Path) -> None:
    async with video_world(tmp_path, comfy=SLOW_SAMPLER, card_interval=0.2) as world:
        card = await card_of(await send_video(world))
        job_id = job_id_of(card)
        await world.discord.wait_until(lambda: bool(card.attachments), timeout=10, what="a preview on the card")
        (shown,) = card.attachments
        assert card.embeds[0]["image"]["url"] == shown.url and card.loose_attachments == []
        result = await delivered(world, job_id)
        await world.discord.wait_until(lambda: shows_done(card), what="the card's done line")
        prompt_id = await _prompt_of(world, job_id)
        accepted = world.comfy.accepted[0].extra_data
    previews = _previews(card)
    # A preview edit came before the MP4 (one more may cross the post in flight; the final
    # edit, after it, takes the preview off).
    assert previews and previews[0].at < result.created_at and previews[-1].at < card.edits[-1].at
    for edit in previews:
        (upload,) = edit.uploads
        picture = _picture(upload.data)
        assert upload.filename == "preview.jpg" and picture.format == "JPEG"
        assert max(picture.size) <= 512 and len(upload.data) < 200_000
        assert _is_of(upload.data, prompt_id)
        assert edit.changes["embeds"][0]["image"] == {"url": "attachment://preview.jpg"}
        assert edit.changes["attachments"] == [{"id": 0, "filename": "preview.jpg"}]
    assert any("▰" in _status_field(edit) and "/6" in _status_field(edit) for edit in previews)  # the step bar
    # Gone from the card once the MP4 is posted, and nothing of it left in the channel.
    assert card.attachments == [] and "image" not in card.embeds[0]
    assert card.edits[-1].changes["attachments"] == []
    assert result.attachments[0].filename.endswith(".mp4") and not any(
        a.filename.startswith("preview") for m in world.discord.channel_messages(world.discord.world.channel_named("general"))
        for a in m.attachments)
    assert accepted["preview_method"] == "latent2rgb"


async def test_animated_shows_the_last_frames_as_a_small_loop(tmp_path: Path) -> None:
    async with video_world(tmp_path, comfy={"steps": 12, "step_seconds": 0.1}, card_interval=0.5,
                           preview="animated") as world:
        card = await card_of(await send_video(world))
        job_id = job_id_of(card)
        await delivered(world, job_id)
        prompt_id = await _prompt_of(world, job_id)
    loops = [edit.uploads[0] for edit in _previews(card) if edit.uploads[0].filename == "preview.webp"]
    assert loops, [e.files for e in card.edits]
    for upload in loops:
        picture = Image.open(io.BytesIO(upload.data))
        assert picture.format == "WEBP" and picture.is_animated and 2 <= picture.n_frames <= 8
        assert max(picture.size) <= 512 and len(upload.data) < 200_000
        assert _is_of(upload.data, prompt_id)
    assert max(Image.open(io.BytesIO(u.data)).n_frames for u in loops) == 8  # the last 8 of 12 steps


@pytest.mark.parametrize("frames", ["real", "type1"])
async def test_two_jobs_on_one_backend_never_show_each_others_preview(tmp_path: Path, frames: str) -> None:
    """The second job waits in ComfyUI's own queue (prefetch) while the first renders: with
    type 1 frames, which carry no prompt_id, the socket's executing prompt decides."""
    knobs = {**SLOW_SAMPLER, "preview_frames": frames}
    async with video_world(tmp_path, comfy=knobs, card_interval=0.2) as world:
        cards = [await card_of(await send_video(world, who=who, prompt=f"{who}'s fox")) for who in ("alice", "bob")]
        jobs = [job_id_of(card) for card in cards]
        for job_id in jobs:
            await delivered(world, job_id)
        prompts = [await _prompt_of(world, job_id) for job_id in jobs]
    for card, prompt_id in zip(cards, prompts, strict=True):
        uploads = [edit.uploads[0].data for edit in _previews(card)]
        assert uploads and all(_is_of(data, prompt_id) for data in uploads)


@contextlib.asynccontextmanager
async def _two_backends(tmp_path: Path, **knobs: Any) -> AsyncIterator[tuple[World, list[FakeComfyUI]]]:
    async with FakeComfyUI(**knobs) as first, FakeComfyUI(**knobs) as second, \
            FakeDiscord(FakeWorld.default()) as discord_fake:
        settings = e2e_settings(tmp_path, first.url, discord_fake.token, comfyui_urls=[first.url, second.url])
        bot = await start_bot(discord_fake, settings)
        async with running_bot(bot, discord_fake):
            world = World(discord_fake, first, bot, settings)
            cards_of(world).interval = 0.2
            yield world, [first, second]


async def test_two_jobs_on_two_backends_keep_their_own_previews(tmp_path: Path) -> None:
    async with _two_backends(tmp_path, **SLOW_SAMPLER) as (world, backends):
        cards = [await card_of(await send_video(world, who=who, prompt=f"{who}'s fox")) for who in ("alice", "bob")]
        jobs = [job_id_of(card) for card in cards]
        for job_id in jobs:
            await delivered(world, job_id)
        prompts = [await _prompt_of(world, job_id) for job_id in jobs]
    assert all(len(backend.accepted) == 1 for backend in backends)  # one job each, rendering at once
    for card, prompt_id in zip(cards, prompts, strict=True):
        uploads = [edit.uploads[0].data for edit in _previews(card)]
        assert uploads and all(_is_of(data, prompt_id) for data in uploads)


async def test_garbage_frames_are_harmless(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Animated, so the reel decodes every frame it keeps, the JPEG cut short among them (a
    still card only decodes the newest frame, and a good one follows each bad one here)."""
    caplog.set_level(logging.WARNING)
    knobs = {"steps": 12, "step_seconds": 0.15, "preview_frames": "garbage"}  # the JPEG cut short comes at step 6
    async with video_world(tmp_path, comfy=knobs, card_interval=0.2, preview="animated") as world:
        card = await card_of(await send_video(world))
        job_id = job_id_of(card)
        await delivered(world, job_id)
        prompt_id = await _prompt_of(world, job_id)
        errors = world.discord.errors
    uploads = [edit.uploads[0].data for edit in _previews(card)]
    assert uploads and all(_is_of(data, prompt_id) for data in uploads)  # the good frames still show
    assert errors == []
    wire = [r for r in caplog.records if "corrupt preview frame" in r.getMessage()]
    decoder = [r for r in caplog.records if "does not decode" in r.getMessage()]
    assert len(wire) == 1 and prompt_id in wire[0].getMessage()  # once for the prompt, not per frame
    assert len(decoder) == 1  # the JPEG cut short, once for the job


async def test_a_server_that_sends_no_previews_still_shows_the_step_bar(tmp_path: Path) -> None:
    async with video_world(tmp_path, comfy={**SLOW_SAMPLER, "preview_frames": "none"}, card_interval=0.2) as world:
        card = await card_of(await send_video(world))
        await delivered(world, job_id_of(card))
    assert _previews(card) == [] and not any("image" in (e.changes.get("embeds") or [{}])[0] for e in card.edits)
    assert any("▰" in _status_field(e) and "/6" in _status_field(e) for e in card.edits if e.changes.get("embeds"))


async def test_off_asks_comfyui_for_none_and_makes_no_image_edits(tmp_path: Path) -> None:
    async with video_world(tmp_path, comfy={**SLOW_SAMPLER, "preview_method": "auto"}, card_interval=0.2,
                           preview="off") as world:
        card = await card_of(await send_video(world))
        await delivered(world, job_id_of(card))
        accepted = world.comfy.accepted[0].extra_data
        binary = [e for e in world.comfy.events if e.payload is not None]
    assert accepted["preview_method"] == "none" and binary == []
    assert all(not e.uploads and "attachments" not in e.changes for e in card.edits)
    assert any("/6" in _status_field(e) for e in card.edits if e.changes.get("embeds"))


async def test_a_card_rebuilt_after_a_restart_loses_a_lingering_preview(tmp_path: Path) -> None:
    """The bot stops while the card shows a preview; the job finishes meanwhile. The new
    process has no memory of the preview, yet its edit takes it off the card."""
    async with video_world(tmp_path, comfy={"steps": 30, "step_seconds": 0.1}, card_interval=0.2) as world:
        card = await card_of(await send_video(world))
        job_id = job_id_of(card)
        await world.discord.wait_until(lambda: bool(card.attachments), timeout=10, what="a preview on the card")
        await world.bot.close()
        await world.comfy.wait_idle(timeout=10)
        world.bot = await start_bot(world.discord, world.settings)
        async with running_bot(world.bot, world.discord):
            await wait_state(world, job_id, JobState.DELIVERED, timeout=15)
            await world.discord.wait_until(lambda: shows_done(card), what="the card's done line")
    assert card.attachments == [] and "image" not in card.embeds[0]
