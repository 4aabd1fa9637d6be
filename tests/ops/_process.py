"""Run `python -m bot run` as a real child process pointed at the fakes (for lifecycle tests)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
SITECUSTOMIZE = ROOT / "tests" / "fakes" / "discord" / "sitecustomize"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BotProcess:
    """`wanbot run` in a subprocess; stderr (the logs) collected for inspection."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env, self.cwd = env, cwd
        self.port = int(env["WANBOT_HTTP_PORT"])
        self.proc: asyncio.subprocess.Process | None = None
        self.log = bytearray()
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    def configure(cls, tmp: Path, *, discord_url: str, discord_token: str, comfy_url: str,
                  **extra: str) -> "BotProcess":
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "COMFYUI_", "WANBOT_"))}
        env.update({
            "PYTHONPATH": os.pathsep.join([str(SITECUSTOMIZE), str(ROOT)]),
            "WANBOT_FAKE_DISCORD_URL": discord_url, "DISCORD_TOKEN": discord_token,
            "COMFYUI_URLS": comfy_url, "WANBOT_DB": str(tmp / "wanbot.db"), "WANBOT_WORKFLOW": "wan-wrapper",
            "WANBOT_HTTP_PORT": str(free_port()), "WANBOT_LOG_LEVEL": "DEBUG", **extra,
        })
        return cls(env, tmp)

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=self.cwd, env=self.env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc and self.proc.stderr
        while chunk := await self.proc.stderr.read(65536):
            self.log += chunk

    async def health(self) -> tuple[int, dict]:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{self.port}/healthz") as resp:
                return resp.status, await resp.json()

    async def wait_healthy(self, timeout: float = 20.0) -> dict:
        async def poll() -> dict:
            while True:
                try:
                    status, body = await self.health()
                    if status == 200:
                        return body
                except aiohttp.ClientError:
                    pass
                assert self.proc and self.proc.returncode is None, self.text
                await asyncio.sleep(0.1)
        return await asyncio.wait_for(poll(), timeout)

    async def terminate(self, timeout: float = 20.0) -> int:
        assert self.proc
        self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        if self._reader:
            await self._reader
        return code

    async def kill(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._reader:
            await self._reader

    @property
    def text(self) -> str:
        return self.log.decode("utf-8", "replace")
