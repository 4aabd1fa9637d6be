"""ffmpeg (the static binary in the imageio-ffmpeg wheel) as a child that never outlives its caller.

Owns every start of ffmpeg in the bot:
- `run_ffmpeg`: one process under a deadline. On timeout or cancellation (a cancelled job, a
  shutdown) it is killed, with any children in its process group, and reaped before the
  exception goes on: no ffmpeg keeps burning CPU for a job nobody waits for.
- `probe`: duration, size and frame rate, read through imageio-ffmpeg's reader (the
  metadata `read_frames` yields before any frame) in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imageio_ffmpeg

__all__ = ["FfmpegFailed", "FfmpegTimedOut", "VideoInfo", "ffmpeg_exe", "probe", "run_ffmpeg"]

# imageio-ffmpeg's reader gives ffmpeg 10 s to describe a file and stops it within 1.5 s of
# being closed (killing it if need be); our wait ends a little after the reader's own bound.
PROBE_TIMEOUT = 15.0


class FfmpegFailed(RuntimeError):
    """ffmpeg exited with an error (the message is its last line of output)."""


class FfmpegTimedOut(FfmpegFailed):
    """ffmpeg ran past its deadline and was killed."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what} took longer than {seconds:.1f} s and was stopped")
        self.seconds = seconds


@dataclass(frozen=True)
class VideoInfo:
    duration: float
    width: int
    height: int
    fps: float


def ffmpeg_exe() -> str:
    """The ffmpeg imageio-ffmpeg picks: $IMAGEIO_FFMPEG_EXE if set, else the one in its wheel."""
    return imageio_ffmpeg.get_ffmpeg_exe()


async def run_ffmpeg(args: Sequence[str], *, timeout: float, what: str = "ffmpeg") -> None:
    """Run ffmpeg with `args`; raises FfmpegFailed on an error exit, FfmpegTimedOut (after
    killing it) past `timeout` seconds. Cancelling the caller kills it too."""
    proc = await asyncio.create_subprocess_exec(
        ffmpeg_exe(), "-hide_banner", "-nostdin", *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group: a kill reaches any wrapper's children too
    )
    try:
        async with asyncio.timeout(timeout):
            _, err = await proc.communicate()
    except TimeoutError:
        raise FfmpegTimedOut(what, timeout) from None
    finally:
        if proc.returncode is None:
            await _kill(proc)
    if proc.returncode != 0:
        lines = err.decode("utf-8", "replace").strip().splitlines()
        raise FfmpegFailed(f"{what} failed: {lines[-1] if lines else f'exit code {proc.returncode}'}")


async def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    # Shielded: a second cancellation must not leave a zombie behind; SIGKILL ends it at once.
    await asyncio.shield(proc.wait())


async def probe(path: Path, *, timeout: float = PROBE_TIMEOUT) -> VideoInfo:
    """Duration, size and frame rate of `path`; ValueError if it is not a readable video.

    The reader blocks, so it runs in a worker thread. Its ffmpeg is bounded by the reader
    itself (see PROBE_TIMEOUT), which our thread closes the moment the metadata arrives: a
    caller that gives up or is cancelled stops waiting at once, and that ffmpeg still ends
    within those bounds."""
    try:
        async with asyncio.timeout(timeout):
            meta = await asyncio.to_thread(_read_metadata, path)
    except TimeoutError:
        raise FfmpegTimedOut(f"reading {path.name}", timeout) from None
    width, height = meta.get("size") or (0, 0)
    duration, fps = float(meta.get("duration") or 0), float(meta.get("fps") or 0)
    if min(width, height, duration, fps) <= 0:
        raise ValueError(f"{path.name} is not a readable video (no size, duration or frame rate)")
    return VideoInfo(duration, int(width), int(height), fps)


def _read_metadata(path: Path) -> dict[str, Any]:
    frames = imageio_ffmpeg.read_frames(str(path))
    try:
        return dict(next(frames))
    except (OSError, RuntimeError, LookupError, ValueError, AttributeError, StopIteration) as exc:
        # OSError: no description within the reader's bound or no such file; the others: a
        # description its parser cannot read (no video stream, say).
        raise ValueError(f"{path.name} is not a readable video") from exc
    finally:
        frames.close()  # the description is all we want: stop ffmpeg before it decodes on
