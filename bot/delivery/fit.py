"""Make an MP4 fit an upload limit by re-encoding it with ffmpeg (from the imageio-ffmpeg wheel).

Strategy: a file under the limit is left alone. Otherwise compute the bitrate that fills ~95%
of the limit over the clip's duration and two-pass encode H.264 at that rate, keeping the
resolution while there are enough bits per pixel for a watchable picture and stepping the
resolution down when there are not. If even the smallest step is below the watchable floor,
`CannotFit` says so rather than posting mush.

An `Encoder` is one bot's re-encoding: at most `concurrency` fits at once (each is two CPU-bound
ffmpeg passes; the rest wait their turn), every pass under a deadline scaled to the clip
(`PassDeadline`), and ffmpeg killed when a fit is cancelled (`bot.delivery.ffmpeg`).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bot.delivery.ffmpeg import VideoInfo, probe, run_ffmpeg

__all__ = ["CannotFit", "Encoder", "FitResult", "PassDeadline"]

# Below ~0.03 bits per pixel per frame H.264 at these sizes turns to blocks; measured by eye on
# Wan-like motion. Container overhead is why we aim at 95% of the limit, not 100%.
MIN_BITS_PER_PIXEL = 0.03
FILL = 0.95
SCALES = (1.0, 0.75, 0.5, 0.375)
MAX_ATTEMPTS = 3


class CannotFit(Exception):
    """The clip cannot get under the limit at a watchable quality."""

    def __init__(self, size: int, limit: int, needed_kbps: float) -> None:
        super().__init__(f"a {size}-byte video cannot fit {limit} bytes watchably ({needed_kbps:.0f} kb/s)")
        self.size, self.limit, self.needed_kbps = size, limit, needed_kbps


@dataclass(frozen=True)
class FitResult:
    path: Path
    bytes: int
    reencoded: bool
    width: int
    height: int


@dataclass(frozen=True)
class PassDeadline:
    """How long one ffmpeg pass may run: `floor` seconds plus the clip's pixels (every frame
    at its source size) at `pixels_per_second`. A pass of libx264 "medium" on noise (the worst
    case) runs at 5-8 Mpx/s on this project's 2-core test machine (bench/reencode.py); half a
    megapixel a second leaves a tenfold margin for a busy or slower machine, so only a stuck
    ffmpeg reaches the deadline (a 5 s Wan clip at 832x480: about two minutes a pass)."""

    floor: float = 60.0
    pixels_per_second: float = 500_000.0

    def seconds(self, info: VideoInfo) -> float:
        frames = max(info.duration * info.fps, 1.0)
        return self.floor + frames * info.width * info.height / self.pixels_per_second


def _even(value: float) -> int:
    return max(16, int(value) // 2 * 2)


class Encoder:
    """Re-encodes for one bot (built once, from WANBOT_ENCODE_CONCURRENCY)."""

    def __init__(self, concurrency: int = 1, *, deadline: PassDeadline | None = None) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self.deadline = deadline or PassDeadline()
        self._turns = asyncio.Semaphore(concurrency)

    async def fit(self, src: Path, dest: Path, limit: int) -> FitResult:
        """Write a version of `src` no larger than `limit` bytes to `dest` (a copy if it fits).

        Raises CannotFit when no watchable encode fits, ValueError for a file that is not a
        video, FfmpegFailed when ffmpeg fails and FfmpegTimedOut when a pass overran its
        deadline."""
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
            async with self._turns:
                return await self._encode_under(src, dest, limit, budget_kbps, (width, height), info)
        raise CannotFit(size, limit, budget_kbps)

    async def _encode_under(self, src: Path, dest: Path, limit: int, kbps: float, size: tuple[int, int],
                            info: VideoInfo) -> FitResult:
        with tempfile.TemporaryDirectory(prefix="wanbot-fit-") as tmp:
            for _ in range(MAX_ATTEMPTS):
                out = await self._two_passes(src, dest, int(kbps), size, info, Path(tmp))
                if out <= limit:
                    return FitResult(dest, out, True, *size)
                kbps *= limit * FILL / out  # rate control overshot: aim lower by the same ratio
        raise CannotFit(src.stat().st_size, limit, kbps)

    async def _two_passes(self, src: Path, dest: Path, kbps: int, size: tuple[int, int], info: VideoInfo,
                          workdir: Path) -> int:
        width, height = size
        common = ["-y", "-i", str(src), "-an", "-c:v", "libx264", "-preset", "medium", "-b:v", f"{kbps}k",
                  "-vf", f"scale={width}:{height}:flags=lanczos", "-pix_fmt", "yuv420p",
                  "-passlogfile", str(workdir / "pass")]
        seconds = self.deadline.seconds(info)
        await run_ffmpeg([*common, "-pass", "1", "-f", "null", "-"], timeout=seconds, what="re-encoding (pass 1)")
        await run_ffmpeg([*common, "-pass", "2", "-movflags", "+faststart", str(dest)], timeout=seconds,
                         what="re-encoding (pass 2)")
        return dest.stat().st_size
