"""One prompt from graph to file: submit, follow, download. The `generate` CLI and the
benchmarks use this directly; the dispatcher uses the same steps with persistence between them.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.comfy.client import ComfyClient
from bot.comfy.errors import OutputMissing
from bot.comfy.events import EventStream
from bot.comfy.protocol import HistoryEntry
from bot.comfy.watch import Progress, ProgressCallback, Watch, watch_prompt

__all__ = ["RenderResult", "render", "fetch_video"]


@dataclass(frozen=True)
class RenderResult:
    prompt_id: str
    path: Path
    bytes: int
    queued_s: float
    running_s: float
    download_s: float


async def fetch_video(client: ComfyClient, entry: HistoryEntry, dest: Path, *, max_bytes: int) -> int:
    """Download the video of a finished prompt to `dest`; returns its size."""
    video = entry.video()
    if video is None:
        names = [f.filename for _, f in entry.files()] or ["nothing"]
        raise OutputMissing(
            f"the workflow finished on {client.name} but produced no video (outputs: {', '.join(names)})",
            backend=client.name,
        )
    return await client.download(video, dest, max_bytes=max_bytes)


async def render(
    client: ComfyClient,
    events: EventStream,
    graph: dict[str, Any],
    dest: Path,
    *,
    max_bytes: int,
    watch: Watch | None = None,
    on_progress: ProgressCallback | None = None,
    prompt_id: str | None = None,
) -> RenderResult:
    """Run `graph` on the backend and write its video to `dest`."""
    prompt_id = prompt_id or str(uuid.uuid4())
    started = time.monotonic()
    running_since: list[float] = []

    async def progress(p: Progress) -> None:
        if p.state == "running" and not running_since:
            running_since.append(time.monotonic())
        if on_progress is not None:
            result = on_progress(p)
            if hasattr(result, "__await__"):
                await result

    async with events.subscription(prompt_id) as sub:
        accepted = await client.submit(graph, prompt_id=prompt_id)
        # An old server ignores our prompt_id; its early events are then lost, polling catches up.
        same_id = accepted.prompt_id == prompt_id
        entry = await watch_prompt(
            client, events, accepted.prompt_id, graph=graph, watch=watch, on_progress=progress,
            subscription=sub if same_id else None,
        )
    finished = time.monotonic()
    size = await fetch_video(client, entry, dest, max_bytes=max_bytes)
    done = time.monotonic()
    run_start = running_since[0] if running_since else finished
    return RenderResult(
        prompt_id=accepted.prompt_id,
        path=dest,
        bytes=size,
        queued_s=run_start - started,
        running_s=finished - run_start,
        download_s=done - finished,
    )
