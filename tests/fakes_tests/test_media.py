"""tests.fakes.media makes clips that ffmpeg itself decodes without complaint."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.fakes.media import cached_mp4, ffmpeg_exe, make_mp4, make_mp4_async


def decode_errors(path: Path) -> str:
    """ffmpeg's complaints while decoding every frame ('' for a clean, playable file)."""
    result = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "null", "-"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stderr


def frame_count(path: Path) -> int:
    result = subprocess.run([ffmpeg_exe(), "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"],
                            capture_output=True, text=True, timeout=60)
    line = [part for part in result.stderr.split("frame=") if part.strip()][-1]
    return int(line.split()[0])


def test_default_clip_is_a_playable_h264_mp4(tmp_path: Path) -> None:
    path = make_mp4(tmp_path / "clip.mp4")
    head = path.read_bytes()[:12]
    assert head[4:8] == b"ftyp"
    assert decode_errors(path) == ""
    assert frame_count(path) == 17


def test_clips_are_cached_per_parameters() -> None:
    first = cached_mp4(width=32, height=32, frames=5)
    assert cached_mp4(width=32, height=32, frames=5) == first
    assert cached_mp4(width=32, height=32, frames=9) != first


def test_target_bytes_gives_a_big_clip_that_still_plays(tmp_path: Path) -> None:
    path = make_mp4(tmp_path / "big.mp4", target_bytes=2 * 1024 * 1024)
    assert path.stat().st_size >= 2 * 1024 * 1024
    assert decode_errors(path) == ""


async def test_async_variant(tmp_path: Path) -> None:
    path = await make_mp4_async(tmp_path / "sub" / "a.mp4", frames=9)
    assert path.exists() and frame_count(path) == 9
