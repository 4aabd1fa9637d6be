"""Running a real discord.py bot against the fake inside a test, and stopping it cleanly.

Owns ``running_bot``: point discord.py at the fake, ``login`` + ``connect`` as
``Client.start`` does (but as a task the test can await), wait for ``on_ready``, and on
exit close the bot and await the connect task so no task is left pending.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TypeVar

import discord

from .pointing import point_discord_py_at
from .server import FakeDiscord

__all__ = ["running_bot"]

ClientT = TypeVar("ClientT", bound=discord.Client)


@contextlib.asynccontextmanager
async def running_bot(bot: ClientT, fake: FakeDiscord, *, ready_timeout: float = 10.0) -> AsyncIterator[ClientT]:
    """Run ``bot`` against ``fake`` until the block ends; raises if it never gets ready."""
    restore = point_discord_py_at(fake.url)
    connect_task: asyncio.Task[None] | None = None
    try:
        await bot.login(fake.token)
        connect_task = asyncio.create_task(bot.connect(), name="fake-discord-bot-connect")
        await _until_ready(bot, connect_task, ready_timeout)
        yield bot
    finally:
        await bot.close()
        if connect_task is not None:
            await _finish(connect_task)
        restore()


async def _until_ready(bot: discord.Client, connect_task: asyncio.Task[None], timeout: float) -> None:
    ready_task = asyncio.create_task(bot.wait_until_ready(), name="fake-discord-bot-ready")
    done, _ = await asyncio.wait({ready_task, connect_task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if ready_task in done:
        return
    ready_task.cancel()
    await _finish(ready_task)
    if connect_task in done:
        connect_task.result()  # re-raises why the bot stopped (bad token, closed gateway...)
        raise RuntimeError("the bot's connect() returned before on_ready")
    raise TimeoutError(f"the bot was not ready within {timeout:g}s")


async def _finish(task: asyncio.Task[None]) -> None:
    """Wait for a task we own to end, and collect its outcome so asyncio does not warn.

    ``asyncio.wait`` never raises the task's exception, and a cancellation of the *caller*
    still propagates (unlike wrapping ``await task`` in a broad ``except``).
    """
    if not task.done():
        await asyncio.wait({task}, timeout=10.0)
    if task.done() and not task.cancelled():
        task.exception()
