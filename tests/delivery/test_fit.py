"""Fitting a clip under an upload limit with the real ffmpeg from imageio-ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.delivery.ffmpeg import VideoInfo, ffmpeg_exe, probe
from bot.delivery.fit import CannotFit, Encoder, PassDeadline


@pytest.fixture(scope="module")
def noisy_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s of 320x192 noise at near-lossless quality: large for its size, like a bad case."""
    path = tmp_path_factory.mktemp("fit") / "noisy.mp4"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi",
                    "-i", "testsrc2=s=320x192:r=16,noise=alls=60:allf=t", "-t", "2", "-pix_fmt", "yuv420p",
                    "-c:v", "libx264", "-crf", "6", "-y", str(path)], check=True, timeout=60)
    return path


async def test_a_clip_under_the_limit_is_left_alone(noisy_clip: Path, tmp_path: Path) -> None:
    result = await Encoder().fit(noisy_clip, tmp_path / "out.mp4", noisy_clip.stat().st_size + 1)
    assert not result.reencoded
    assert (tmp_path / "out.mp4").read_bytes() == noisy_clip.read_bytes()


async def test_over_the_limit_is_reencoded_under_it_keeping_resolution(noisy_clip: Path, tmp_path: Path) -> None:
    limit = noisy_clip.stat().st_size // 4
    result = await Encoder().fit(noisy_clip, tmp_path / "out.mp4", limit)
    assert result.reencoded and result.bytes <= limit
    assert (result.width, result.height) == (320, 192)
    info = await probe(result.path)  # still a readable video of the same length
    assert info.duration == pytest.approx(2.0, abs=0.1)


async def test_tight_budget_steps_resolution_down(noisy_clip: Path, tmp_path: Path) -> None:
    # 2 s at 0.03 bpp: full size needs ~59 kb/s, half size ~15 kb/s. 7 KB gives ~27 kb/s.
    result = await Encoder().fit(noisy_clip, tmp_path / "out.mp4", 7_000)
    assert result.bytes <= 7_000
    assert result.width < 320 and result.height < 192


async def test_impossible_budget_is_refused_not_mush(noisy_clip: Path, tmp_path: Path) -> None:
    with pytest.raises(CannotFit) as info:
        await Encoder().fit(noisy_clip, tmp_path / "out.mp4", 1_000)
    assert info.value.limit == 1_000
    assert not (tmp_path / "out.mp4").exists()


async def test_a_file_that_is_not_a_video_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\0not a video" * 1000)
    with pytest.raises(ValueError, match="not a readable video"):
        await Encoder().fit(junk, tmp_path / "out.mp4", 100)


def test_the_deadline_grows_with_the_clip() -> None:
    deadline = PassDeadline()
    wan = VideoInfo(duration=81 / 16, width=832, height=480, fps=16)  # Wan2.1's 5 s clip
    assert deadline.seconds(wan) == pytest.approx(60 + 81 * 832 * 480 / 500_000)
    assert deadline.seconds(VideoInfo(10.0, 1280, 720, 24)) > deadline.seconds(wan)
    with pytest.raises(ValueError):
        Encoder(concurrency=0)
