"""Reading a clip's duration, size and frame rate through imageio-ffmpeg's reader."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.delivery.ffmpeg import VideoInfo, probe
from tests.fakes.media import cached_mp4


@pytest.mark.parametrize(
    ("width", "height", "frames", "fps"),
    [(64, 64, 17, 16), (320, 192, 33, 16), (192, 320, 48, 24)],
)
async def test_reads_duration_size_and_rate_of_real_clips(width: int, height: int, frames: int, fps: int) -> None:
    clip = await asyncio.to_thread(cached_mp4, width=width, height=height, frames=frames, fps=fps)
    info = await probe(clip)
    assert (info.width, info.height, info.fps) == (width, height, fps)
    assert info.duration == pytest.approx(frames / fps, abs=0.07)


async def test_a_padded_clip_reads_like_the_frames_it_holds() -> None:
    clip = await asyncio.to_thread(cached_mp4, width=320, height=192, frames=16, fps=16, target_bytes=300_000)
    assert await probe(clip) == VideoInfo(1.0, 320, 192, 16.0)


@pytest.mark.parametrize("content", [b"", b"\0not a video" * 1000, b"ftypisom" + bytes(range(256)) * 64])
async def test_what_is_not_a_video_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="clip.mp4 is not a readable video"):
        await probe(path)


async def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a readable video"):
        await probe(tmp_path / "gone.mp4")


async def test_the_event_loop_keeps_running_while_probing() -> None:
    clip = await asyncio.to_thread(cached_mp4, width=320, height=192, frames=33, fps=16)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    try:
        await probe(clip)
    finally:
        ticker.cancel()
    assert ticks > 1  # the loop turned while the reader worked in its thread
