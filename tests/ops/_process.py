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

    async def metrics(self) -> str:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{self.port}/metrics") as resp:
                return await resp.text()

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

    async def terminate(self, timeout: float = 20.0, sig: signal.Signals = signal.SIGTERM) -> int:
        assert self.proc
        self.proc.send_signal(sig)
        return await self.exited(timeout)

    async def exited(self, timeout: float) -> int:
        """The exit code, once the process ends by itself; TimeoutError (a hang) after `timeout`."""
        assert self.proc
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

    @property
    def tail(self) -> str:
        """The last lines of the log, for assertion messages (DEBUG logs run long)."""
        return "\n".join(self.text.splitlines()[-25:])

    def lines_at(self, *levels: str) -> list[str]:
        """The log lines (key=value format) at any of `levels` ("error", "warning", ...)."""
        marks = tuple(f"level={level} " for level in levels)
        return [line for line in self.text.splitlines() if any(mark in line for mark in marks)]


class SilentServer:
    """A TCP server that accepts connections and never answers: a peer stuck mid-handshake.
    `connected` is set when the first connection arrives (the process is now waiting on it)."""

    def __init__(self) -> None:
        self.connected = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.url = ""

    async def __aenter__(self) -> "SilentServer":
        self._server = await asyncio.start_server(self._hold, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        self.connected.set()

    async def __aexit__(self, *exc: object) -> None:
        for writer in self._writers:
            writer.close()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
