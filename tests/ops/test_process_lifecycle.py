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
