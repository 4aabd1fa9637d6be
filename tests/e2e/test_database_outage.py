"""The bot on a PostgreSQL that goes away under it: a server restart (`pg_ctl stop`/`start` on a
pgserver of the test's own) and connections killed (`pg_terminate_backend`).

Meanwhile the bot keeps answering: `/video` and `/queue` say the queue is briefly unavailable,
in the member's language; `/healthz` says the database is down (503) while `/livez` stays 200;
the job that was rendering goes on on ComfyUI, is recorded once the database is back, and is
posted exactly once; afterwards everything works again.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.jobs import JobState
from bot.ops import HealthServer
from bot.runner import BotHealth
from tests.e2e._video_helpers import card_of, delivered, job_id_of, refusal_of, results_of, send_video, video_world
from tests.e2e.conftest import World, wait_state
from tests.stores import RestartablePostgres

pytestmark = pytest.mark.timeout(120)

LEASE = 6.0  # a heartbeat every 2 s: /healthz notices within that


@pytest.fixture
def postgres() -> Iterator[RestartablePostgres]:
    folder = Path(tempfile.mkdtemp(prefix="wanbot-pg-outage-"))
    server = RestartablePostgres(folder)
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def world(tmp_path: Path, postgres: RestartablePostgres) -> AsyncIterator[World]:
    async with video_world(tmp_path, comfy={"steps": 30, "step_seconds": 0.1}, database=postgres.url,
                           data_dir=tmp_path / "data", lease_seconds=LEASE) as running:
        yield running


@pytest.fixture
async def health(world: World) -> AsyncIterator[HealthServer]:
    sources = BotHealth(world.services)
    sources.bot = world.bot
    async with HealthServer("127.0.0.1", 0, sources, world.services.metrics) as server:
        yield server


async def _get(server: HealthServer, path: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(server.url + path) as response:
        return response.status, await response.json()


async def _until_health(server: HealthServer, status: int, timeout: float = 15.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            code, body = await _get(server, "/healthz")
            if code == status:
                return body
            await asyncio.sleep(0.1)


async def test_a_database_restart_under_a_running_bot_loses_nothing(world: World, postgres: RestartablePostgres,
                                                                   health: HealthServer) -> None:
    assert (await _until_health(health, 200))["database"] == "up"
    card = await card_of(await send_video(world, prompt="a lighthouse in fog"))
    job_id = job_id_of(card)
    await wait_state(world, job_id, JobState.RUNNING)

    await postgres.stop()
    body = await _until_health(health, 503)
    assert body["database"] == "down" and any("database unavailable" in reason for reason in body["reasons"])
    assert await _get(health, "/livez") == (200, {"status": "alive"})
    english = await refusal_of(await send_video(world, prompt="a fox"))
    chinese = await refusal_of(await send_video(world, prompt="一只狐狸", locale="zh-CN"))
    assert english.startswith("The video queue is briefly unavailable") and "try again in a minute" in english
    assert chinese.startswith("视频队列暂时无法使用") and "一分钟后再试" in chinese
    queue = await world.discord.slash("queue", locale="zh-CN")
    assert "视频队列暂时无法使用" in await refusal_of(queue)
    await world.comfy.wait_idle(timeout=30)  # the GPU finished the job while nobody could record it

    await postgres.start()
    assert (await _until_health(health, 200))["database"] == "up"
    job = await wait_state(world, job_id, JobState.DELIVERED, timeout=30)
    assert [post.id for post in results_of(world, job_id)] == [job.result_message_id]
    assert len(world.comfy.accepted) == 1  # followed again by prompt_id, never sent twice
    later = job_id_of(await card_of(await send_video(world, prompt="after the storm")))
    await delivered(world, later, timeout=30)


async def test_connections_killed_under_a_running_bot_are_made_again(world: World,
                                                                    postgres: RestartablePostgres) -> None:
    card = await card_of(await send_video(world, prompt="a kite over dunes"))
    job_id = job_id_of(card)
    await wait_state(world, job_id, JobState.RUNNING)
    assert await postgres.terminate_connections() > 0  # the pool's and the LISTEN connection
    async with asyncio.timeout(20):
        while True:  # the first request after may meet the dropped connection; the next works
            handle = await send_video(world, prompt="a kite at dusk")
            await handle.acked()
            await handle.wait_for(lambda e: e.kind in ("edit_original", "followup"), 5)
            if any(e.kind == "edit_original" and e.body.get("embeds") for e in handle.responses):
                break
            await asyncio.sleep(0.2)
    later = job_id_of(await card_of(handle))
    job = await wait_state(world, job_id, JobState.DELIVERED, timeout=30)
    assert [post.id for post in results_of(world, job_id)] == [job.result_message_id]
    await delivered(world, later, timeout=30)
