"""`wanbot run` as an operator runs it: healthy once connected, clean exit on SIGTERM, no
token in any log line."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.fakes.comfyui import FakeComfyUI
from tests.fakes.discord import FakeDiscord, FakeWorld
from tests.ops._process import BotProcess

COMFY_TOKEN = "comfy-proxy-token-4711"


async def test_healthy_then_clean_exit_on_sigterm_and_no_secret_in_logs(tmp_path: Path) -> None:
    async with FakeComfyUI(require_token=COMFY_TOKEN) as comfy, FakeDiscord(FakeWorld.default()) as discord_fake:
        bot = BotProcess.configure(tmp_path, discord_url=discord_fake.url, discord_token=discord_fake.token,
                                   comfy_url=comfy.url, COMFYUI_TOKEN=COMFY_TOKEN)
        await bot.start()
        try:
            body = await bot.wait_healthy()
            assert body["gateway"] == "connected" and body["backends"][0]["up"] is True
            await comfy.stop()  # the only backend goes away: /healthz must say so
            code = await bot.terminate()
        finally:
            await bot.kill()
    assert code == 0, bot.text
    assert "stopped cleanly" in bot.text
    for secret in (discord_fake.token, COMFY_TOKEN):
        assert secret not in bot.text
    assert "Traceback" not in bot.text


async def test_unhealthy_when_no_backend_answers(tmp_path: Path) -> None:
    async with FakeComfyUI() as comfy, FakeDiscord(FakeWorld.default()) as discord_fake:
        bot = BotProcess.configure(tmp_path, discord_url=discord_fake.url, discord_token=discord_fake.token,
                                   comfy_url=comfy.url)
        await bot.start()
        try:
            await bot.wait_healthy()
            await comfy.stop()

            async def unhealthy() -> tuple[int, dict]:
                while True:
                    status, body = await bot.health()
                    if status == 503:
                        return status, body
            status, body = await asyncio.wait_for(unhealthy(), 15)
            assert "no ComfyUI backend is up" in " ".join(body["reasons"])
            assert await bot.terminate() == 0
        finally:
            await bot.kill()


async def _wait_for_mp4(discord_fake: FakeDiscord, timeout: float) -> None:
    await discord_fake.wait_for_message(lambda m: any(a.filename.endswith(".mp4") for a in m.attachments),
                                        timeout=timeout)


async def test_sigterm_mid_job_then_restart_delivers_exactly_once(tmp_path: Path) -> None:
    """The operator restarts the bot while a video renders: clean exit, ComfyUI keeps going,
    the next process re-attaches and posts the video once; no token in any log line."""
    async with FakeComfyUI(steps=12, step_seconds=0.25) as comfy, FakeDiscord(FakeWorld.default()) as discord_fake:
        world = discord_fake.world
        first = BotProcess.configure(tmp_path, discord_url=discord_fake.url, discord_token=discord_fake.token,
                                     comfy_url=comfy.url, WANBOT_SHUTDOWN_GRACE="5")
        await first.start()
        try:
            await first.wait_healthy()
            handle = await discord_fake.slash("video", {"prompt": "一只猫在雨中跳舞"}, user=world.user_named("alice"),
                                              channel=world.channel_named("videos"), locale="zh-CN")
            assert (await handle.acked()).latency_ms < 3000
            await asyncio.wait_for(_until(lambda: comfy.running is not None), 15)
            assert await first.terminate() == 0, first.text
        finally:
            await first.kill()
        assert comfy.running is not None, "ComfyUI kept rendering while the bot was down"
        second = BotProcess.configure(tmp_path, discord_url=discord_fake.url, discord_token=discord_fake.token,
                                      comfy_url=comfy.url)
        await second.start()
        try:
            await _wait_for_mp4(discord_fake, timeout=30)
            await asyncio.sleep(0.5)  # a duplicate post would show up here
            # What the dispatcher counts is what /metrics serves: one Metrics in the process.
            delivered = 'wanbot_jobs_finished_total{outcome="delivered"} 1.0'
            await asyncio.wait_for(_until_async(lambda: second.metrics(), lambda text: delivered in text), 10)
            assert await second.terminate() == 0, second.text
        finally:
            await second.kill()
    posts = [m for m in discord_fake.channel_messages(world.channel_named("videos"))
             if any(a.filename.endswith(".mp4") for a in m.attachments)]
    assert len(posts) == 1
    assert len(comfy.accepted) == 1  # re-attached, not resubmitted
    logs = first.text + second.text
    assert "stopped cleanly" in first.text
    for secret in (discord_fake.token, handle.token):
        assert secret not in logs


async def _until_async(read, condition) -> None:  # noqa: ANN001 - the same, for an async read
    while not condition(await read()):
        await asyncio.sleep(0.05)


async def _until(condition) -> None:  # noqa: ANN001 - a tiny poll for cross-process state
    while not condition():
        await asyncio.sleep(0.05)
