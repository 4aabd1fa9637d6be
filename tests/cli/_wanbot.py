"""Run `wanbot` as an operator does: a subprocess with a clean environment, in a folder of the test's."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ROOT", "Run", "clean_env", "wanbot"]

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Run:
    """One finished run. Unpacks as `(code, out, err)` for tests that need only those."""

    code: int
    out: str
    err: str
    seconds: float

    def __iter__(self) -> Iterator[int | str]:
        return iter((self.code, self.out, self.err))


def clean_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any wanbot setting, plus `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "COMFYUI_", "WANBOT_"))}
    clean.update(env or {})
    clean["PYTHONPATH"] = str(ROOT)
    return clean


async def wanbot(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60,
                 python: list[str] | None = None) -> Run:
    """`python -m bot ARGS` (or `python + ARGS`) with no DISCORD_/COMFYUI_/WANBOT_ variable but
    those in `env`; killed after `timeout` seconds (the test then fails on the TimeoutError)."""
    command = python or [sys.executable, "-m", "bot"]
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *command, *args, cwd=cwd, env=clean_env(env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    except (TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise
    return Run(proc.returncode or 0, out.decode(), err.decode(), time.monotonic() - started)
