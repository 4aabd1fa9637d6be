"""A member's start picture for image-to-video: checked, then fitted to the clip's frame.

Pure functions of bytes (no I/O, no Discord), shared by `/video`, `wanbot generate` and the
tests. Decoding is CPU work: callers run `fit_start_image` and `thumbnail_jpeg` in a thread.

What is accepted, decided by decoding the bytes with Pillow, never by a file name or a
declared content type:
- PNG, JPEG or WebP (a JPEG with extra pictures, Pillow's "MPO", is a JPEG: its first one);
- at most `MAX_IMAGE_BYTES` (10 MB), checked on the size an upload declares before it is
  downloaded (`check_declared_size`) and again on the bytes;
- at most `MAX_IMAGE_SIDE` (4096) pixels on a side, read from the header before the pixels
  are decoded, so a decompression bomb is refused without being inflated;
- a still picture: an animated PNG or WebP is refused (the clip starts from one frame);
- the whole file decodes (a truncated download is refused, not half-used).
Everything wrong is raised as `RequestInvalid` with one `Problem` for the field "image",
rendered in English or Chinese.

Fitting: the picture is turned upright (EXIF orientation, as phones save it), flattened onto
white where it is transparent, scaled to cover the clip's frame and centre-cropped to it, so
it has the exact width and height of the request (multiples of 16, the model's rule) and
the aspect the member chose. The result is a PNG, named by its SHA-256.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Final

from PIL import Image, ImageOps, UnidentifiedImageError

from bot.i18n import Message
from bot.workflows.params import IMAGE_PARAM, SIZE_MULTIPLE
from bot.workflows.request import Problem, RequestInvalid

__all__ = [
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_SIDE",
    "FittedImage",
    "check_declared_size",
    "fit_start_image",
    "thumbnail_jpeg",
]

MAX_IMAGE_BYTES: Final = 10 << 20
MAX_IMAGE_SIDE: Final = 4096
THUMBNAIL_SIDE: Final = 160

# Pillow's format name -> how a person calls it. MPO is how Pillow opens a JPEG that carries a
# second picture (many phone cameras): it is a JPEG, and its first picture is the photo.
_ACCEPTED: Final = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "WEBP": "WebP"}

TOO_BIG: Final = Message(
    en="The picture is {size} MB; the limit is {limit} MB. Send a smaller file (a JPEG, or a smaller size).",
    zh="图片有 {size} MB，上限是 {limit} MB。请发送更小的文件（例如 JPEG，或缩小尺寸）。",
)
NOT_AN_IMAGE: Final = Message(
    en="The file is not a picture I can read. Send a PNG, JPEG or WebP image.",
    zh="这个文件不是我能读取的图片。请发送 PNG、JPEG 或 WebP 图片。",
)
WRONG_FORMAT: Final = Message(
    en="The picture is a {format} file; send a PNG, JPEG or WebP image instead.",
    zh="图片是 {format} 格式；请改用 PNG、JPEG 或 WebP 图片。",
)
TOO_MANY_PIXELS: Final = Message(
    en="The picture is {width}×{height} pixels; at most {limit} on a side. Scale it down and send it again.",
    zh="图片为 {width}×{height} 像素；每边最多 {limit} 像素。请缩小后重新发送。",
)
FAR_TOO_MANY_PIXELS: Final = Message(
    en="The picture is far larger than {limit} pixels on a side. Scale it down and send it again.",
    zh="图片远大于每边 {limit} 像素的上限。请缩小后重新发送。",
)
ANIMATED: Final = Message(
    en="The picture is animated ({frames} frames); send a still picture: the video starts from one frame.",
    zh="图片是动图（{frames} 帧）；请发送静态图片：视频从一帧画面开始。",
)
DAMAGED: Final = Message(
    en="The picture could not be decoded (the file is damaged or cut short). Send it again.",
    zh="图片无法解码（文件损坏或不完整）。请重新发送。",
)


@dataclass(frozen=True)
class FittedImage:
    """The start picture as the template needs it: a PNG of exactly `width` × `height`."""

    png: bytes
    sha256: str  # of `png`: names the picture wherever it is kept
    width: int
    height: int
    source_format: str  # "PNG", "JPEG" or "WebP"
    source_size: tuple[int, int]  # upright, before fitting


def _refuse(message: Message, **values: object) -> RequestInvalid:
    return RequestInvalid([Problem(IMAGE_PARAM, message, values)])


def _mb(size: int) -> str:
    return f"{size / (1 << 20):.1f}"


def check_declared_size(size: int) -> None:
    """Refuse an upload by the size it declares, before downloading it. Raises RequestInvalid."""
    if size > MAX_IMAGE_BYTES:
        raise _refuse(TOO_BIG, size=_mb(size), limit=_mb(MAX_IMAGE_BYTES))


def fit_start_image(data: bytes, width: int, height: int) -> FittedImage:
    """Check `data` (see the module's rules) and fit it to `width` × `height`.

    Raises RequestInvalid for a picture a member sent wrong, ValueError for a frame size that
    breaks the model's rule (a caller's bug: requests are validated before this)."""
    if width % SIZE_MULTIPLE or height % SIZE_MULTIPLE or width <= 0 or height <= 0:
        raise ValueError(f"the frame must be a positive multiple of {SIZE_MULTIPLE}, not {width}x{height}")
    check_declared_size(len(data))
    picture, source_format = _decoded(data)
    upright = ImageOps.exif_transpose(picture)
    fitted = ImageOps.fit(_flattened(upright), (width, height), method=Image.Resampling.LANCZOS,
                          centering=(0.5, 0.5))
    out = io.BytesIO()
    fitted.save(out, "PNG", compress_level=6)
    png = out.getvalue()
    return FittedImage(png, hashlib.sha256(png).hexdigest(), width, height, source_format, upright.size)


def _decoded(data: bytes) -> tuple[Image.Image, str]:
    """The fully decoded first frame and its format's name; every refusal as RequestInvalid."""
    try:
        picture = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise _refuse(NOT_AN_IMAGE) from None
    except Image.DecompressionBombError:
        raise _refuse(FAR_TOO_MANY_PIXELS, limit=MAX_IMAGE_SIDE) from None
    except (OSError, SyntaxError, ValueError):
        raise _refuse(DAMAGED) from None
    source_format = _ACCEPTED.get(picture.format or "")
    if source_format is None:
        raise _refuse(WRONG_FORMAT, format=picture.format or "?")
    width, height = picture.size
    if max(width, height) > MAX_IMAGE_SIDE:
        raise _refuse(TOO_MANY_PIXELS, width=width, height=height, limit=MAX_IMAGE_SIDE)
    frames = getattr(picture, "n_frames", 1)
    if picture.format != "MPO" and getattr(picture, "is_animated", False):
        raise _refuse(ANIMATED, frames=frames)
    try:
        picture.load()
    except (OSError, SyntaxError, ValueError):
        raise _refuse(DAMAGED) from None
    return picture, source_format


def _flattened(picture: Image.Image) -> Image.Image:
    """RGB; transparent parts on white (a cut-out on black would start the clip in the dark)."""
    if picture.mode in ("RGBA", "LA") or (picture.mode == "P" and "transparency" in picture.info):
        rgba = picture.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return picture.convert("RGB")


def thumbnail_jpeg(png: bytes, side: int = THUMBNAIL_SIDE) -> bytes:
    """A small JPEG of a fitted picture, at most `side` pixels on a side (status cards)."""
    with Image.open(io.BytesIO(png)) as picture:
        small = picture.convert("RGB")
        small.thumbnail((side, side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        small.save(out, "JPEG", quality=80)
    return out.getvalue()
