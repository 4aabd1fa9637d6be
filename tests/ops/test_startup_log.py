"""What `wanbot run` says as it starts: each backend with its check result, the health URL
once, and no warning about voice libraries a slash-command bot never uses."""

from __future__ import annotations

import re
from pathlib import Path

from tests.fakes.comfyui import FakeComfyUI, captured_object_info
from tests.fakes.discord import FakeDiscord, FakeWorld
from tests.ops._process import BotProcess, free_port


async def test_the_start_up_log_names_each_backend_and_its_check(tmp_path: Path) -> None:
    without_sampler = {k: v for k, v in captured_object_info().items() if k != "WanVideoSampler"}
    unreachable = f"http://127.0.0.1:{free_port()}"
    async with FakeComfyUI() as good, FakeComfyUI(object_info=without_sampler) as lacking, \
            FakeDiscord(FakeWorld.default()) as discord_fake:
        bot = BotProcess.configure(tmp_path, discord_url=discord_fake.url, discord_token=discord_fake.token,
                                   comfy_url=",".join([good.url, lacking.url, unreachable]),
                                   WANBOT_LOG_LEVEL="INFO")
        await bot.start()
        try:
            await bot.wait_healthy()
            assert await bot.terminate() == 0, bot.tail
        finally:
            await bot.kill()
    text = bot.text
    assert "PyNaCl" not in text and "davey" not in text
    assert text.count("health and metrics on") == 1
    assert re.search(rf'msg="backend {good.url}: ok \(ComfyUI 0\.8\.0, [^,]+, \d+\.\d GiB free\)"', text), text
    assert re.search(rf'msg="backend {unreachable} is not answering \(.+\)"', text), text
    (down,) = [line for line in text.splitlines() if f"backend {unreachable} is not answering" in line]
    assert down.count(unreachable) == 1, down
    (missing,) = [line for line in bot.lines_at("error") if lacking.url in line]  # said once
    assert f'msg="backend {lacking.url}: cannot run the workflow: ' in missing
    assert "WanVideoSampler" in missing and "ComfyUI-WanVideoWrapper" in missing
