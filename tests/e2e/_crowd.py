"""A crowd for the load tests and benches: many members in a few channels, one emulated GPU
per job so every card renders at once, and the fake Discord with its rate limits on.

The dispatcher checks backend health every few seconds here, not every 0.2 s as in the other
end-to-end tests: fifty backends polled that often would load the machine more than the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import WanBot
from bot.jobs import JobState
from bot.jobs.dispatcher import DispatchConfig
from tests.e2e._video_helpers import card_of, job_id_of, shows_done
from tests.e2e.conftest import FAST_WATCH, StandInServices, World, e2e_settings, wait_state
from tests.fakes.comfyui import FakeComfyUI
from tests.fakes.discord import (
    FakeChannel,
    FakeDiscord,
    FakeMember,
    FakeUser,
    FakeWorld,
    InteractionHandle,
    RateLimits,
    StoredMessage,
)
from tests.fakes.discord.runner import running_bot

__all__ = ["Crowd", "crowd_world", "most_in_a_window"]

_MEMBER_IDS = 1_200_000_000_000_000_000
_CHANNEL_IDS = 1_200_000_000_000_100_000


@dataclass
class Crowd:
    world: World
    backends: list[FakeComfyUI]
    members: list[FakeUser]
    channels: list[FakeChannel]

    async def request(self, n: int, prompt: str | None = None, **options: Any) -> InteractionHandle:
        """`/video` from the n-th member, in the channel they share with every n-th (round robin)."""
        return await self.world.discord.slash("video", {"prompt": prompt or f"clip {n}", **options},
                                              user=self.members[n], channel=self.channels[n % len(self.channels)])

    async def render_all(self, jobs: int, timeout: float = 90.0, **options: Any) -> list[StoredMessage]:
        """`/video` (with `options`) from the first `jobs` members at once; their cards, once
        every video is posted and every card says so."""
        handles = [await self.request(n, **options) for n in range(jobs)]
        cards = [await card_of(handle, timeout=20) for handle in handles]
        await asyncio.gather(*(wait_state(self.world, job_id_of(card), JobState.DELIVERED, timeout=timeout)
                               for card in cards))
        await self.world.discord.wait_until(lambda: all(shows_done(card) for card in cards), timeout=timeout,
                                            what="every card's done line")
        return cards


def _populated(members: int, channels: int) -> tuple[FakeWorld, list[FakeUser], list[FakeChannel]]:
    world = FakeWorld.default()
    people = [FakeUser(_MEMBER_IDS + n, f"member{n}") for n in range(members)]
    world.guild.members.extend(FakeMember(user) for user in people)
    rooms = [FakeChannel(_CHANNEL_IDS + n, f"room{n}", position=10 + n) for n in range(channels)]
    world.guild.channels.extend(rooms)
    return world, people, rooms


@contextlib.asynccontextmanager
async def crowd_world(tmp_path: Path, *, backends: int, members: int, channels: int = 1,
                      comfy: dict[str, Any] | None = None, rate_limits: RateLimits | None = None,
                      token_lifetime: float | None = None, **settings: Any) -> AsyncIterator[Crowd]:
    """The bot with `backends` emulated GPUs, `members` members in `channels` channels, and
    Discord's rate limits (`RateLimits()` unless given). `token_lifetime` shortens the
    interaction tokens' life, so cards go on with the bot token (per-channel limits)."""
    fake_world, people, rooms = _populated(members, channels)
    async with contextlib.AsyncExitStack() as stack:
        fakes = [await stack.enter_async_context(FakeComfyUI(**(comfy or {}))) for _ in range(backends)]
        discord_fake = await stack.enter_async_context(FakeDiscord(fake_world, rate_limits=rate_limits or RateLimits()))
        if token_lifetime is not None:
            discord_fake.token_lifetime = token_lifetime
        values = e2e_settings(tmp_path, fakes[0].url, discord_fake.token, comfyui_urls=[f.url for f in fakes],
                              **settings)
        dispatch = DispatchConfig(output_dir=values.output_dir, health_interval=5.0, delivery_backoff=0.05,
                                  watch=FAST_WATCH)
        bot = WanBot(await StandInServices.open(values, dispatch=dispatch), guild_ready_timeout=0.05)
        async with running_bot(bot, discord_fake):
            yield Crowd(World(discord_fake, fakes[0], bot, values), fakes, people, rooms)


def most_in_a_window(times: list[float], window: float) -> int:
    """The most of `times` that fall within any `window` seconds."""
    times = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] > window:
            start += 1
        most = max(most, end - start + 1)
    return most
