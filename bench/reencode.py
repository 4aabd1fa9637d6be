"""How fast a re-encode runs here, against the deadline each ffmpeg pass gets (`PassDeadline`).

Fits a Wan2.1-sized clip (832x480, 81 frames at 16 fps, noisy, 12 MB) under Discord's default
10 MiB with the bot's `Encoder`, the way a delivery does (probe, then two H.264 passes), and
reports the wall time, the pixel rate it reached (frames x width x height per second of one
pass) and how far below the deadline a pass stayed. Target: a pass uses under a tenth of its
deadline on this machine, so a busy one still makes it.

    .venv/bin/python bench/reencode.py [--runs 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (sys.path)
from _common import report

from bot.delivery.ffmpeg import probe
from bot.delivery.fit import Encoder
from tests.fakes.media import cached_mp4

LIMIT = 10 << 20
WIDTH, HEIGHT, FRAMES, FPS = 832, 480, 81, 16
MARGIN_TARGET = 10.0


async def _fit_times(clip: Path, runs: int) -> list[float]:
    encoder = Encoder()
    times = []
    with tempfile.TemporaryDirectory(prefix="wanbot-bench-") as tmp:
        for n in range(runs):
            start = time.perf_counter()
            result = await encoder.fit(clip, Path(tmp) / f"out{n}.mp4", LIMIT)
            times.append(time.perf_counter() - start)
            assert result.reencoded and result.bytes <= LIMIT
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    clip = cached_mp4(width=WIDTH, height=HEIGHT, frames=FRAMES, fps=FPS, target_bytes=12_000_000)
    info = asyncio.run(probe(clip))
    fit_s = statistics.median(asyncio.run(_fit_times(clip, args.runs)))
    # Two passes when the first try fits, more if rate control overshot: an upper bound.
    pass_s = fit_s / 2
    mpx_per_s = FRAMES * WIDTH * HEIGHT / pass_s / 1e6
    deadline = Encoder().deadline.seconds(info)
    margin = deadline / pass_s
    rows = [
        (f"fit {WIDTH}x{HEIGHT}x{FRAMES} (12 MB -> 10 MiB), median of {args.runs}", f"{fit_s:.2f} s", "", ""),
        ("one pass (at most)", f"{pass_s:.2f} s  ({mpx_per_s:.1f} Mpx/s)", "", ""),
        ("deadline of a pass", f"{deadline:.0f} s", "", ""),
        ("deadline / pass", f"{margin:.0f}x", f">= {MARGIN_TARGET:g}x", "ok" if margin >= MARGIN_TARGET else "MISSED"),
    ]
    report("reencode", "reencode: the bot's Encoder on a Wan-sized clip", rows, {
        "runs": args.runs, "fit_s": round(fit_s, 3), "pass_s": round(pass_s, 3),
        "mpx_per_s": round(mpx_per_s, 2), "deadline_s": round(deadline, 1), "margin": round(margin, 1),
    })


if __name__ == "__main__":
    main()
