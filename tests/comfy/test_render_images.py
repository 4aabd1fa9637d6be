"""The render path with a start picture, against the emulator: the picture is uploaded to the
server right before each submission and its name written into the LoadImage input; a re-attach
to a prompt the server still holds uploads nothing; a ComfyUI that forgot the prompt gets the
picture again with the resubmission; the clip shows the picture."""

from __future__ import annotations

import asyncio
import io
import uuid
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.comfy.errors import BackendDown, ComfyError
from bot.comfy.render import InputImage, render
from bot.workflows import VideoRequest, load_template
from bot.workflows.start_image import fit_start_image
from tests.comfy.conftest import FAST_RETRY, FAST_WATCH, Rig
from tests.fakes.media import first_frame_colour

pytestmark = pytest.mark.timeout(60)

TEAL = (20, 150, 140)


def picture(colour: tuple[int, int, int] = TEAL) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (400, 300), colour).save(out, "JPEG", quality=95)
    return fit_start_image(out.getvalue(), 624, 624).png


def i2v_job(template: str = "wan-native-i2v") -> tuple[dict[str, Any], InputImage]:
    tpl = load_template(template)
    request = VideoRequest.build(tpl, prompt="the picture comes alive", seed=3, frames=17, width=624, height=624)
    image = InputImage("job-5-0123456789abcdef.png", picture(), tuple(tpl.image_targets))
    return tpl.render(request.to_params()), image


def load_image_value(prompt: dict[str, Any]) -> str:
    (node,) = [n for n in prompt.values() if n["class_type"] == "LoadImage"]
    return str(node["inputs"]["image"])


@pytest.mark.parametrize("template", ["wan-native-i2v", "wan-wrapper-i2v"])
async def test_the_picture_is_uploaded_then_named_in_the_graph(rig: Rig, tmp_path: Path, template: str) -> None:
    graph, image = i2v_job(template)
    before = load_image_value(graph)
    result = await render(rig.client, rig.events, graph, tmp_path / "o.mp4", max_bytes=50 << 20,
                          watch=FAST_WATCH, images=[image])
    (upload,) = rig.fake.requests_to("/upload/image", "POST")
    fields = upload.form()
    assert fields["image"].filename == "job-5-0123456789abcdef.png" and fields["image"].data == image.data
    assert fields["image"].content_type == "image/png"
    assert (fields["subfolder"].text, fields["type"].text, fields["overwrite"].text) == ("wanbot", "input", "true")
    (accepted,) = rig.fake.accepted
    assert load_image_value(accepted.prompt) == "wanbot/job-5-0123456789abcdef.png"
    assert load_image_value(graph) == before  # the caller's graph is left as it was
    # The upload came before the prompt, and the clip is made of the picture.
    routes = [r.route for r in rig.fake.requests if r.method == "POST"]
    assert routes.index("/upload/image") < routes.index("/prompt")
    colour = await asyncio.to_thread(first_frame_colour, result.path)
    assert all(abs(a - b) <= 8 for a, b in zip(colour, TEAL)), colour


async def test_a_flaky_upload_is_retried_with_a_fresh_form(rig: Rig, tmp_path: Path) -> None:
    graph, image = i2v_job()
    rig.fake.http_failures(1, 500, path="/upload/image")
    await render(rig.client, rig.events, graph, tmp_path / "o.mp4", max_bytes=50 << 20, watch=FAST_WATCH,
                 images=[image])
    first, second = rig.fake.requests_to("/upload/image")
    assert first.form()["image"].data == second.form()["image"].data == image.data  # the same file, sent anew
    assert rig.fake.input_files == ["wanbot/job-5-0123456789abcdef.png"]


async def test_an_upload_the_server_keeps_refusing_stops_before_any_prompt(rig: Rig, tmp_path: Path) -> None:
    graph, image = i2v_job()
    rig.fake.http_failures(FAST_RETRY.attempts, 500, path="/upload/image")
    with pytest.raises(BackendDown):
        await render(rig.client, rig.events, graph, tmp_path / "o.mp4", max_bytes=50 << 20, watch=FAST_WATCH,
                     images=[image])
    rig.fake.http_failures(1, 413, path="/upload/image")  # a proxy with a body limit
    with pytest.raises(ComfyError, match="413"):
        await render(rig.client, rig.events, graph, tmp_path / "o.mp4", max_bytes=50 << 20, watch=FAST_WATCH,
                     images=[image])
    assert rig.fake.accepted == [] and rig.fake.requests_to("/prompt", "POST") == []


async def test_reattaching_to_a_prompt_the_server_holds_uploads_nothing(rig: Rig, tmp_path: Path) -> None:
    graph, image = i2v_job()
    rig.fake.step_seconds = 0.05
    first = asyncio.create_task(render(rig.client, rig.events, graph, tmp_path / "a.mp4", max_bytes=50 << 20,
                                       watch=FAST_WATCH, images=[image], prompt_id=(chosen := str(uuid.uuid4()))))
    while rig.fake.running is None:
        await asyncio.sleep(0.01)
    first.cancel()  # the dispatcher's process goes away; ComfyUI keeps rendering
    with pytest.raises(asyncio.CancelledError):
        await first
    result = await render(rig.client, rig.events, graph, tmp_path / "b.mp4", max_bytes=50 << 20, watch=FAST_WATCH,
                          images=[image], prompt_id=chosen, reattach=True)
    assert result.prompt_id == chosen and len(rig.fake.requests_to("/upload/image")) == 1


async def test_a_comfyui_that_forgot_the_prompt_gets_the_picture_again(rig: Rig, tmp_path: Path) -> None:
    """A restarted ComfyUI forgets its queue; its input folder may be wiped too (a new container):
    the resubmission uploads the picture first."""
    graph, image = i2v_job()
    rig.fake.pause()
    chosen = str(uuid.uuid4())
    task = asyncio.create_task(render(rig.client, rig.events, graph, tmp_path / "a.mp4", max_bytes=50 << 20,
                                      watch=FAST_WATCH, images=[image], prompt_id=chosen))
    while not rig.fake.queue_pending:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await rig.fake.restart()
    await rig.fake.remove_input("wanbot/job-5-0123456789abcdef.png")
    rig.fake.resume()
    result = await render(rig.client, rig.events, graph, tmp_path / "b.mp4", max_bytes=50 << 20, watch=FAST_WATCH,
                          images=[image], prompt_id=chosen, reattach=True)
    assert result.bytes > 0 and len(rig.fake.requests_to("/upload/image")) == 2
    assert rig.fake.input_files == ["wanbot/job-5-0123456789abcdef.png"]
