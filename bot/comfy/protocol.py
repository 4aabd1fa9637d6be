"""ComfyUI's wire shapes, parsed with pydantic at the edge.

Only the fields the bot reads are modelled; everything else is allowed and ignored so that a
newer ComfyUI with more fields keeps working.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "SubmitResponse",
    "UploadedImage",
    "QueueSnapshot",
    "OutputFile",
    "HistoryEntry",
    "SystemStats",
    "Device",
    "VIDEO_EXTENSIONS",
]

VIDEO_EXTENSIONS = frozenset({".mp4", ".webm", ".mov", ".mkv", ".gif", ".webp"})


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SubmitResponse(_Loose):
    prompt_id: str
    number: float = 0
    node_errors: dict[str, Any] = Field(default_factory=dict)


class UploadedImage(_Loose):
    """POST /upload/image's answer: where the server put the file (its name may differ from
    the one sent when the name was taken and `overwrite` was off)."""

    name: str
    subfolder: str = ""
    type: str = "input"

    @property
    def load_image_value(self) -> str:
        """What LoadImage's `image` input takes for it: "subfolder/name", or the name alone."""
        return f"{self.subfolder}/{self.name}" if self.subfolder else self.name


class QueueSnapshot(_Loose):
    """GET /queue, reduced to prompt ids. `pending` is in execution order (sorted by number)."""

    running: list[str]
    pending: list[str]

    @classmethod
    def from_wire(cls, body: dict[str, Any]) -> "QueueSnapshot":
        running = [item[1] for item in body.get("queue_running", [])]
        # queue_pending is an unsorted heap on the server: sort by number for execution order.
        pending_items = sorted(body.get("queue_pending", []), key=lambda item: item[0])
        return cls(running=running, pending=[item[1] for item in pending_items])

    def position(self, prompt_id: str) -> int | None:
        """How many prompts run or wait before it (0 for the running one and for the head of
        the pending queue when nothing runs); None when absent."""
        if prompt_id in self.running:
            return 0
        if prompt_id in self.pending:
            return len(self.running) + self.pending.index(prompt_id)
        return None


class OutputFile(_Loose):
    """One file in a history output, addressed the way GET /view wants it."""

    filename: str
    subfolder: str = ""
    type: Literal["output", "temp", "input"] = "output"
    format: str | None = None

    @property
    def is_video(self) -> bool:
        if self.format and self.format.startswith("video/"):
            return True
        return PurePosixPath(self.filename).suffix.lower() in VIDEO_EXTENSIONS

    @property
    def is_mp4(self) -> bool:
        return PurePosixPath(self.filename).suffix.lower() == ".mp4"


class _Status(_Loose):
    status_str: str = "success"
    completed: bool = False
    messages: list[list[Any]] = Field(default_factory=list)


class HistoryEntry(_Loose):
    """GET /history/{prompt_id}[prompt_id]."""

    outputs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    status: _Status = Field(default_factory=_Status)

    @property
    def succeeded(self) -> bool:
        return self.status.status_str == "success"

    def message(self, event: str) -> dict[str, Any] | None:
        """The data of the first status message of type `event`, if any."""
        for item in self.status.messages:
            if len(item) == 2 and item[0] == event and isinstance(item[1], dict):
                return item[1]
        return None

    def files(self) -> list[tuple[str, OutputFile]]:
        """Every file in the outputs, as (node_id, file), whatever key the node used."""
        found: list[tuple[str, OutputFile]] = []
        for node_id, ui in self.outputs.items():
            for value in ui.values():
                if not isinstance(value, list):
                    continue
                for item in value:
                    if isinstance(item, dict) and "filename" in item:
                        found.append((node_id, OutputFile.model_validate(item)))
        return found

    def video(self) -> OutputFile | None:
        """The video among the outputs: picked by file type, mp4 preferred, never by key."""
        videos = [f for _, f in self.files() if f.is_video]
        videos.sort(key=lambda f: (not f.is_mp4, f.type != "output"))
        return videos[0] if videos else None


class Device(_Loose):
    name: str = "?"
    type: str = "?"
    vram_total: int = 0
    vram_free: int = 0


class _System(_Loose):
    comfyui_version: str = "unknown"
    python_version: str = ""
    pytorch_version: str = ""


class SystemStats(_Loose):
    system: _System = Field(default_factory=_System)
    devices: list[Device] = Field(default_factory=list)
