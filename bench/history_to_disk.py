"""From the moment ComfyUI's history holds the prompt to the MP4 being on our disk.

A 2 MB clip served by the ComfyUI emulator on loopback, 30 runs through the real client
(websocket events + /history + streamed /view). Target: median under 50 ms. The seed's own
client polls /history every 10 s, i.e. about 5 s on average.

    .venv/bin/python bench/history_to_disk.py [--runs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (sys.path)
import aiohttp

from _common import TimedHistory, report, summary_ms
from bot.comfy.backend import Backend
from bot.comfy.render import render
from bot.comfy.watch import Watch
from bot.workflows import VideoRequest, load_template
from tests.fakes.comfyui import FakeComfyUI
from tests.fakes.media import cached_mp4


async def _bench(runs: int) -> list[float]:
    clip = await asyncio.to_thread(cached_mp4, width=832, height=480, frames=81, target_bytes=2_000_000)
    template = load_template("wan-wrapper")
    graph = template.render(VideoRequest.build(template, prompt="a cat dancing in the rain").to_params())
    samples: list[float] = []
    async with FakeComfyUI(steps=3, step_seconds=0.005, video_path=clip) as fake, aiohttp.ClientSession() as session:
        history = TimedHistory.install(fake)
        backend = Backend.create(fake.url, session)
        backend.start()
        await backend.events.wait_connected(5)
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(runs):
                dest = Path(tmp) / f"{i}.mp4"
                result = await render(backend.client, backend.events, graph, dest, max_bytes=64 << 20,
                                      watch=Watch())
                on_disk = time.monotonic()
                samples.append(on_disk - history.written[result.prompt_id])
        await backend.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    samples = asyncio.run(_bench(args.runs))
    stats = summary_ms(samples)
    verdict = "ok" if stats["median_ms"] < 50 else "MISSED"
    rows = [("history ready -> MP4 on disk, median", f"{stats['median_ms']} ms", "< 50 ms", verdict),
            ("p90", f"{stats['p90_ms']} ms", "", ""), ("p99", f"{stats['p99_ms']} ms", "", ""),
            ("min / max", f"{stats['min_ms']} / {stats['max_ms']} ms", "", ""),
            ("seed client (10 s polling), mean", "~5000 ms", "", "")]
    report("history_to_disk", f"history_to_disk: 2 MB clip, {len(samples)} runs, emulator on loopback", rows,
           {"runs": len(samples), "file_bytes": 2_000_000, **stats})


if __name__ == "__main__":
    main()
