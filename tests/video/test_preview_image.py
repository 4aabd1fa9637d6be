"""What a card's preview becomes: whatever ComfyUI sent, re-encoded small (at most 512 px on a
side, under 200 KB, no metadata), a loop of the last 8 frames when animated, and a frame that
does not decode dropped without losing the last good picture."""

from __future__ import annotations

import io
import logging
import random

import pytest
from PIL import Image

from bot.comfy.previews import Preview
from cogs.video._preview import ANIMATED_FRAMES, MAX_BYTES, MAX_SIDE, PreviewReel


def _frame(size: tuple[int, int], colour: tuple[int, int, int], fmt: str = "PNG", *, noise: bool = False,
           at: float = 0.0) -> Preview:
    image = Image.new("RGB", size, colour)
    if noise:  # incompressible: the worst case for the size cap
        image = Image.frombytes("RGB", size, random.Random(1).randbytes(size[0] * size[1] * 3))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return Preview(out.getvalue(), f"image/{fmt.lower()}", "p", "6", at)


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def test_a_still_is_a_small_jpeg_of_the_newest_frame() -> None:
    reel = PreviewReel(animated=False)
    reel.add(_frame((1664, 960), (200, 30, 30)))
    reel.add(_frame((1664, 960), (30, 200, 30)))
    image, version = await reel.image()
    assert image is not None and image.filename == "preview.jpg" and version == 2
    picture = _open(image.data)
    assert picture.format == "JPEG" and picture.size == (MAX_SIDE, 295)
    assert picture.getpixel((5, 5))[1] > 150  # the green one: the newest


async def test_noise_still_fits_under_the_cap() -> None:
    reel = PreviewReel(animated=True)
    for _ in range(ANIMATED_FRAMES):
        reel.add(_frame((512, 512), (0, 0, 0), noise=True))
    image, _ = await reel.image()
    assert image is not None and len(image.data) <= MAX_BYTES


async def test_animated_loops_the_last_eight_frames() -> None:
    reel = PreviewReel(animated=True)
    for step in range(11):
        reel.add(_frame((832, 480), (step * 20, 100, 100), "JPEG"))
    image, version = await reel.image()
    assert image is not None and image.filename == "preview.webp" and version == 11
    picture = Image.open(io.BytesIO(image.data))
    assert picture.is_animated and picture.n_frames == ANIMATED_FRAMES and picture.info["loop"] == 0
    assert max(picture.size) <= MAX_SIDE and len(image.data) <= MAX_BYTES
    picture.seek(0)
    assert abs(picture.convert("RGB").getpixel((5, 5))[0] - 60) <= 12  # frames 4..11: the oldest kept is step 3


async def test_one_frame_animated_is_a_still() -> None:
    reel = PreviewReel(animated=True)
    reel.add(_frame((100, 60), (10, 10, 10)))
    image, _ = await reel.image()
    assert image is not None and image.filename == "preview.jpg"


@pytest.mark.parametrize("data", [b"\xff\xd8\xff\xe0" + b"\x00" * 40, b"\x89PNG\r\n\x1a\n" + b"garbage"])
async def test_a_frame_that_does_not_decode_keeps_the_last_good_picture(data: bytes,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    reel = PreviewReel(animated=False)
    reel.add(_frame((64, 64), (0, 0, 200)))
    good, _ = await reel.image()
    for _ in range(3):
        reel.add(Preview(data, "image/jpeg", "p", "6", 0.0))
        image, _ = await reel.image()
        assert image == good
    assert sum("does not decode" in r.getMessage() for r in caplog.records) == 1


async def test_nothing_to_show_until_a_frame_decodes() -> None:
    reel = PreviewReel(animated=False)
    assert await reel.image() == (None, 0)
    reel.add(Preview(b"\xff\xd8\xffjunk", "image/jpeg", "p", "6", 0.0))
    image, _ = await reel.image()
    assert image is None


async def test_shown_tells_when_the_newest_frame_on_the_card_arrived() -> None:
    reel = PreviewReel(animated=False)
    assert not reel.has_frames
    reel.add(_frame((8, 8), (1, 2, 3), at=10.0))
    reel.add(_frame((8, 8), (1, 2, 3), at=11.0))
    _, version = await reel.image()
    reel.add(_frame((8, 8), (1, 2, 3), at=12.0))  # came while the edit was on its way
    assert reel.shown(version) == 11.0
    assert reel.shown(version) is None  # nothing new on the card
    assert reel.shown(version + 1) == 12.0


async def test_a_giant_frame_is_refused_before_decoding() -> None:
    reel = PreviewReel(animated=False)
    header = Image.new("1", (20_000, 20_000))
    out = io.BytesIO()
    header.save(out, format="PNG")
    reel.add(Preview(out.getvalue(), "image/png", "p", "6", 0.0))
    assert (await reel.image())[0] is None
