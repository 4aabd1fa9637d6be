"""One retry policy for every call to a ComfyUI server: backoff with jitter, an overall budget,
time injected so that the tests never wait out a backoff."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest

from bot.comfy.client import ComfyClient, RetryPolicy
from bot.comfy.errors import BackendDown
from bot.comfy.protocol import OutputFile
from tests.cli._servers import silent_listener
from tests.fakes.comfyui import FakeComfyUI

POLICY = RetryPolicy(attempts=4, base_delay=0.5, max_delay=8.0, jitter=0.5)


class Sleeps:
    """Stands in for asyncio.sleep: records each backoff and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def _backs_off_with_jitter(delays: list[float]) -> None:
    for attempt, delay in enumerate(delays):
        floor = POLICY.base_delay * 2**attempt
        assert floor <= delay <= floor + POLICY.jitter
    assert any(delay != POLICY.base_delay * 2**attempt for attempt, delay in enumerate(delays))


async def test_server_errors_back_off_with_jitter_then_succeed() -> None:
    sleeps = Sleeps()
    async with FakeComfyUI() as fake, aiohttp.ClientSession() as session:
        fake.http_failures(3, status=503)
        client = ComfyClient(fake.url, session, retry=POLICY, sleep=sleeps)
        snapshot = await client.queue()
    assert snapshot.pending == []
    assert len(sleeps.delays) == 3
    _backs_off_with_jitter(sleeps.delays)


async def test_attempts_run_out_into_backend_down() -> None:
    sleeps = Sleeps()
    async with FakeComfyUI() as fake, aiohttp.ClientSession() as session:
        fake.http_failures(10, status=502)
        client = ComfyClient(fake.url, session, retry=POLICY, sleep=sleeps)
        with pytest.raises(BackendDown) as info:
            await client.system_stats()
        assert len(fake.requests_to("/system_stats")) == POLICY.attempts
    assert info.value.reason == f"{fake.url} is not answering (HTTP 502)"
    assert len(sleeps.delays) == POLICY.attempts - 1


async def test_downloads_retry_under_the_same_policy(tmp_path: Path) -> None:
    sleeps = Sleeps()
    async with FakeComfyUI() as fake, aiohttp.ClientSession() as session:
        clip = fake.output_path("clip.mp4")
        clip.parent.mkdir(parents=True, exist_ok=True)
        clip.write_bytes(b"\0" * 5000)
        fake.http_failures(2, status=503, path="/view")
        client = ComfyClient(fake.url, session, retry=POLICY, sleep=sleeps)
        size = await client.download(OutputFile(filename="clip.mp4"), tmp_path / "o.mp4", max_bytes=1 << 20)
    assert size == 5000 == len((tmp_path / "o.mp4").read_bytes())
    assert len(sleeps.delays) == 2
    _backs_off_with_jitter(sleeps.delays)


async def test_the_budget_bounds_one_call_across_all_its_retries() -> None:
    policy = RetryPolicy(attempts=100, base_delay=0.01, max_delay=0.01, jitter=0.0,
                         connect_timeout=0.2, attempt_timeout=0.2, budget=0.6)
    async with silent_listener() as url, aiohttp.ClientSession() as session:
        client = ComfyClient(url, session, retry=policy)
        started = time.monotonic()
        with pytest.raises(BackendDown) as info:
            await client.queue()
        elapsed = time.monotonic() - started
    assert info.value.reason == f"{url} is not answering (no answer within 0.6 s)"
    assert elapsed < 5.0  # the budget, not 100 attempts
