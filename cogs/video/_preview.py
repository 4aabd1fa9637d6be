"""The live preview a status card shows: the frames kept for one card and the small image made
from them for the next edit.

`still` shows the newest frame as a JPEG; `animated` keeps the last `ANIMATED_FRAMES` and shows
them as a small looping WebP, so members see motion form. Frames come from ComfyUI as they are
and are never shown as they came: Pillow decodes each once and it is re-encoded, shrunk to at
most `MAX_SIDE` pixels on the longest side and under `MAX_BYTES`, with no metadata. Decoding
and encoding run in a worker thread, never on the event loop. A frame Pillow cannot decode is
dropped (the card keeps what it showed) and logged once per job.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from bot.comfy.previews import Preview

__all__ = ["ANIMATED_FRAMES", "MAX_BYTES", "MAX_SIDE", "PreviewImage", "PreviewReel"]

log = logging.getLogger(__name__)

MAX_SIDE = 512
MAX_BYTES = 200_000
ANIMATED_FRAMES = 8
# Eight frames of a loop cost more than one still: a smaller side keeps the loop small and the
# encode quick (it runs at most once per upload, and uploads are budgeted).
_ANIMATED_SIDE = 320
_FRAME_MS = 250
_MAX_PIXELS = 4096 * 4096  # a "preview" bigger than this is not one: refuse before decoding
_QUALITIES = (80, 65, 50)


@dataclass(frozen=True)
class PreviewImage:
    """What goes on the card: the file's bytes and name (its extension tells Discord the type)."""

    data: bytes
    filename: str


class _Frame:
    """One frame as it arrived, and once decoded, its shrunk picture (None if it would not)."""

    def __init__(self, preview: Preview, version: int) -> None:
        self.preview = preview
        self.version = version
        self.decoded = False
        self.picture: Image.Image | None = None


class PreviewReel:
    """The frames of one card, and the image last made from them."""

    def __init__(self, *, animated: bool) -> None:
        self.animated = animated
        self._frames: deque[_Frame] = deque(maxlen=ANIMATED_FRAMES if animated else 1)
        self._arrivals: deque[tuple[int, float]] = deque()  # (version, received_at) of frames not yet shown
        self.version = 0  # bumps with every frame
        self._image: PreviewImage | None = None
        self._image_version = 0
        self._corrupt_logged = False

    @property
    def has_frames(self) -> bool:
        return bool(self._frames)

    def add(self, preview: Preview) -> None:
        self.version += 1
        self._frames.append(_Frame(preview, self.version))
        self._arrivals.append((self.version, preview.received_at))

    async def image(self) -> tuple[PreviewImage | None, int]:
        """The image to show now and the newest frame it holds (encoded off the loop when a frame
        came since the last one); (None, 0) while no frame could be decoded."""
        if self._image_version != self.version:
            frames, version = list(self._frames), self.version
            image, corrupt = await asyncio.to_thread(_render, frames, self.animated)
            if corrupt and not self._corrupt_logged:
                self._corrupt_logged = True
                log.warning("dropped a preview frame that does not decode: %s", corrupt)
            if image is not None:
                self._image = image
            self._image_version = version
        return self._image, self._image_version

    def shown(self, version: int) -> float | None:
        """The card now shows the frames up to `version`: when the newest of them arrived, or
        None if the card showed them all before (to measure how live the preview is)."""
        newest = None
        while self._arrivals and self._arrivals[0][0] <= version:
            _, newest = self._arrivals.popleft()
        return newest


def _render(frames: Sequence[_Frame], animated: bool) -> tuple[PreviewImage | None, str | None]:
    """(image, why a frame was dropped) for the frames, newest last. Runs in a worker thread."""
    corrupt = None
    for frame in frames:
        if not frame.decoded:
            frame.picture, problem = _decode(frame.preview.image)
            frame.decoded = True
            corrupt = corrupt or problem
    pictures = [f.picture for f in frames if f.picture is not None]
    if not pictures:
        return None, corrupt
    if animated and len(pictures) > 1:
        return _loop(pictures), corrupt
    return _still(pictures[-1]), corrupt


def _decode(data: bytes) -> tuple[Image.Image | None, str | None]:
    try:
        with Image.open(io.BytesIO(data)) as opened:
            width, height = opened.size
            if width * height > _MAX_PIXELS:
                return None, f"{width}x{height} is too large for a preview"
            opened.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG: decode at a fraction of the size
            picture = opened.convert("RGB")
    except Exception as exc:  # noqa: BLE001 - any failure to read untrusted bytes means a corrupt frame
        return None, f"{type(exc).__name__}: {exc}"[:200]
    picture.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.BILINEAR)
    return picture, None


def _still(picture: Image.Image) -> PreviewImage:
    for quality in _QUALITIES:
        out = io.BytesIO()
        picture.save(out, format="JPEG", quality=quality, optimize=True)
        if out.tell() <= MAX_BYTES:
            return PreviewImage(out.getvalue(), "preview.jpg")
    # A 512-pixel JPEG at quality 50 is far below the cap: only pure noise gets here.
    return _still(_scaled(picture, 0.5))


def _loop(pictures: Sequence[Image.Image]) -> PreviewImage:
    size = pictures[-1].size
    side = _ANIMATED_SIDE
    while True:
        scale = min(1.0, side / max(size))
        target = (max(1, round(size[0] * scale)), max(1, round(size[1] * scale)))
        frames = [p.resize(target, Image.Resampling.BILINEAR) for p in pictures]
        out = io.BytesIO()
        frames[0].save(out, format="WEBP", save_all=True, append_images=frames[1:], duration=_FRAME_MS, loop=0,
                       quality=60, method=2)
        if out.tell() <= MAX_BYTES or side <= 64:
            return PreviewImage(out.getvalue(), "preview.webp")
        side = side * 3 // 4


def _scaled(picture: Image.Image, factor: float) -> Image.Image:
    width, height = picture.size
    return picture.resize((max(1, int(width * factor)), max(1, int(height * factor))), Image.Resampling.BILINEAR)
