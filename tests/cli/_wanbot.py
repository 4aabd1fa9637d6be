"""Runs `wanbot` as an operator does: a subprocess with a clean environment, in a chosen folder."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

__all__ = ["ROOT", "wanbot", "clean_env"]

ROOT = Path(__file__).resolve().parents[2]


def clean_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any wanbot setting, plus `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "COMFYUI_", "WANBOT_"))}
    clean.update(env or {})
    clean["PYTHONPATH"] = str(ROOT)
    return clean


async def wanbot(*args: str, cwd: Path, env: dict[str, str] | None = None,
                 python: list[str] | None = None) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `python -m bot *args` (or of `python + args`); killed after 60 s."""
    command = python or [sys.executable, "-m", "bot"]
    proc = await asyncio.create_subprocess_exec(
        *command, *args, cwd=cwd, env=clean_env(env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    except (asyncio.TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(), err.decode()
