"""The emulator's picture uploads and LoadImage, against ComfyUI's own rules (server.py
image_upload, nodes.py LoadImage, execution.validate_inputs), through plain aiohttp calls."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from tests.fakes.comfyui import FakeComfyUI
from tests.fakes.media import first_frame_colour

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def fake() -> AsyncIterator[FakeComfyUI]:
    async with FakeComfyUI(steps=2, step_seconds=0.0) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session


def png(colour: tuple[int, int, int] = (220, 30, 40), size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def form(data: bytes | None = None, name: str = "pic.png", **fields: str) -> aiohttp.FormData:
    body = aiohttp.FormData()
    if data is not None:
        body.add_field("image", data, filename=name, content_type="image/png")
    for key, value in fields.items():
        body.add_field(key, value)
    return body


async def upload(http: aiohttp.ClientSession, fake: FakeComfyUI, body: aiohttp.FormData) -> tuple[int, Any]:
    async with http.post(f"{fake.url}/upload/image", data=body) as resp:
        return resp.status, (await resp.json() if resp.content_type == "application/json" else await resp.text())


def still_graph(image: str) -> dict[str, Any]:
    """LoadImage → CreateVideo → SaveVideo: runs on the emulator without models."""
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": image}},
        "2": {"class_type": "CreateVideo", "inputs": {"images": ["1", 0], "fps": 16.0}},
        "3": {"class_type": "SaveVideo", "inputs": {"video": ["2", 0], "filename_prefix": "video/still",
                                                    "format": "mp4", "codec": "h264"}},
    }


async def submit(http: aiohttp.ClientSession, fake: FakeComfyUI, graph: dict[str, Any]) -> tuple[int, Any]:
    body = {"prompt": graph, "client_id": "t", "prompt_id": str(uuid.uuid4())}
    async with http.post(f"{fake.url}/prompt", json=body) as resp:
        return resp.status, await resp.json()


# --- POST /upload/image --------------------------------------------------------------------------


async def test_an_upload_lands_in_the_input_folder_and_is_answered_with_its_name(
        fake: FakeComfyUI, http: aiohttp.ClientSession) -> None:
    data = png()
    status, body = await upload(http, fake, form(data, "job-7-ab12.png", subfolder="wanbot", type="input",
                                                 overwrite="true"))
    assert (status, body) == (200, {"name": "job-7-ab12.png", "subfolder": "wanbot", "type": "input"})
    assert fake.input_files == ["wanbot/job-7-ab12.png"]
    assert (fake.output_path("job-7-ab12.png", "wanbot", "input")).read_bytes() == data
    (recorded,) = fake.requests_to("/upload/image")
    fields = recorded.form()
    assert fields["image"].filename == "job-7-ab12.png" and fields["image"].data == data
    assert (fields["subfolder"].text, fields["type"].text, fields["overwrite"].text) == ("wanbot", "input", "true")


async def test_without_a_type_it_goes_to_input_and_api_prefix_works(fake: FakeComfyUI,
                                                                     http: aiohttp.ClientSession) -> None:
    async with http.post(f"{fake.url}/api/upload/image", data=form(png())) as resp:
        assert (resp.status, await resp.json()) == (200, {"name": "pic.png", "subfolder": "", "type": "input"})
    assert fake.input_files == ["pic.png"]


async def test_a_taken_name_gets_a_number_unless_overwrite(fake: FakeComfyUI, http: aiohttp.ClientSession) -> None:
    first, second = png((255, 0, 0)), png((0, 0, 255))
    assert (await upload(http, fake, form(first)))[1]["name"] == "pic.png"
    assert (await upload(http, fake, form(second)))[1]["name"] == "pic (1).png"
    assert (await upload(http, fake, form(png((0, 255, 0)))))[1]["name"] == "pic (2).png"
    # The same bytes again are not stored again: the existing name is answered.
    assert (await upload(http, fake, form(second)))[1]["name"] == "pic (1).png"
    assert fake.input_files == ["pic (1).png", "pic (2).png", "pic.png"]
    # "true" and "1" overwrite in place; anything else does not.
    assert (await upload(http, fake, form(second, overwrite="1")))[1]["name"] == "pic.png"
    assert fake.output_path("pic.png", folder_type="input").read_bytes() == second
    assert (await upload(http, fake, form(first, overwrite="yes")))[1]["name"] == "pic (3).png"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (form(None, subfolder="wanbot"), 400),  # no image field
        (form(png(), subfolder="../escape"), 400),  # leaves the folder
        (form(png(), name=""), 400),  # an empty filename
        (form(png(), type="models"), 500),  # no such folder type: the real handler crashes
    ],
)
async def test_bad_uploads_are_refused_as_comfyui_refuses_them(fake: FakeComfyUI, http: aiohttp.ClientSession,
                                                                body: aiohttp.FormData, status: int) -> None:
    assert (await upload(http, fake, body))[0] == status
    assert fake.input_files == []


async def test_an_image_field_without_a_file_crashes_the_handler(fake: FakeComfyUI,
                                                                 http: aiohttp.ClientSession) -> None:
    assert (await upload(http, fake, form(None, image="not a file")))[0] == 500
    async with http.post(f"{fake.url}/upload/image", json={"image": "x"}) as resp:
        assert resp.status == 400  # not a form at all: request.post() is empty


async def test_a_temp_upload_is_not_an_input(fake: FakeComfyUI, http: aiohttp.ClientSession) -> None:
    status, body = await upload(http, fake, form(png(), type="temp"))
    assert (status, body["type"]) == (200, "temp") and fake.input_files == []
    assert fake.output_path("pic.png", folder_type="temp").is_file()


async def test_load_image_lists_only_the_top_of_the_input_folder(fake: FakeComfyUI,
                                                                 http: aiohttp.ClientSession) -> None:
    await upload(http, fake, form(png(), "top.png"))
    await upload(http, fake, form(png(), "deep.png", subfolder="wanbot"))
    async with http.get(f"{fake.url}/object_info/LoadImage") as resp:
        info = (await resp.json())["LoadImage"]
    assert info["input"]["required"]["image"] == [["top.png"], {"image_upload": True}]
    assert info["output"] == ["IMAGE", "MASK"]


# --- LoadImage at submit and at run time ---------------------------------------------------------


async def test_a_prompt_naming_an_uploaded_picture_is_accepted(fake: FakeComfyUI,
                                                               http: aiohttp.ClientSession) -> None:
    await upload(http, fake, form(png(), "job-1-ab.png", subfolder="wanbot"))
    status, body = await submit(http, fake, still_graph("wanbot/job-1-ab.png"))
    assert status == 200 and body["node_errors"] == {}
    status, _ = await submit(http, fake, still_graph("wanbot/job-1-ab.png [input]"))
    assert status == 200


async def test_a_picture_the_server_does_not_have_is_refused_like_loadimage_refuses_it(
        fake: FakeComfyUI, http: aiohttp.ClientSession) -> None:
    status, body = await submit(http, fake, still_graph("wanbot/job-9-gone.png"))
    assert status == 400
    assert body["error"] == {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                             "details": "", "extra_info": {}}
    assert body["node_errors"] == {"1": {
        "errors": [{"type": "custom_validation_failed", "message": "Custom validation failed for node",
                    "details": "image - Invalid image file: wanbot/job-9-gone.png",
                    "extra_info": {"input_name": "image"}}],
        "dependent_outputs": ["3"], "class_type": "LoadImage"}}
    assert fake.accepted == []


async def test_the_clip_shows_the_uploaded_picture(fake: FakeComfyUI, http: aiohttp.ClientSession,
                                                   tmp_path: Path) -> None:
    await upload(http, fake, form(png((30, 160, 220), (832, 480)), "blue.png", subfolder="wanbot"))
    status, body = await submit(http, fake, still_graph("wanbot/blue.png"))
    assert status == 200
    await fake.wait_idle()
    entry = fake.history[body["prompt_id"]]
    (video,) = entry["outputs"]["3"]["images"]
    clip = fake.output_path(video["filename"], video["subfolder"])
    assert _near(await asyncio.to_thread(first_frame_colour, clip), (30, 160, 220))
    # A prompt without a picture still gets the emulator's own test pattern.
    status, body = await submit(http, fake, _pattern_graph())
    await fake.wait_idle()
    (video,) = fake.history[body["prompt_id"]]["outputs"]["3"]["images"]
    pattern = fake.output_path(video["filename"], video["subfolder"])
    assert not _near(await asyncio.to_thread(first_frame_colour, pattern), (30, 160, 220))


def _pattern_graph() -> dict[str, Any]:
    graph = still_graph("unused")
    graph["1"] = {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}}
    return graph


def _near(colour: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 8) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected))


async def test_a_picture_removed_after_validation_fails_the_run(fake: FakeComfyUI,
                                                                http: aiohttp.ClientSession) -> None:
    await upload(http, fake, form(png(), "brief.png", subfolder="wanbot"))
    fake.pause()
    status, body = await submit(http, fake, still_graph("wanbot/brief.png"))
    assert status == 200
    await fake.remove_input("wanbot/brief.png")
    fake.resume()
    await fake.wait_idle()
    status_of = fake.history[body["prompt_id"]]["status"]
    assert status_of["status_str"] == "error"
    error = next(data for event, data in status_of["messages"] if event == "execution_error")
    assert error["node_type"] == "LoadImage" and error["exception_type"] == "FileNotFoundError"
    assert "input/wanbot/brief.png" in error["exception_message"]
