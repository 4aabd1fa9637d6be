"""Real, playable MP4 clips for tests, made with the ffmpeg binary that imageio-ffmpeg ships.

Owns: generating small H.264 clips (a moving test pattern) and big ones of a chosen size (for
download, re-encode and upload-limit tests), clips whose every frame is a given picture (what
the ComfyUI emulator renders for an image-to-video prompt), cached on disk so a test session
encodes each distinct clip once.

- `cached_mp4(**params)` returns the path of the cached clip (do not modify it).
- `make_mp4(path, **params)` puts a copy at `path` (blocking: call it from a thread or at
  collection time, never on a running event loop).
- `make_mp4_async(path, **params)` does the same from async code without blocking the loop.
- `image_clip(picture)` returns the cached clip made of `picture` (blocking).
- `first_frame_colour(video)` is the average colour of a clip's first frame (blocking).

`target_bytes` makes a clip of that size: the encoder is asked for ~70% of the matching bitrate
on a noisy source (noise does not compress; x264 overshoots on it, hence the headroom), and the
rest is filled with an MP4 `free` box, which every player skips, so the file stays valid however
small the frames are. Only if the encoder still overshoots is the file bigger than asked.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import imageio_ffmpeg

__all__ = ["cached_mp4", "ffmpeg_exe", "first_frame_colour", "image_clip", "make_mp4", "make_mp4_async"]

# Bump when the recipe changes so stale clips in the on-disk cache are not reused.
_RECIPE = "v2"
_BITRATE_HEADROOM = 0.7
_LOCK = threading.Lock()
_FREE_BOX_HEADER = 8


def ffmpeg_exe() -> str:
    """The static ffmpeg inside the imageio-ffmpeg wheel."""
    return imageio_ffmpeg.get_ffmpeg_exe()


def _cache_dir() -> Path:
    # Per-user directory in the system temp dir: survives across test processes (the emulator
    # also runs as a subprocess in crash tests) and never lands in the repository.
    path = Path(tempfile.gettempdir()) / f"wanbot-test-media-{os.getuid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _encode_args(width: int, height: int, frames: int, fps: int, target_bytes: int | None) -> list[str]:
    if target_bytes is None:
        source = f"testsrc2=size={width}x{height}:rate={fps}"
        quality = ["-crf", "28"]
    else:
        source = f"testsrc2=size={width}x{height}:rate={fps},noise=alls=80:allf=t+u"
        seconds = max(frames / fps, 1 / fps)
        # Aim under the target (x264 overshoots on noise); the free box makes up the rest.
        bitrate = int(target_bytes * 8 / seconds * _BITRATE_HEADROOM)
        quality = ["-b:v", str(bitrate), "-maxrate", str(bitrate), "-bufsize", str(2 * bitrate)]
    return [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", source,
        "-frames:v", str(frames),
        "-c:v", "libx264", "-preset", "ultrafast", *quality,
        "-pix_fmt", "yuv420p", "-movflags", "+faststart",
        "-f", "mp4",
    ]


def _pad_to(path: Path, target_bytes: int) -> None:
    """Append a top-level `free` box so the file reaches `target_bytes` and stays playable."""
    missing = target_bytes - path.stat().st_size
    if missing < _FREE_BOX_HEADER:
        return
    with path.open("ab") as f:
        f.write(struct.pack(">I4s", missing, b"free"))
        remaining = missing - _FREE_BOX_HEADER
        chunk = b"\0" * (1 << 20)
        while remaining > 0:
            f.write(chunk[: min(remaining, len(chunk))])
            remaining -= min(remaining, len(chunk))


def _encoded_once(name: str, args: list[str], finish: Callable[[Path], None] | None = None) -> Path:
    """Run ffmpeg `args` (the output file goes last) once per `name` into the cache, then
    `finish` on the result; atomic: a concurrent process never sees a half-written clip."""
    final = _cache_dir() / name
    with _LOCK:
        if final.exists():
            return final
        fd, tmp_name = tempfile.mkstemp(suffix=".mp4", dir=final.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            subprocess.run([*args, str(tmp)], check=True, capture_output=True, timeout=120)
            if finish is not None:
                finish(tmp)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
    return final


def image_clip(picture: Path, *, frames: int = 9, fps: int = 16, side: int = 256) -> Path:
    """Path of a cached H.264 clip whose every frame is `picture`, scaled to fit `side` pixels
    (even sides, as yuv420p needs). Blocking."""
    digest = hashlib.sha1(picture.read_bytes()).hexdigest()[:16]
    name = f"still-{_RECIPE}-{digest}-{frames}f-{fps}fps-{side}.mp4"
    scale = f"scale=w={side}:h={side}:force_original_aspect_ratio=decrease:force_divisible_by=2"
    args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-loop", "1", "-i", str(picture),
            "-frames:v", str(frames), "-r", str(fps), "-vf", scale, "-c:v", "libx264", "-preset", "ultrafast",
            "-crf", "18", "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-f", "mp4"]
    return _encoded_once(name, args)


def first_frame_colour(video: Path) -> tuple[int, int, int]:
    """The average RGB of the first frame of `video`, decoded by ffmpeg. Blocking."""
    run = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(video), "-frames:v", "1",
                          "-vf", "scale=1:1:flags=area", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         check=True, capture_output=True, timeout=60)
    red, green, blue = run.stdout[:3]
    return red, green, blue


def cached_mp4(
    *, width: int = 64, height: int = 64, frames: int = 17, fps: int = 16, target_bytes: int | None = None
) -> Path:
    """Path of a cached clip with these parameters, encoding it on first use. Blocking."""
    key = f"{_RECIPE}-{width}x{height}-{frames}f-{fps}fps-{target_bytes}"
    name = f"clip-{hashlib.sha1(key.encode()).hexdigest()[:16]}.mp4"
    def pad(path: Path) -> None:
        if target_bytes is not None:
            _pad_to(path, target_bytes)
    return _encoded_once(name, _encode_args(width, height, frames, fps, target_bytes), pad)


def make_mp4(
    path: str | os.PathLike[str],
    *,
    width: int = 64,
    height: int = 64,
    frames: int = 17,
    fps: int = 16,
    target_bytes: int | None = None,
) -> Path:
    """Write a playable H.264 MP4 at `path` (a copy of the cached clip) and return the path."""
    source = cached_mp4(width=width, height=height, frames=frames, fps=fps, target_bytes=target_bytes)
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    return dest


async def make_mp4_async(
    path: str | os.PathLike[str],
    *,
    width: int = 64,
    height: int = 64,
    frames: int = 17,
    fps: int = 16,
    target_bytes: int | None = None,
) -> Path:
    """`make_mp4` run in a worker thread so the event loop keeps serving."""
    return await asyncio.to_thread(
        make_mp4, path, width=width, height=height, frames=frames, fps=fps, target_bytes=target_bytes
    )
