"""A running ComfyUI emulator and a started Backend (client + websocket) pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from bot.comfy.backend import Backend
from bot.comfy.client import RetryPolicy
from bot.comfy.watch import Watch
from tests.fakes.comfyui import FakeComfyUI

FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, jitter=0.01, attempt_timeout=5.0)
FAST_WATCH = Watch(stall_seconds=5.0, poll_connected=0.5, poll_disconnected=0.1, history_grace=0.5)


@dataclass
class Rig:
    fake: FakeComfyUI
    backend: Backend
    session: aiohttp.ClientSession

    @property
    def client(self):  # noqa: ANN201 - shorthand for tests
        return self.backend.client

    @property
    def events(self):  # noqa: ANN201
        return self.backend.events


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with FakeComfyUI(steps=4, step_seconds=0.01) as fake, aiohttp.ClientSession() as session:
        backend = Backend.create(fake.url, session, retry=FAST_RETRY, heartbeat=5.0)
        backend.start()
        assert await backend.events.wait_connected(5.0)
        try:
            yield Rig(fake, backend, session)
        finally:
            await backend.close()
