"""Videos over Discord's upload limit: re-encoded to fit, or a notice saying how to get them;
a 413 from Discord takes the same path. Nothing is ever silently lost."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.delivery.fit import Encoder, PassDeadline
from bot.jobs import JobState
from tests.e2e._video_helpers import (
    card_of,
    delivered,
    job_id_of,
    playable,
    results_of,
    send_video,
    text_of,
    video_world,
    wait_state,
)
from tests.e2e.conftest import bot_delivery
from tests.fakes.discord import DEFAULT_UPLOAD_LIMIT
from tests.fakes.media import cached_mp4

pytestmark = pytest.mark.timeout(90)


async def _clip(**params: int) -> Path:
    return await asyncio.to_thread(cached_mp4, **params)


async def test_a_12_mb_video_is_reencoded_under_the_10_mib_limit(tmp_path: Path) -> None:
    clip = await _clip(width=320, height=192, frames=81, target_bytes=12_000_000)
    async with video_world(tmp_path, comfy={"video_path": clip}) as world:
        card = await card_of(await send_video(world))
        result = await delivered(world, job_id_of(card), timeout=60)
        await wait_state(world, job_id_of(card), JobState.DELIVERED)
        (attachment,) = result.attachments
        assert attachment.size <= DEFAULT_UPLOAD_LIMIT < clip.stat().st_size
        width, height, frames = playable(attachment.data)
        assert (width, height, frames) == (320, 192, 81)  # the bitrate allowed the full resolution
        assert "Compressed to fit the 10.0 MB upload limit" in text_of(result)
        assert [e.code for e in world.discord.errors] == []  # fitted before posting: no 413
        assert not list(world.settings.output_dir.glob("*.fit.mp4"))  # the re-encode is not left behind


async def test_a_video_that_cannot_fit_gets_a_notice_with_a_link(tmp_path: Path) -> None:
    url = "https://videos.example.com/wanbot"
    clip = await _clip(width=320, height=192, frames=33, target_bytes=2_000_000)
    async with video_world(tmp_path, comfy={"video_path": clip}, public_output_url=url) as world:
        world.discord.world.guild.upload_limit = 1_000  # no watchable encode fits in 1 kB
        card = await card_of(await send_video(world, locale="zh-CN"))
        job_id = job_id_of(card)
        notice = await delivered(world, job_id, timeout=30)
        job = await wait_state(world, job_id, JobState.DELIVERED)
        assert job.result_message_id == notice.id
        assert notice.attachments == [] and notice.pings.users == {world.discord.world.user_named("alice").id}
        assert "无法在保证画质的前提下" in notice.content and f"{url}/job-{job_id}.mp4" in notice.content
        kept = world.settings.output_dir / "too-large" / f"job-{job_id}.mp4"
        assert kept.is_file() and playable(kept.read_bytes())


async def test_without_a_public_url_the_notice_says_whom_to_ask(tmp_path: Path) -> None:
    clip = await _clip(width=320, height=192, frames=33, target_bytes=2_000_000)
    async with video_world(tmp_path, comfy={"video_path": clip}) as world:
        world.discord.world.guild.upload_limit = 1_000
        card = await card_of(await send_video(world))
        notice = await delivered(world, job_id_of(card), timeout=30)
        assert "ask a moderator" in notice.content and f"job-{job_id_of(card)}.mp4" in notice.content


async def test_a_413_from_discord_reencodes_smaller_and_posts(tmp_path: Path) -> None:
    clip = await _clip(width=320, height=192, frames=33, target_bytes=2_000_000)
    async with video_world(tmp_path, comfy={"video_path": clip, "paused": True}) as world:
        card = await card_of(await send_video(world))
        # The server loses its boost after the request: only the upload itself finds out.
        world.discord.world.guild.upload_limit = 1_000_000
        world.comfy.resume()
        result = await delivered(world, job_id_of(card), timeout=60)
        await wait_state(world, job_id_of(card), JobState.DELIVERED)
        (attachment,) = result.attachments
        assert attachment.size <= 1_000_000 and playable(attachment.data)
        assert 40005 in world.discord.error_codes()
        assert len(results_of(world, job_id_of(card))) == 1


async def test_a_reencode_that_overruns_its_deadline_is_retried_then_fails_plainly(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clip = await _clip(width=320, height=192, frames=33, target_bytes=2_000_000)
    async with video_world(tmp_path, comfy={"video_path": clip}) as world:
        world.discord.world.guild.upload_limit = 1_000_000
        delivery: Any = bot_delivery(world)  # the VideoDelivery the video cog started the services with
        delivery.encoder = Encoder(deadline=PassDeadline(floor=0.0, pixels_per_second=1e12))  # no pass can make it
        job_id = job_id_of(await card_of(await send_video(world)))
        job = await wait_state(world, job_id, JobState.FAILED, timeout=30)
        assert job.error_code == "delivery_failed" and "took longer than" in (job.error_text or "")
        retries = [r for r in caplog.records if r.getMessage().startswith("delivery failed, retrying")]
        assert len(retries) == world.services.dispatcher.config.delivery_retries  # a busy machine may recover
        assert results_of(world, job_id) == []
        assert not list(world.settings.output_dir.glob("*.fit.mp4"))
