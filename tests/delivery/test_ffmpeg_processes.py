"""The ffmpeg processes behind a re-encode, watched as real processes (see `_ffmpeg_spy`):
killed and reaped when the fit is cancelled or overruns its deadline, and never more at
once than the encoder's concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.delivery.ffmpeg import FfmpegTimedOut, run_ffmpeg
from bot.delivery.fit import Encoder, PassDeadline
from tests.delivery._ffmpeg_spy import FfmpegSpy, alive
from tests.fakes.media import cached_mp4

pytestmark = pytest.mark.timeout(60)

CLIP_BYTES = 300_000  # 1 s of noise, 320x192: over LIMIT, so every fit re-encodes
LIMIT = 150_000


@pytest.fixture(scope="module")
def clip() -> Path:
    return cached_mp4(width=320, height=192, frames=16, fps=16, target_bytes=CLIP_BYTES)


@pytest.fixture
async def spying(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Callable[..., FfmpegSpy]]:
    spies: list[FfmpegSpy] = []

    def make(*, slow: bool = False) -> FfmpegSpy:
        spies.append(FfmpegSpy(tmp_path / "spy", monkeypatch, slow=slow))
        return spies[-1]

    yield make
    for spy in spies:
        spy.close()


async def test_cancelling_a_fit_kills_and_reaps_ffmpeg(clip: Path, tmp_path: Path,
                                                       spying: Callable[..., FfmpegSpy]) -> None:
    spy = spying(slow=True)
    fit = asyncio.create_task(Encoder().fit(clip, tmp_path / "out.mp4", LIMIT))
    pid = await spy.next_encode()
    fit.cancel()
    with pytest.raises(asyncio.CancelledError):
        await fit
    assert not alive(pid)


async def test_a_pass_past_its_deadline_is_killed_with_a_clear_error(clip: Path, tmp_path: Path,
                                                                     spying: Callable[..., FfmpegSpy]) -> None:
    spy = spying(slow=True)  # a pass takes at least half a second
    encoder = Encoder(deadline=PassDeadline(floor=0.2, pixels_per_second=1e12))
    with pytest.raises(FfmpegTimedOut, match=r"re-encoding \(pass 1\) took longer than 0.2 s and was stopped"):
        await encoder.fit(clip, tmp_path / "out.mp4", LIMIT)
    (pid,) = spy.started
    assert not alive(pid)


async def test_a_run_past_its_timeout_is_killed_whatever_it_was_doing(tmp_path: Path,
                                                                      spying: Callable[..., FfmpegSpy]) -> None:
    spy = spying()
    endless = ["-f", "lavfi", "-i", "testsrc2=size=64x64:rate=16", "-c:v", "libx264", "-pass", "1",
               "-passlogfile", str(tmp_path / "pass"), "-f", "null", "-"]
    run = asyncio.create_task(run_ffmpeg(endless, timeout=1.0, what="an endless encode"))
    pid = await spy.next_encode()
    with pytest.raises(FfmpegTimedOut, match="an endless encode took longer than 1.0 s"):
        await run
    assert not alive(pid)


async def test_two_fits_at_once_take_turns_with_concurrency_one(clip: Path, tmp_path: Path,
                                                                spying: Callable[..., FfmpegSpy]) -> None:
    spy = spying(slow=True)
    encoder = Encoder(concurrency=1)
    results = await asyncio.gather(encoder.fit(clip, tmp_path / "a.mp4", LIMIT),
                                   encoder.fit(clip, tmp_path / "b.mp4", LIMIT))
    assert all(r.reencoded and r.bytes <= LIMIT for r in results)
    assert len(spy.started) >= 4  # two passes each, more if rate control overshot
    assert spy.overlaps == []


async def test_with_concurrency_two_the_spy_does_see_them_overlap(clip: Path, tmp_path: Path,
                                                                  spying: Callable[..., FfmpegSpy]) -> None:
    spy = spying(slow=True)
    encoder = Encoder(concurrency=2)
    await asyncio.gather(encoder.fit(clip, tmp_path / "a.mp4", LIMIT), encoder.fit(clip, tmp_path / "b.mp4", LIMIT))
    assert spy.overlaps  # the observation above can fail: here it does


async def test_encoders_do_not_share_turns(clip: Path, tmp_path: Path, spying: Callable[..., FfmpegSpy]) -> None:
    """Each bot (and each test) has its own encoder: one's queue never holds up another's."""
    spy = spying(slow=True)
    await asyncio.gather(Encoder().fit(clip, tmp_path / "a.mp4", LIMIT), Encoder().fit(clip, tmp_path / "b.mp4", LIMIT))
    assert spy.overlaps
