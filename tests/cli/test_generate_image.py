"""`wanbot generate --image`: image-to-video from the terminal, with the same checks as /video,
the picture uploaded with the prompt, and every refusal one line before anything is sent."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from tests.cli._wanbot import wanbot
from tests.fakes.comfyui import FakeComfyUI
from tests.fakes.media import first_frame_colour

pytestmark = pytest.mark.timeout(90)

BOTH = {"WANBOT_WORKFLOW": "wan-wrapper,wan-wrapper-i2v"}
GOLD = (210, 170, 30)


def write_picture(path: Path, fmt: str = "PNG", size: tuple[int, int] = (900, 600),
                  colour: tuple[int, int, int] = GOLD) -> Path:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    path.write_bytes(out.getvalue())
    return path


async def test_a_picture_becomes_the_first_frame_of_the_clip(tmp_path: Path) -> None:
    write_picture(tmp_path / "gold.jpg", "JPEG")
    async with FakeComfyUI(steps=2, step_seconds=0.001) as fake:
        run = await wanbot("generate", "the statue turns its head", "--image", "gold.jpg", "-o", "out.mp4",
                           "--width", "480", "--height", "832", "--frames", "17", "--comfyui", fake.url, "--json",
                           cwd=tmp_path, env=BOTH)
        assert run.code == 0, run.err
        (name,) = fake.input_files
        (accepted,) = fake.accepted
        with Image.open(fake.output_path(Path(name).name, "wanbot", "input")) as sent:
            assert sent.size == (480, 832)  # fitted to the request's frame
    assert name.startswith("wanbot/generate-") and name.endswith(".png")
    classes = {node["class_type"] for node in accepted.prompt.values()}
    assert "WanVideoImageToVideoEncode" in classes  # the configured i2v template, not wan-wrapper
    assert accepted.prompt["4"]["inputs"]["image"] == name
    summary = json.loads(run.out.strip().splitlines()[-1])
    colour = await asyncio.to_thread(first_frame_colour, tmp_path / summary["output"])
    assert all(abs(a - b) <= 8 for a, b in zip(colour, GOLD)), colour


async def test_workflow_names_the_image_to_video_template(tmp_path: Path) -> None:
    write_picture(tmp_path / "p.webp", "WEBP")
    async with FakeComfyUI(steps=2, step_seconds=0.001) as fake:
        run = await wanbot("generate", "p", "--image", "p.webp", "--workflow", "wan-native-i2v", "--frames", "5",
                           "--comfyui", fake.url, cwd=tmp_path)
        assert run.code == 0, run.err
        (accepted,) = fake.accepted
    assert {n["class_type"] for n in accepted.prompt.values()} >= {"WanImageToVideo", "CLIPVisionEncode"}


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--image", "p.png"], {"WANBOT_WORKFLOW": "wan-wrapper,wan-native"},
         "wanbot: --image needs an image-to-video template and WANBOT_WORKFLOW has none: give --workflow "
         "wan-wrapper-i2v (or wan-native-i2v), or add one to WANBOT_WORKFLOW"),
        (["--image", "p.png", "--workflow", "wan-native"], BOTH,
         "wanbot: template 'wan-native' is text-to-video and cannot use --image; give --workflow an image-to-video "
         "template (wan-wrapper-i2v, wan-native-i2v)"),
        (["--workflow", "wan-native-i2v"], BOTH,
         "wanbot: template 'wan-native-i2v' starts from a picture: give --image PATH (PNG, JPEG or WebP)"),
        ([], {"WANBOT_WORKFLOW": "wan-native-i2v"},
         "wanbot: every template in WANBOT_WORKFLOW starts from a picture: give --image PATH, or --workflow a "
         "text-to-video template"),
        (["--image", "missing.png"], BOTH, "wanbot: cannot read --image missing.png: no such file"),
        (["--image", "."], BOTH, "wanbot: cannot read --image .: it is a folder"),
        (["--image", "notes.txt"], BOTH,
         "wanbot: --image notes.txt: The file is not a picture I can read. Send a PNG, JPEG or WebP image."),
        (["--image", "anim.gif"], BOTH,
         "wanbot: --image anim.gif: The picture is a GIF file; send a PNG, JPEG or WebP image instead."),
        (["--image", "huge.png"], BOTH,
         "wanbot: --image huge.png: The picture is 5000×100 pixels; at most 4096 on a side. Scale it down and "
         "send it again."),
    ],
)
async def test_what_cannot_work_is_refused_before_anything_is_sent(tmp_path: Path, args: list[str],
                                                                   env: dict[str, str], expected: str) -> None:
    write_picture(tmp_path / "p.png")
    write_picture(tmp_path / "anim.gif", "GIF")
    write_picture(tmp_path / "huge.png", size=(5000, 100))
    (tmp_path / "notes.txt").write_text("not a picture")
    async with FakeComfyUI() as fake:
        run = await wanbot("generate", "a prompt", *args, "--comfyui", fake.url, cwd=tmp_path, env=env)
        assert fake.requests == []
    assert run.code == 2
    assert run.err.strip() == expected and run.out == ""


async def test_help_mentions_the_option(tmp_path: Path) -> None:
    run = await wanbot("generate", "--help", cwd=tmp_path, env=BOTH)
    assert run.code == 0
    assert "--image PATH" in run.out and "image-to-video" in run.out
