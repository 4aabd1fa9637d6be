"""Helpers for the queue and admin end-to-end tests: jobs queued without `/video`, a recording
delivery, waiting on job states, reading a command's final answer, custom worlds.

Jobs enter through `Admission.submit` exactly as `/video` will enqueue them, so the tests
exercise the real rules (limits, pause, channels, words) without depending on the video cog.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.jobs import JobRecord, JobRequest, Requester
from bot.workflows import VideoRequest
from storage import AuditEntry
from tests.e2e.conftest import World, e2e_settings, stand_in_delivery, start_bot, wait_state
from tests.fakes.comfyui import FakeComfyUI
from tests.fakes.discord import (
    FakeChannel,
    FakeDiscord,
    FakeUser,
    FakeWorld,
    InteractionHandle,
    StoredMessage,
)
from tests.fakes.discord.runner import running_bot

__all__ = [
    "SLOW_STEP",
    "Deliveries",
    "answer_of",
    "audit",
    "custom_world",
    "embed_text",
    "eventually",
    "interrupted_on_comfy",
    "prepare",
    "requester",
    "submit",
    "video",
    "wait_state",
]

SLOW_STEP = 30.0  # a step that outlives any test: the job stays running until cancelled


@dataclass
class Deliveries:
    """A deliver callback that "posts" each video as a seeded message in the job's channel."""

    discord: FakeDiscord
    posted: dict[int, int] = field(default_factory=dict)  # job id -> message id

    async def __call__(self, job: JobRecord, video: Path) -> int | None:
        message = self.discord.seed_message(job.channel_id, f"video #{job.id}")
        self.posted[job.id] = message.id
        return message.id


async def prepare(world: World) -> Deliveries:
    """Commands synced (unless the bot already did) and deliveries recorded, not posted."""
    if not world.discord.commands() and not world.discord.commands(world.discord.world.guild):
        await world.bot.tree.sync()
    deliveries = Deliveries(world.discord)
    stand_in_delivery(world, deliveries)
    return deliveries


def requester(world: World, user: FakeUser, *, channel: FakeChannel | None = None,
              roles: Iterable[int] = ()) -> Requester:
    fake = world.discord.world
    target = channel or fake.channel_named("general")
    return Requester(fake.guild.id, target.id, user.id, "en", tuple(roles))


def video(world: World, prompt: str, **params: Any) -> JobRequest:
    template = world.services.default_template
    request = VideoRequest.build(template, None, prompt=prompt, **{"seed": 1234, **params})
    return JobRequest(template.name, request.to_params())


async def submit(world: World, user: FakeUser, prompt: str = "a cat surfing", *,
                 channel: FakeChannel | None = None, roles: Iterable[int] = (), **params: Any) -> JobRecord:
    """Queue a job as `/video` would, and wake the dispatcher."""
    job = await world.services.admission.submit(requester(world, user, channel=channel, roles=roles),
                                                video(world, prompt, **params))
    world.services.dispatcher.kick()
    return job


async def eventually(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Poll a condition on the bot's or the emulator's side (neither signals the test)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"never happened: {what}")
        await asyncio.sleep(0.01)


def interrupted_on_comfy(world: World, prompt_id: str) -> bool:
    """ComfyUI recorded the prompt as interrupted (what a cancel of a running job does)."""
    entry = world.comfy.history.get(prompt_id)
    return entry is not None and any(m[0] == "execution_interrupted" for m in entry["status"]["messages"])


async def answer_of(handle: InteractionHandle) -> StoredMessage:
    """The command's final answer: the reply, or the edited placeholder after a defer."""
    ack = await handle.acked()
    if ack.type == 5:
        await handle.wait_for_edit()
    message = handle.original
    assert message is not None
    return message


def embed_text(message: StoredMessage) -> str:
    """Content, titles, descriptions and fields of a message, as one searchable string."""
    parts = [message.content]
    for embed in message.embeds:
        parts += [embed.get("title") or "", embed.get("description") or ""]
        for embed_field in embed.get("fields") or []:
            parts += [embed_field["name"], embed_field["value"]]
    return "\n".join(parts)


async def audit(world: World, guild: bool = True) -> list[AuditEntry]:
    """The guild's audit entries (or the queue-wide ones), newest first."""
    guild_id = world.discord.world.guild.id if guild else None
    return await world.services.db.audit.recent(guild_id)


@contextlib.asynccontextmanager
async def custom_world(tmp_path: Path, fake_world: FakeWorld, **settings: Any) -> AsyncIterator[World]:
    """Like the `world` fixture, with a chosen Discord world and settings overrides."""
    async with FakeComfyUI(steps=3, step_seconds=0.01) as comfy, FakeDiscord(fake_world) as discord_fake:
        values = e2e_settings(tmp_path, comfy.url, discord_fake.token, **settings)
        bot = await start_bot(discord_fake, values)
        async with running_bot(bot, discord_fake):
            yield World(discord_fake, comfy, bot, values)
