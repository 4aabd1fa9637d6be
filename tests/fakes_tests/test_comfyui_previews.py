"""The emulator's live previews against ComfyUI's own server source (server.py send_image and
send_image_with_metadata, main.py's progress hook, comfy_execution/progress.py, feature flags):
which frames a client gets, in which layout and order, for which preview method."""

from __future__ import annotations

import io
import json
import struct
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from PIL import Image

from tests.fakes.comfyui import FakeComfyUI, preview_colour
from tests.fakes_tests.test_comfyui_emulator import ENDPOINTS, post_prompt, seed_graph

FLAGS = {"type": "feature_flags", "data": {"supports_preview_metadata": True}}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def _run(http: aiohttp.ClientSession, fake: FakeComfyUI, *, flags: bool = False,
               extra_data: dict[str, Any] | None = None) -> tuple[str, list[Any]]:
    """Submit the seed graph from a fresh client; every message it receives until the prompt's
    `executing: null`: dicts for JSON, bytes for binary frames."""
    client_id = uuid.uuid4().hex
    seen: list[Any] = []
    async with http.ws_connect(f"{fake.ws_url}?clientId={client_id}") as ws:
        seen.append(await ws.receive_json(timeout=5))  # status with sid
        if flags:
            await ws.send_json(FLAGS)
            seen.append(await ws.receive_json(timeout=5))
        fields: dict[str, Any] = {"client_id": client_id}
        if extra_data is not None:
            fields["extra_data"] = extra_data
        status, body = await post_prompt(http, fake.url, seed_graph(), **fields)
        assert status == 200, body
        while True:
            message = await ws.receive(timeout=5)
            if message.type == aiohttp.WSMsgType.BINARY:
                seen.append(bytes(message.data))
                continue
            seen.append(json.loads(message.data))
            data = seen[-1]["data"]
            if seen[-1]["type"] == "executing" and data["node"] is None and data.get("prompt_id") == body["prompt_id"]:
                return body["prompt_id"], seen


async def _the_rest(ws: aiohttp.ClientWebSocketResponse) -> list[Any]:
    """What the socket still receives until it has been quiet for 0.2 s (the server is idle)."""
    seen: list[Any] = []
    while True:
        try:
            message = await ws.receive(timeout=0.2)
        except TimeoutError:
            return seen
        seen.append(bytes(message.data) if message.type == aiohttp.WSMsgType.BINARY else json.loads(message.data))


def _frames(seen: list[Any]) -> list[bytes]:
    return [m for m in seen if isinstance(m, bytes)]


def _image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _close(pixel: tuple[int, ...], colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 12 for a, b in zip(pixel, colour, strict=False))


async def test_no_previews_without_a_method_as_comfyui_starts_by_default(http: aiohttp.ClientSession) -> None:
    async with FakeComfyUI(steps=2) as fake:
        _, seen = await _run(http, fake)
    assert _frames(seen) == []


async def test_a_client_without_flags_gets_type1_jpegs_after_each_progress(http: aiohttp.ClientSession) -> None:
    async with FakeComfyUI(steps=3, preview_size=256) as fake:
        prompt_id, seen = await _run(http, fake, extra_data={"preview_method": "latent2rgb"})
    frames = _frames(seen)
    assert len(frames) == 3
    for frame in frames:
        assert struct.unpack(">II", frame[:8]) == (1, 1)  # PREVIEW_IMAGE, JPEG
        image = _image(frame[8:])
        # The 104x60 latent of 832x480, scaled to fit --preview-size by send_image's contain().
        assert image.format == "JPEG" and image.size == (256, 148)
        assert _close(image.getpixel((2, 2)), preview_colour(prompt_id))
    # main.py's hook: `progress` goes out, then the legacy frame.
    sampler = [i for i, m in enumerate(seen) if isinstance(m, bytes)]
    for index in sampler:
        previous = seen[index - 1]
        assert isinstance(previous, dict) and previous["type"] == "progress" and previous["data"]["node"] == "6"


