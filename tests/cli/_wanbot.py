"""Run `wanbot` as an operator does: a subprocess with a clean environment, in a folder of the test's."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ROOT", "Run", "wanbot"]

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str
    seconds: float


async def wanbot(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60) -> Run:
    """`python -m bot ARGS` with no DISCORD_/COMFYUI_/WANBOT_ variable but those in `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "COMFYUI_", "WANBOT_"))}
    clean.update(env or {})
    clean["PYTHONPATH"] = str(ROOT)
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=cwd, env=clean,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return Run(proc.returncode or 0, out.decode(), err.decode(), time.monotonic() - started)
