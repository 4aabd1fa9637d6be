"""The websocket fan-out's waits: a cancel is never swallowed by an event landing with it."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from bot.comfy.client import ComfyClient
from bot.comfy.events import Event, EventStream, Subscription


async def _parked(coro: object) -> asyncio.Task[object]:
    """Run `coro` as a task and let it reach its wait (two loop turns: the task's first step,
    then whatever task the wait itself starts)."""
    task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
    for _ in range(3):
        await asyncio.sleep(0)
    return task


async def test_an_event_and_a_cancel_in_the_same_iteration_cancel_the_get() -> None:
    sub = Subscription("p1")
    task = await _parked(sub.get(timeout=30))
    sub.put(Event("progress", {"prompt_id": "p1", "value": 1, "max": 2}))
    task.cancel()  # same loop iteration as the event: the cancel must still win
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def test_get_returns_the_event_or_none_after_the_timeout() -> None:
    sub = Subscription("p1")
    assert await sub.get(timeout=0.01) is None
    sub.put(Event("executing", {"prompt_id": "p1", "node": "3"}))
    event = await sub.get(timeout=1)
    assert event is not None and event.type == "executing"


async def test_wait_connected_is_cancelled_even_as_the_socket_connects() -> None:
    async with aiohttp.ClientSession() as session:
        stream = EventStream(ComfyClient("http://127.0.0.1:9", session))
        task = await _parked(stream.wait_connected(timeout=30))
        stream.connected.set()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await stream.wait_connected(timeout=0.01)