async def test_a_flagged_client_gets_type4_frames_with_metadata_first(http: aiohttp.ClientSession) -> None:
    async with FakeComfyUI(steps=2, preview_format="PNG") as fake:
        prompt_id, seen = await _run(http, fake, flags=True, extra_data={"preview_method": "taesd"})
    assert seen[1] == {"type": "feature_flags", "data": ENDPOINTS["GET /features"]["body"]}
    frames = _frames(seen)
    assert len(frames) == 2
    for frame in frames:
        kind, length = struct.unpack(">II", frame[:8])
        assert kind == 4
        metadata = json.loads(frame[8:8 + length])
        assert metadata == {"node_id": "6", "prompt_id": prompt_id, "display_node_id": "6",
                            "parent_node_id": None, "real_node_id": "6", "image_type": "image/png"}
        image = _image(frame[8 + length:])
        assert image.format == "PNG" and image.size == (512, 295)  # taesd: full size, contained in 512
    # The progress registry sends progress_state and the type 4 frame before `progress`.
    for index in [i for i, m in enumerate(seen) if isinstance(m, bytes)]:
        assert seen[index - 1]["type"] == "progress_state" and seen[index + 1]["type"] == "progress"


async def test_the_prompts_method_overrides_the_servers_and_none_means_none(http: aiohttp.ClientSession) -> None:
    async with FakeComfyUI(steps=2, preview_method="auto") as fake:
        _, launched = await _run(http, fake)
        _, refused = await _run(http, fake, extra_data={"preview_method": "none"})
        _, defaulted = await _run(http, fake, extra_data={"preview_method": "default"})
    assert len(_frames(launched)) == 2 and _frames(refused) == [] and len(_frames(defaulted)) == 2


async def test_frames_follow_the_knob(http: aiohttp.ClientSession) -> None:
    method = {"preview_method": "latent2rgb"}
    async with FakeComfyUI(steps=2, preview_frames="type1") as old:
        _, flagged_on_old = await _run(http, old, flags=False, extra_data=method)
    async with FakeComfyUI(steps=2, preview_frames="type4") as fake:
        _, unflagged = await _run(http, fake, extra_data=method)
        _, flagged = await _run(http, fake, flags=True, extra_data=method)
    async with FakeComfyUI(steps=2, preview_frames="none") as silent:
        _, none = await _run(http, silent, flags=True, extra_data=method)
    assert [f[:4] for f in _frames(flagged_on_old)] == [b"\x00\x00\x00\x01"] * 2
    assert _frames(unflagged) == [] and _frames(none) == []
    assert [f[:4] for f in _frames(flagged)] == [b"\x00\x00\x00\x04"] * 2


async def test_an_old_server_ignores_the_flags_and_sends_type1(http: aiohttp.ClientSession) -> None:
    client_id = uuid.uuid4().hex
    async with FakeComfyUI(steps=2, preview_frames="type1") as fake, \
            http.ws_connect(f"{fake.ws_url}?clientId={client_id}") as ws:
        await ws.receive_json(timeout=5)
        await ws.send_json(FLAGS)  # no feature_flags answer from a server that predates them
        await post_prompt(http, fake.url, seed_graph(), client_id=client_id,
                          extra_data={"preview_method": "latent2rgb"})
        await fake.wait_idle()
        kinds = [m[:4] if isinstance(m, bytes) else m["type"] for m in await _the_rest(ws)]
    assert "feature_flags" not in kinds
    assert kinds.count(b"\x00\x00\x00\x01") == 2


async def test_garbage_comes_before_each_real_frame(http: aiohttp.ClientSession) -> None:
    async with FakeComfyUI(steps=3, preview_frames="garbage") as fake:
        prompt_id, seen = await _run(http, fake, flags=True, extra_data={"preview_method": "latent2rgb"})
    frames = _frames(seen)
    assert len(frames) == 6
    garbage, real = frames[0::2], frames[1::2]
    assert garbage[0] == b"\x00\x00"
    assert struct.unpack(">II", garbage[1][:8]) == (1, 7)
    for frame in real:
        kind, length = struct.unpack(">II", frame[:8])
        assert kind == 4 and json.loads(frame[8:8 + length])["prompt_id"] == prompt_id


async def test_a_prompt_without_client_id_broadcasts_its_type1_frames(http: aiohttp.ClientSession) -> None:
    """As on the real server: the hook sends to server.client_id, None means every socket."""
    async with FakeComfyUI(steps=2) as fake, http.ws_connect(f"{fake.ws_url}?clientId=watcher") as ws:
        await ws.receive_json(timeout=5)
        await post_prompt(http, fake.url, seed_graph(), extra_data={"preview_method": "latent2rgb"})
        await fake.wait_idle()
        frames = _frames(await _the_rest(ws))
    assert [f[:8] for f in frames] == [struct.pack(">II", 1, 1)] * 2
