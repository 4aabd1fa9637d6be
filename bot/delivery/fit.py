"""Make an MP4 fit an upload limit by re-encoding it with ffmpeg (from the imageio-ffmpeg wheel).

Strategy: a file under the limit is left alone. Otherwise compute the bitrate that fills ~95%
of the limit over the clip's duration and two-pass encode H.264 at that rate, keeping the
resolution while there are enough bits per pixel for a watchable picture and stepping the
resolution down when there are not. If even the smallest step is below the watchable floor,
`CannotFit` says so rather than posting mush. ffmpeg always runs as a subprocess: never on
the event loop.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["VideoInfo", "FitResult", "CannotFit", "probe", "fit_to_limit", "ffmpeg_exe"]

# Below ~0.03 bits per pixel per frame H.264 at these sizes turns to blocks; measured by eye on
# Wan-like motion. Container overhead is why we aim at 95% of the limit, not 100%.
MIN_BITS_PER_PIXEL = 0.03
FILL = 0.95
SCALES = (1.0, 0.75, 0.5, 0.375)
MAX_ATTEMPTS = 3

_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_STREAM = re.compile(r"Video: .*?, (\d{2,5})x(\d{2,5})[ ,\[].*?(\d+(?:\.\d+)?) fps")


class CannotFit(Exception):
    """The clip cannot get under the limit at a watchable quality."""

    def __init__(self, size: int, limit: int, needed_kbps: float) -> None:
        super().__init__(f"a {size}-byte video cannot fit {limit} bytes watchably ({needed_kbps:.0f} kb/s)")
        self.size, self.limit, self.needed_kbps = size, limit, needed_kbps


@dataclass(frozen=True)
class VideoInfo:
    duration: float
    width: int
    height: int
    fps: float


@dataclass(frozen=True)
class FitResult:
    path: Path
    bytes: int
    reencoded: bool
    width: int
    height: int


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


async def _run(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        ffmpeg_exe(), "-hide_banner", "-nostdin", *args,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    return proc.returncode or 0, err.decode("utf-8", "replace")


async def probe(path: Path) -> VideoInfo:
    """Duration, size and frame rate from ffmpeg's own description of the file."""
    _, text = await _run("-i", str(path))
    duration = _DURATION.search(text)
    stream = _STREAM.search(text)
    if not duration or not stream:
        raise ValueError(f"{path.name} is not a readable video")
    h, m, s = duration.groups()
    return VideoInfo(int(h) * 3600 + int(m) * 60 + float(s), int(stream[1]), int(stream[2]), float(stream[3]))


def _even(value: float) -> int:
    return max(16, int(value) // 2 * 2)


async def _encode(src: Path, dest: Path, kbps: int, width: int, height: int, workdir: Path) -> int:
    log = str(workdir / "pass")
    common = ["-i", str(src), "-an", "-c:v", "libx264", "-preset", "medium", "-b:v", f"{kbps}k",
              "-vf", f"scale={width}:{height}:flags=lanczos", "-pix_fmt", "yuv420p", "-passlogfile", log]
    code, err = await _run("-y", *common, "-pass", "1", "-f", "null", "-")
    if code == 0:
        code, err = await _run("-y", *common, "-pass", "2", "-movflags", "+faststart", str(dest))
    if code != 0:
        raise RuntimeError(f"ffmpeg failed: {err.strip().splitlines()[-1] if err.strip() else code}")
    return dest.stat().st_size


async def fit_to_limit(src: Path, dest: Path, limit: int) -> FitResult:
    """Write a version of `src` no larger than `limit` bytes to `dest` (a copy if it fits)."""
    size = src.stat().st_size
    info = await probe(src)
    if size <= limit:
        await asyncio.to_thread(shutil.copyfile, src, dest)
        return FitResult(dest, size, False, info.width, info.height)
    budget_kbps = limit * 8 * FILL / max(info.duration, 0.1) / 1000
    for scale in SCALES:
        width, height = _even(info.width * scale), _even(info.height * scale)
        floor_kbps = MIN_BITS_PER_PIXEL * width * height * info.fps / 1000
        if budget_kbps < floor_kbps:
            continue
        return await _encode_under(src, dest, limit, budget_kbps, width, height)
    raise CannotFit(size, limit, budget_kbps)


async def _encode_under(src: Path, dest: Path, limit: int, kbps: float, width: int, height: int) -> FitResult:
    with tempfile.TemporaryDirectory(prefix="wanbot-fit-") as tmp:
        for _ in range(MAX_ATTEMPTS):
            out = await _encode(src, dest, int(kbps), width, height, Path(tmp))
            if out <= limit:
                return FitResult(dest, out, True, width, height)
            kbps *= limit * FILL / out  # rate control overshot: aim lower by the same ratio
    raise CannotFit(src.stat().st_size, limit, kbps)
