"""Output files: the names a save node reports and the real bytes /view serves for them.

Owns: the emulator's output/, temp/ and input/ folders (in a private temp dir), ComfyUI's
filename rules for VHS_VideoCombine (`prefix_00001.mp4`) and core SaveVideo/SaveWEBM/
SaveAnimatedWEBP (`prefix_00001_.mp4`, subfolder taken from the prefix), per-prefix counters,
placing the clip on disk before the node reports it, and what the input folder holds (the
uploaded pictures, by their path under input/, as LoadImage names them).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.fakes.comfyui._failures import NodeFailure

__all__ = ["SERVER_ROOT", "UI_BUILDERS", "Clip", "OutputFiles"]

# What an output file holds: a file to link or copy, or bytes.
Clip = Path | bytes

# Where the captured server lived; `fullpath` in VHS outputs points here, never at our disk.
SERVER_ROOT = "/srv/ComfyUI"
_FOLDER_TYPES = ("output", "input", "temp")


def _vhs_extension(video_format: str) -> str:
    """'video/h264-mp4' -> 'mp4', 'video/ProRes' -> 'mov', 'image/gif' -> 'gif'."""
    name = video_format.split("/", 1)[-1]
    if name == "ProRes":
        return "mov"
    return name.rsplit("-", 1)[-1]


class OutputFiles:
    """The server's folders on disk. `source` returns the clip to publish (a path or bytes)."""

    def __init__(self, root: Path, source: Callable[[], Clip]) -> None:
        self.root = root
        self._source = source
        self._counters: dict[tuple[str, str, str], int] = {}
        # Files under input/, as "subfolder/name" (what LoadImage's value names). Kept in memory
        # so validating a prompt needs no disk access on the event loop; only uploads and
        # `remove_input` change the folder.
        self.inputs: set[str] = set()

    def prepare(self) -> None:
        """Create the folders and read what input/ already holds (blocking: run it in a thread)."""
        for folder in _FOLDER_TYPES:
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        base = self.root / "input"
        self.inputs = {p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()}

    def input_path(self, name: str) -> Path | None:
        """Where LoadImage reads `name` from, as folder_paths.get_annotated_filepath resolves it
        (a trailing " [input]" names the input folder, which is also the default); None when the
        input folder has no such file. Other annotations ([output], [temp]) are not emulated."""
        name = name.removesuffix(" [input]")
        normal = os.path.normpath(name).replace(os.sep, "/")
        if normal not in self.inputs or normal.startswith(("../", "/")):
            return None
        return self.root / "input" / normal

    def remove_input(self, name: str) -> None:
        """Delete an uploaded file (a test emulating an operator who cleaned input/). Blocking."""
        self.inputs.discard(name)
        (self.root / "input" / name).unlink(missing_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def folder(self, folder_type: str) -> Path | None:
        return self.root / folder_type if folder_type in _FOLDER_TYPES else None

    def wipe_temp(self) -> None:
        """ComfyUI empties temp/ at start: temp outputs do not survive a restart."""
        shutil.rmtree(self.root / "temp", ignore_errors=True)
        (self.root / "temp").mkdir()
        self._counters = {k: v for k, v in self._counters.items() if k[0] != "temp"}

    def _split_prefix(self, prefix: str, folder_type: str) -> tuple[str, str]:
        """(subfolder, base) as ComfyUI's get_save_image_path derives them, with its guard."""
        normalized = os.path.normpath(prefix)
        subfolder, base = os.path.dirname(normalized), os.path.basename(normalized)
        server_dir = f"{SERVER_ROOT}/{folder_type}"
        target = os.path.normpath(os.path.join(server_dir, subfolder))
        if os.path.commonpath((server_dir, target)) != server_dir:
            raise NodeFailure("Exception", "**** ERROR: Saving image outside the output folder is not allowed."
                              f"\n full_output_folder: {target}\n         output_dir: {server_dir}"
                              f"\n         commonpath: {os.path.commonpath((server_dir, target))}", [])
        return subfolder, base

    def _next_counter(self, folder_type: str, subfolder: str, base: str) -> int:
        key = (folder_type, subfolder, base.lower())
        self._counters[key] = self._counters.get(key, 0) + 1
        return self._counters[key]

    async def _publish(self, folder_type: str, subfolder: str, filename: str, clip: Clip | None) -> None:
        dest = self.root / folder_type / subfolder / filename
        await asyncio.to_thread(lambda: self._write(dest, clip if clip is not None else self._source()))

    @staticmethod
    def _write(dest: Path, source: Clip) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, bytes):
            dest.write_bytes(source)
            return
        try:
            os.link(source, dest)  # instant, no copy; falls back across filesystems
        except OSError:
            shutil.copyfile(source, dest)

    # -- node outputs (the `ui` dicts) ---------------------------------------------------------

    async def vhs_video_combine(self, inputs: dict[str, Any], clip: Clip | None = None) -> dict[str, Any]:
        folder_type = "output" if inputs.get("save_output", True) else "temp"
        subfolder, base = self._split_prefix(str(inputs.get("filename_prefix", "AnimateDiff")), folder_type)
        video_format = str(inputs.get("format", "image/gif"))
        counter = self._next_counter(folder_type, subfolder, base)
        filename = f"{base}_{counter:05}.{_vhs_extension(video_format)}"
        await self._publish(folder_type, subfolder, filename, clip)
        fullpath = "/".join(p for p in (f"{SERVER_ROOT}/{folder_type}", subfolder, filename) if p)
        return {"gifs": [{
            "filename": filename, "subfolder": subfolder, "type": folder_type, "format": video_format,
            "frame_rate": float(inputs.get("frame_rate", 8)), "workflow": f"{base}_{counter:05}.png",
            "fullpath": fullpath,
        }]}

    async def _save_core(self, inputs: dict[str, Any], default_prefix: str, extension: str,
                         clip: Clip | None) -> dict[str, Any]:
        subfolder, base = self._split_prefix(str(inputs.get("filename_prefix", default_prefix)), "output")
        counter = self._next_counter("output", subfolder, base)
        filename = f"{base}_{counter:05}_.{extension}"
        await self._publish("output", subfolder, filename, clip)
        return {"images": [{"filename": filename, "subfolder": subfolder, "type": "output"}],
                "animated": [True]}

    async def save_video(self, inputs: dict[str, Any], clip: Clip | None = None) -> dict[str, Any]:
        # format 'auto' and 'mp4' both give an .mp4 container.
        return await self._save_core(inputs, "video/ComfyUI", "mp4", clip)

    async def save_webm(self, inputs: dict[str, Any], clip: Clip | None = None) -> dict[str, Any]:
        return await self._save_core(inputs, "ComfyUI", "webm", clip)

    async def save_animated_webp(self, inputs: dict[str, Any], clip: Clip | None = None) -> dict[str, Any]:
        return await self._save_core(inputs, "ComfyUI", "webp", clip)


# Output node class -> how it names and publishes its file (the `ui` it reports); the clip is
# the prompt's own (made from its LoadImage picture) or None for the server's default one.
UI_BUILDERS: dict[str, Callable[[OutputFiles, dict[str, Any], Clip | None], Awaitable[dict[str, Any]]]] = {
    "VHS_VideoCombine": OutputFiles.vhs_video_combine,
    "SaveVideo": OutputFiles.save_video,
    "SaveWEBM": OutputFiles.save_webm,
    "SaveAnimatedWEBP": OutputFiles.save_animated_webp,
}
