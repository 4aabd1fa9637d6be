"""A member's start picture: every way it can be wrong is refused in both languages, and a good
one is fitted to the clip's frame (centre-cropped to the chosen aspect, upright, on white)."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from typing import Any

import pytest
from PIL import Image

from bot.workflows import RequestInvalid
from bot.workflows.start_image import (
    MAX_IMAGE_BYTES,
    MAX_IMAGE_SIDE,
    check_declared_size,
    fit_start_image,
    thumbnail_jpeg,
)


def encoded(picture: Image.Image, fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    picture.save(out, fmt, **options)
    return out.getvalue()


def solid(size: tuple[int, int] = (320, 240), colour: tuple[int, ...] = (200, 40, 30), mode: str = "RGB") -> Image.Image:
    return Image.new(mode, size, colour)


def animated(fmt: str) -> bytes:
    frames = [solid(colour=(0, 0, 0)), solid(colour=(255, 255, 255)), solid(colour=(0, 255, 0))]
    return encoded(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def refused(data: bytes, width: int = 832, height: int = 480) -> RequestInvalid:
    with pytest.raises(RequestInvalid) as caught:
        fit_start_image(data, width, height)
    (problem,) = caught.value.problems
    assert problem.field == "image"
    return caught.value


def both(error: RequestInvalid) -> tuple[str, str]:
    return error.render("en-US"), error.render("zh-CN")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_png_jpeg_and_webp_are_fitted_to_the_frame(fmt: str) -> None:
    fitted = fit_start_image(encoded(solid(), fmt), 832, 480)
    assert (fitted.width, fitted.height) == (832, 480)
    assert fitted.source_format == {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP"}[fmt]
    assert fitted.source_size == (320, 240)
    assert fitted.sha256 == hashlib.sha256(fitted.png).hexdigest()
    with Image.open(io.BytesIO(fitted.png)) as out:
        assert out.format == "PNG" and out.size == (832, 480) and out.mode == "RGB"
        assert _close(out.getpixel((416, 240)), (200, 40, 30))


@pytest.mark.parametrize(("width", "height"), [(832, 480), (480, 832), (624, 624)])
def test_the_picture_is_scaled_to_cover_and_centre_cropped(width: int, height: int) -> None:
    """A square picture with a red left third, green middle and blue right third, a white top
    band and a black bottom band: what survives the crop shows which parts were kept."""
    picture = Image.new("RGB", (900, 900), (0, 255, 0))
    picture.paste((255, 0, 0), (0, 0, 300, 900))
    picture.paste((0, 0, 255), (600, 0, 900, 900))
    picture.paste((255, 255, 255), (0, 0, 900, 100))
    picture.paste((0, 0, 0), (0, 800, 900, 900))
    with Image.open(io.BytesIO(fit_start_image(encoded(picture, "PNG"), width, height).png)) as out:
        assert out.size == (width, height)
        middle = out.getpixel((width // 2, height // 2))
        assert _close(middle, (0, 255, 0))
        red_at_30_percent = _close(out.getpixel((int(width * 0.3), height // 2)), (255, 0, 0))
        white_top = _close(out.getpixel((width // 2, 2)), (255, 255, 255))
        if width > height:  # landscape: the full width stays, the top and bottom bands are cut
            assert red_at_30_percent and not white_top
        elif height > width:  # portrait: the sides are cut (less red), the bands stay
            assert not red_at_30_percent and white_top
            assert _close(out.getpixel((width // 2, height - 3)), (0, 0, 0))
        assert _close(out.getpixel((5, height // 2)), (255, 0, 0))  # centred: both sides kept alike
        assert _close(out.getpixel((width - 5, height // 2)), (0, 0, 255))


def test_a_phone_photo_is_turned_upright() -> None:
    """EXIF orientation 6 (rotate 90° clockwise to view): a 400×200 sensor image is a 200×400 photo."""
    sensor = Image.new("RGB", (400, 200), (0, 0, 255))
    sensor.paste((255, 0, 0), (0, 0, 200, 200))  # the left half as stored, the top once upright
    exif = Image.Exif()
    exif[0x0112] = 6
    fitted = fit_start_image(encoded(sensor, "JPEG", exif=exif.tobytes(), quality=95), 480, 832)
    assert fitted.source_size == (200, 400)
    with Image.open(io.BytesIO(fitted.png)) as out:
        assert _close(out.getpixel((240, 100)), (255, 0, 0))
        assert _close(out.getpixel((240, 730)), (0, 0, 255))


def test_transparency_is_flattened_onto_white() -> None:
    cut_out = solid(colour=(0, 0, 0, 0), mode="RGBA")
    cut_out.paste((10, 120, 10, 255), (140, 100, 180, 140))
    with Image.open(io.BytesIO(fit_start_image(encoded(cut_out, "PNG"), 624, 624).png)) as out:
        assert _close(out.getpixel((5, 5)), (255, 255, 255))
        assert _close(out.getpixel((312, 312)), (10, 120, 10))


def test_the_same_picture_gets_the_same_name() -> None:
    data = encoded(solid(), "PNG")
    assert fit_start_image(data, 832, 480).sha256 == fit_start_image(data, 832, 480).sha256
    assert fit_start_image(data, 832, 480).sha256 != fit_start_image(data, 480, 832).sha256


# --- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "shown"), [("GIF", "GIF"), ("BMP", "BMP"), ("TIFF", "TIFF")])
def test_other_formats_are_refused_by_their_content(fmt: str, shown: str) -> None:
    en, zh = both(refused(encoded(solid(), fmt)))
    assert en == f"The picture is a {shown} file; send a PNG, JPEG or WebP image instead."
    assert zh == f"图片是 {shown} 格式；请改用 PNG、JPEG 或 WebP 图片。"


@pytest.mark.parametrize("data", [b"hello, this is text", b"", b"\x00" * 4000, b"%PDF-1.7\n" + b"x" * 100])
def test_something_that_is_not_a_picture_is_refused(data: bytes) -> None:
    en, zh = both(refused(data))
    assert en == "The file is not a picture I can read. Send a PNG, JPEG or WebP image."
    assert zh == "这个文件不是我能读取的图片。请发送 PNG、JPEG 或 WebP 图片。"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_a_picture_cut_short_is_refused_not_half_used(fmt: str) -> None:
    noise = Image.effect_noise((600, 400), 80).convert("RGB")  # no flat area to compress away
    data = encoded(noise, fmt)
    en, zh = both(refused(data[: len(data) // 2]))
    assert en == "The picture could not be decoded (the file is damaged or cut short). Send it again."
    assert zh == "图片无法解码（文件损坏或不完整）。请重新发送。"


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_an_animated_picture_is_refused(fmt: str) -> None:
    en, zh = both(refused(animated(fmt)))
    assert en == "The picture is animated (3 frames); send a still picture: the video starts from one frame."
    assert zh == "图片是动图（3 帧）；请发送静态图片：视频从一帧画面开始。"


@pytest.mark.parametrize("size", [(MAX_IMAGE_SIDE + 1, 16), (16, MAX_IMAGE_SIDE + 1)])
def test_more_than_4096_pixels_on_a_side_is_refused(size: tuple[int, int]) -> None:
    en, zh = both(refused(encoded(solid(size), "PNG")))
    width, height = size
    assert en == f"The picture is {width}×{height} pixels; at most 4096 on a side. Scale it down and send it again."
    assert zh == f"图片为 {width}×{height} 像素；每边最多 4096 像素。请缩小后重新发送。"


def test_the_side_is_read_from_the_header_before_the_pixels_are_decoded() -> None:
    en, _ = both(refused(_png_header_only(8000, 6000)))  # 48 MP: under Pillow's own bomb limit
    assert en.startswith("The picture is 8000×6000 pixels; at most 4096 on a side.")


def test_exactly_4096_on_a_side_is_accepted() -> None:
    assert fit_start_image(encoded(solid((MAX_IMAGE_SIDE, 64)), "PNG"), 832, 480).source_size == (4096, 64)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares its size and holds no pixels: what a decompression bomb starts with."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_before_it_is_inflated() -> None:
    # 30000×30000 RGB would take 2.7 GB decoded; Pillow itself refuses it when opening.
    en, zh = both(refused(_png_header_only(30000, 30000)))
    assert en == "The picture is far larger than 4096 pixels on a side. Scale it down and send it again."
    assert zh == "图片远大于每边 4096 像素的上限。请缩小后重新发送。"


def test_more_than_10_mb_is_refused_by_size_before_anything_else() -> None:
    too_big = b"\x89PNG\r\n\x1a\n" + b"\x00" * MAX_IMAGE_BYTES
    en, zh = both(refused(too_big))
    assert en == "The picture is 10.0 MB; the limit is 10.0 MB. Send a smaller file (a JPEG, or a smaller size)."
    assert zh.startswith("图片有 10.0 MB，上限是 10.0 MB。")


def test_the_declared_size_is_checked_before_downloading() -> None:
    check_declared_size(MAX_IMAGE_BYTES)  # the limit itself is fine
    with pytest.raises(RequestInvalid) as caught:
        check_declared_size(25 << 20)
    assert caught.value.render("en") == (
        "The picture is 25.0 MB; the limit is 10.0 MB. Send a smaller file (a JPEG, or a smaller size).")
    assert caught.value.render("zh-CN") == "图片有 25.0 MB，上限是 10.0 MB。请发送更小的文件（例如 JPEG，或缩小尺寸）。"


def test_a_frame_that_breaks_the_model_rule_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="multiple of 16"):
        fit_start_image(encoded(solid(), "PNG"), 830, 480)


def test_the_thumbnail_is_small() -> None:
    fitted = fit_start_image(encoded(solid((1600, 900)), "JPEG"), 832, 480)
    with Image.open(io.BytesIO(thumbnail_jpeg(fitted.png))) as thumb:
        assert thumb.format == "JPEG" and max(thumb.size) == 160 and thumb.size == (160, 92)


def _close(pixel: Any, expected: tuple[int, int, int], tolerance: int = 12) -> bool:
    return all(abs(int(a) - b) <= tolerance for a, b in zip(pixel[:3], expected))
