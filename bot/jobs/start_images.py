"""The start pictures of image-to-video jobs, kept on disk beside the outputs.

A fitted picture (`bot.workflows.start_image`) is stored once, named by its content:
`<output dir>/images/<sha256>.png`, and a job refers to it in its params as
`start_image: "images/<sha256>.png"` (`START_IMAGE_PARAM`). The file outlives the request
that brought it, so a restart, a failover, Reroll and Same settings all find it; jobs with the
same picture share one file.

When a picture may go: never while a job that uses it is unfinished (the caller passes those
refs to `sweep`), and otherwise `keep_for` seconds after it was last used. Each use (a new job,
a Reroll) refreshes the file's modification time, which is what the sweep reads; after that a
Reroll is told the picture is no longer kept. The dispatcher sweeps at start and then hourly.

`uploads` turns a job's picture into the `InputImage` the render path uploads to the server
running the job, named `job-<id>-<first 16 hex of the hash>.png` in its input folder.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Final

from bot.comfy.render import InputImage
from bot.workflows.start_image import FittedImage, thumbnail_jpeg
from storage.records import JobRecord

__all__ = ["START_IMAGE_PARAM", "StartImageLost", "StartImages", "image_ref_of"]

START_IMAGE_PARAM: Final = "start_image"
_FOLDER: Final = "images"
_REF: Final = re.compile(r"images/(?P<sha>[0-9a-f]{64})\.png")

# The LoadImage inputs of a job's template: what `uploads` binds the uploaded name to.
Targets = Callable[[JobRecord], tuple[tuple[str, str], ...]]


class StartImageLost(Exception):
    """A job's start picture is not on disk any more (or its reference is not one of ours)."""


def image_ref_of(job: JobRecord) -> str | None:
    """The job's start picture reference, or None for a text-to-video job."""
    ref = job.params.get(START_IMAGE_PARAM)
    return ref if isinstance(ref, str) and ref else None


class StartImages:
    """The folder of kept start pictures."""

    def __init__(self, output_dir: Path, *, keep_for: float, targets: Targets | None = None,
                 now: Callable[[], float] = time.time) -> None:
        self.folder = output_dir / _FOLDER
        self.keep_for = keep_for
        self._targets = targets or (lambda job: ())
        self._now = now  # wall time: it is compared with file modification times
        # A sweep must not remove a picture between reading its age and a new job touching it.
        self._lock = asyncio.Lock()

    def path(self, ref: str) -> Path:
        """The file of `ref`. Raises StartImageLost for a reference that is not ours."""
        match = _REF.fullmatch(ref)
        if match is None:
            raise StartImageLost(f"{ref!r} is not a start picture reference")
        return self.folder / f"{match['sha']}.png"

    async def keep(self, fitted: FittedImage) -> str:
        """Store the picture (once per content) and return its reference for the job's params."""
        ref = f"{_FOLDER}/{fitted.sha256}.png"
        async with self._lock:
            await asyncio.to_thread(self._write, self.path(ref), fitted.png)
        return ref

    @staticmethod
    def _write(path: Path, png: bytes) -> None:
        try:
            os.utime(path)  # stored already: one more use, kept longer
            return
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part")
        part.write_bytes(png)
        os.replace(part, path)

    async def reuse(self, ref: str) -> bool:
        """Mark the picture used again (Reroll, Same settings); False when it is gone."""
        def touch() -> bool:
            try:
                os.utime(self.path(ref))
            except (FileNotFoundError, StartImageLost):
                return False
            return True
        async with self._lock:
            return await asyncio.to_thread(touch)

    async def read(self, ref: str) -> bytes:
        """The PNG of `ref`. Raises StartImageLost."""
        path = self.path(ref)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise StartImageLost(f"the start picture {ref} is no longer on disk") from None

    async def thumbnail(self, ref: str) -> bytes | None:
        """A small JPEG of the picture (status cards, results); None when it is gone."""
        try:
            png = await self.read(ref)
        except StartImageLost:
            return None
        return await asyncio.to_thread(thumbnail_jpeg, png)

    async def uploads(self, job: JobRecord) -> list[InputImage]:
        """What the render path uploads for `job`: its picture, or nothing for text-to-video.
        Raises StartImageLost when its picture is gone."""
        ref = image_ref_of(job)
        if ref is None:
            return []
        data = await self.read(ref)
        name = f"job-{job.id}-{self.path(ref).stem[:16]}.png"
        return [InputImage(name, data, self._targets(job))]

    async def sweep(self, in_use: Iterable[str]) -> int:
        """Remove pictures past `keep_for` since their last use, except `in_use` (the refs of
        unfinished jobs). Returns how many went."""
        keep = {self.path(ref).name for ref in in_use if _REF.fullmatch(ref)}
        async with self._lock:
            return await asyncio.to_thread(self._sweep, keep, self._now() - self.keep_for)

    def _sweep(self, keep: set[str], cutoff: float) -> int:
        if not self.folder.is_dir():
            return 0
        removed = 0
        for path in self.folder.iterdir():
            if path.name in keep or not path.is_file():
                continue
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # swept by someone else meanwhile
        return removed
