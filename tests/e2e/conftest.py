"""The whole bot against the fakes: the real `WanBot` (as `wanbot run` starts it) on a fake
Discord, with its services on a temp SQLite file and an emulated ComfyUI backend."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app import WanBot
from bot.comfy.watch import Watch
from bot.jobs import JobRecord, JobState
from bot.jobs.dispatcher import Deliver, DispatchConfig, JobObserver
from bot.services import Services
from bot.settings import Settings, load_settings
from tests.fakes.comfyui import FakeComfyUI
from tests.fakes.discord import FakeDiscord, FakeWorld
from tests.fakes.discord.runner import running_bot

FAST_WATCH = Watch(stall_seconds=10, poll_connected=0.5, poll_disconnected=0.1, history_grace=0.5)


def e2e_settings(tmp: Path, comfy_url: str, token: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"discord_token": token, "comfyui_urls": [comfy_url], "db_path": tmp / "wanbot.db",
                              "workflow": "wan-wrapper", "http_port": 0, "videos_per_hour": 100, "burst": 100,
                              "max_active": 10}
    values.update(overrides)
    return load_settings(**values)


def fast_dispatch(settings: Settings) -> DispatchConfig:
    return DispatchConfig(output_dir=settings.output_dir, health_interval=0.2, delivery_backoff=0.05,
                          watch=FAST_WATCH, lease=settings.lease_seconds)


@dataclass
class World:
    """A running bot and the fakes around it."""

    discord: FakeDiscord
    comfy: FakeComfyUI
    bot: WanBot
    settings: Settings

    @property
    def services(self) -> Services:
        return self.bot.services


@dataclass
class StandInServices(Services):
    """The bot's services, except that a test may stand in for the delivery the bot started
    them with (production has no such seam: the video cogs start the dispatcher with theirs)."""

    real_deliver: Deliver | None = None
    stand_in: Deliver | None = None

    async def start(self, deliver: Deliver, observer: JobObserver | None = None) -> None:
        self.real_deliver = deliver

        async def deliver_or_stand_in(job: JobRecord, video: Path) -> int | None:
            return await (self.stand_in or deliver)(job, video)
        await super().start(deliver_or_stand_in, observer)


def bot_delivery(world: World) -> Deliver:
    """The delivery the bot started its services with (the video cogs' VideoDelivery)."""
    services = world.services
    assert isinstance(services, StandInServices) and services.real_deliver is not None
    return services.real_deliver


def stand_in_delivery(world: World, deliver: Deliver) -> Deliver:
    """Post through `deliver` from now on; returns the bot's own delivery."""
    real = bot_delivery(world)
    assert isinstance(world.services, StandInServices)
    world.services.stand_in = deliver
    return real


async def start_bot(discord_fake: FakeDiscord, settings: Settings) -> WanBot:
    services = await StandInServices.open(settings, dispatch=fast_dispatch(settings))
    return WanBot(services, guild_ready_timeout=0.05)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with FakeComfyUI(steps=3, step_seconds=0.01) as comfy, FakeDiscord(FakeWorld.default()) as discord_fake:
        settings = e2e_settings(tmp_path, comfy.url, discord_fake.token)
        bot = await start_bot(discord_fake, settings)
        async with running_bot(bot, discord_fake):
            yield World(discord_fake, comfy, bot, settings)


async def wait_state(world: World, job_id: int, *states: JobState, timeout: float = 10.0) -> JobRecord:
    """Poll the store until the job is in one of `states` (the bot signals nothing we can await)."""
    deadline = time.monotonic() + timeout
    while True:
        job = await world.services.db.jobs.get(job_id)
        assert job is not None
        if job.state in states:
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} is {job.state.value}, not {[st.value for st in states]}")
        await asyncio.sleep(0.01)
