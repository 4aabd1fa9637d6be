"""Live previews from ComfyUI: the frame layouts, and the event stream routing each preview to
its own prompt only, against the emulator (type 4 by prompt_id, type 1 by the prompt the socket
last saw executing), through prefetch, reconnects and garbage."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import struct
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from PIL import Image

from bot.comfy.backend import Backend
from bot.comfy.events import EventStream
from bot.comfy.previews import CorruptFrame, Preview, parse_frame, preview_extra_data
from bot.comfy.render import RenderHooks, render
from bot.comfy.watch import watch_prompt
from tests.comfy.conftest import FAST_RETRY, FAST_WATCH
from tests.comfy.test_client_emulator import _graph
from tests.fakes.comfyui import FakeComfyUI, preview_colour
from tests.fakes.comfyui._previews import garbage_frame, type1_frame, type4_frame

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
LATENT2RGB = preview_extra_data("latent2rgb")


# -- the frames --------------------------------------------------------------------------------


def test_type1_frames_carry_an_image_and_no_prompt() -> None:
    preview = parse_frame(type1_frame("PNG", PNG), 12.5)
    assert preview == Preview(PNG, "image/png", None, None, 12.5)


def test_type4_frames_carry_their_prompt_and_node() -> None:
    preview = parse_frame(type4_frame("JPEG", JPEG, "p-1", "6"), 1.0)
    assert preview is not None and (preview.prompt_id, preview.node_id, preview.mime) == ("p-1", "6", "image/jpeg")
    assert preview.image == JPEG


def test_the_image_signature_decides_the_type_not_the_claim() -> None:
    preview = parse_frame(type1_frame("PNG", JPEG), 0.0)  # says PNG, holds a JPEG
    assert preview is not None and preview.mime == "image/jpeg"


def test_other_binary_events_are_no_previews() -> None:
    text = struct.pack(">II", 3, 1) + b"6" + b"loading weights"  # a node's progress text
    assert parse_frame(text, 0.0) is None


@pytest.mark.parametrize("index", range(5))
def test_garbage_is_a_corrupt_frame(index: int) -> None:
    with pytest.raises(CorruptFrame):
        parse_frame(garbage_frame(index, "p-1", "6", JPEG), 0.0)


def test_oversized_metadata_is_not_parsed() -> None:
    metadata = b'{"prompt_id": "' + b"x" * (1 << 17) + b'"}'
    with pytest.raises(CorruptFrame, match="too large"):
        parse_frame(struct.pack(">II", 4, len(metadata)) + metadata + JPEG, 0.0)


def test_an_unknown_preview_method_is_refused() -> None:
    with pytest.raises(ValueError, match="latent2rgb"):
        preview_extra_data("fancy")


# -- the stream, against the emulator ------------------------------------------------------------


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


async def _backend(fake: FakeComfyUI, session: aiohttp.ClientSession) -> Backend:
    backend = Backend.create(fake.url, session, retry=FAST_RETRY, heartbeat=5.0)
    backend.start()
    assert await backend.events.wait_connected(5.0)
    return backend


def _colour(preview: Preview) -> tuple[int, ...]:
    image = Image.open(io.BytesIO(preview.image))
    return image.convert("RGB").getpixel((1, 1))  # type: ignore[return-value]


def _is_of(preview: Preview, prompt_id: str) -> bool:
    return all(abs(a - b) <= 12 for a, b in zip(_colour(preview), preview_colour(prompt_id), strict=True))


async def _follow_two(backend: Backend, extra: dict[str, str]) -> dict[str, list[Preview]]:
    """Two prompts submitted back to back (the second waits in ComfyUI's queue, as with
    prefetch), each followed with its own preview callback."""
    ids = [str(uuid.uuid4()) for _ in range(2)]
    seen: dict[str, list[Preview]] = {pid: [] for pid in ids}
    subs = [backend.events.subscribe(pid) for pid in ids]
    for pid in ids:
        await backend.client.submit(_graph(), prompt_id=pid, extra_data=extra)
    await asyncio.gather(*(watch_prompt(backend.client, backend.events, pid, watch=FAST_WATCH, subscription=sub,
                                        on_preview=seen[pid].append) for pid, sub in zip(ids, subs, strict=True)))
    return seen


@pytest.mark.parametrize("frames", ["real", "type1"])
async def test_each_prompt_gets_its_own_previews_only(session: aiohttp.ClientSession, frames: str) -> None:
    async with FakeComfyUI(steps=4, step_seconds=0.01, preview_frames=frames) as fake:
        backend = await _backend(fake, session)
        try:
            seen = await _follow_two(backend, LATENT2RGB)
        finally:
            await backend.close()
        binary = [e.payload[:4] for e in fake.events if e.payload is not None]
    # "real": we announced preview metadata, so the server sent type 4; an old server sends type 1.
    assert set(binary) == {b"\x00\x00\x00\x04" if frames == "real" else b"\x00\x00\x00\x01"}
    for prompt_id, previews in seen.items():
        assert len(previews) == 4
        assert all(_is_of(p, prompt_id) for p in previews)
        assert all(p.prompt_id in (prompt_id, None) and p.received_at > 0 for p in previews)


async def test_no_method_no_previews_and_the_step_bar_still_moves(session: aiohttp.ClientSession,
                                                                  tmp_path: Path) -> None:
    async with FakeComfyUI(steps=3, step_seconds=0.01, preview_method="auto") as fake:
        backend = await _backend(fake, session)
        previews: list[Preview] = []
        steps: list[int] = []
        try:
            await render(backend.client, backend.events, _graph(), tmp_path / "o.mp4", max_bytes=50 << 20,
                         watch=FAST_WATCH, extra_data=preview_extra_data("none"),
                         hooks=RenderHooks(on_preview=previews.append,
                                           on_progress=lambda p: steps.append(p.value) if p.sampling else None))
        finally:
            await backend.close()
        assert fake.accepted[0].extra_data["preview_method"] == "none"
    assert previews == [] and steps[-1] == 3


async def test_render_asks_for_the_method_and_hands_previews_over(session: aiohttp.ClientSession,
                                                                  tmp_path: Path) -> None:
    async with FakeComfyUI(steps=3, step_seconds=0.01) as fake:
        backend = await _backend(fake, session)
        previews: list[Preview] = []
        try:
            result = await render(backend.client, backend.events, _graph(), tmp_path / "o.mp4", max_bytes=50 << 20,
                                  watch=FAST_WATCH, extra_data=LATENT2RGB,
                                  hooks=RenderHooks(on_preview=previews.append))
        finally:
            await backend.close()
        assert fake.accepted[0].extra_data["preview_method"] == "latent2rgb"
    assert len(previews) == 3 and all(p.prompt_id == result.prompt_id for p in previews)


async def test_garbage_is_dropped_and_logged_once_per_prompt(session: aiohttp.ClientSession,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bot.comfy.events")
    async with FakeComfyUI(steps=6, step_seconds=0.01, preview_frames="garbage") as fake:
        backend = await _backend(fake, session)
        try:
            seen = await _follow_two(backend, LATENT2RGB)
        finally:
            await backend.close()
    for prompt_id, previews in seen.items():
        # Five of six garbage frames fail on the wire; the JPEG cut short is left to the decoder.
        assert len(previews) == 6 + 1 and sum(_decodes(p) for p in previews) == 6
        assert sum(prompt_id in r.getMessage() for r in caplog.records) == 1


def _decodes(preview: Preview) -> bool:
    try:
        Image.open(io.BytesIO(preview.image)).load()
    except OSError:
        return False
    return True


async def test_after_a_reconnect_type1_previews_wait_for_the_next_executing(session: aiohttp.ClientSession) -> None:
    """The socket cannot know which prompt runs after a reconnect: previews go nowhere until an
    `executing` says, never to the waiting prompt."""
    async with FakeComfyUI(steps=20, step_seconds=0.05, preview_frames="type1") as fake:
        backend = await _backend(fake, session)
        try:
            running, waiting = str(uuid.uuid4()), str(uuid.uuid4())
            got: dict[str, list[Preview]] = {running: [], waiting: []}
            subs = {pid: backend.events.subscribe(pid) for pid in got}
            for pid in got:
                await backend.client.submit(_graph(), prompt_id=pid, extra_data=LATENT2RGB)
            watches = [asyncio.create_task(watch_prompt(backend.client, backend.events, pid, watch=FAST_WATCH,
                                                        subscription=subs[pid], on_preview=got[pid].append))
                       for pid in got]
            while len(got[running]) < 3:
                await asyncio.sleep(0.01)
            reconnects = backend.events.reconnects
            await fake.drop_websockets()
            while backend.events.reconnects == reconnects:
                await asyncio.sleep(0.01)
            before = len(got[running])
            await asyncio.gather(*watches)
        finally:
            await backend.close()
    assert all(_is_of(p, running) for p in got[running]) and all(_is_of(p, waiting) for p in got[waiting])
    assert len(got[running]) == before  # the sampler is one long node: no `executing` came again
    assert len(got[waiting]) == 20


async def test_the_stream_announces_preview_metadata_first(session: aiohttp.ClientSession) -> None:
    received: list[object] = []

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            received.append(json.loads(message.data))
            break
        return ws

    app = web.Application()
    app.router.add_get("/ws", ws_handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    stream = EventStream(Backend.create(f"http://127.0.0.1:{port}", session).client)
    stream.start()
    try:
        while not received:
            await asyncio.sleep(0.01)
    finally:
        await stream.close()
        await runner.cleanup()
    assert received[0] == {"type": "feature_flags", "data": {"supports_preview_metadata": True}}
