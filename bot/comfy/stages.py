"""What a render is doing, in words a person knows: node classes mapped to stages, and the
share of the whole render done so far.

ComfyUI reports progress per node ("node 6, step 7 of 15"); nobody waiting for a clip knows what
WanVideoSampler is. `NODE_STAGES` is the one table from the node classes of the workflows wanbot
ships (kijai's WanVideoWrapper nodes, ComfyUI's core Wan nodes, both image-to-video paths,
VHS_VideoCombine, SaveVideo) to a stage; classes outside it are placed by their name.
`OverallProgress` turns the per-node reports of one prompt into one fraction for the whole render.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Final

from bot.comfy.watch import Progress

__all__ = ["Stage", "NODE_STAGES", "stage_of", "OverallProgress"]


class Stage(enum.Enum):
    LOADING = "loading models"
    ENCODING = "encoding prompt"
    PREPARING = "preparing"
    SAMPLING = "sampling"
    DECODING = "decoding"
    SAVING = "saving"
    WORKING = "working"

    @property
    def label(self) -> str:
        return self.value


NODE_STAGES: Final[Mapping[str, Stage]] = {
    # ComfyUI-WanVideoWrapper
    "LoadWanVideoT5TextEncoder": Stage.LOADING,
    "WanVideoModelLoader": Stage.LOADING,
    "WanVideoVAELoader": Stage.LOADING,
    "WanVideoTextEncode": Stage.ENCODING,
    "WanVideoEmptyEmbeds": Stage.PREPARING,
    "WanVideoClipVisionEncode": Stage.ENCODING,
    "WanVideoImageToVideoEncode": Stage.PREPARING,
    "WanVideoSampler": Stage.SAMPLING,
    "WanVideoDecode": Stage.DECODING,
    # ComfyUI core (the official text_to_video_wan workflow)
    "CLIPLoader": Stage.LOADING,
    "UNETLoader": Stage.LOADING,
    "VAELoader": Stage.LOADING,
    "CLIPVisionLoader": Stage.LOADING,
    "ModelSamplingSD3": Stage.LOADING,
    "CLIPTextEncode": Stage.ENCODING,
    "CLIPVisionEncode": Stage.ENCODING,
    "LoadImage": Stage.PREPARING,
    "EmptyHunyuanLatentVideo": Stage.PREPARING,
    "WanImageToVideo": Stage.PREPARING,
    "KSampler": Stage.SAMPLING,
    "KSamplerAdvanced": Stage.SAMPLING,
    "VAEDecode": Stage.DECODING,
    "CreateVideo": Stage.SAVING,
    "SaveVideo": Stage.SAVING,
    "SaveWEBM": Stage.SAVING,
    # ComfyUI-VideoHelperSuite
    "VHS_VideoCombine": Stage.SAVING,
}

# For an operator's own nodes: the naming habits of ComfyUI and its packs, checked in order.
_BY_NAME: Final = (
    ("Sampler", Stage.SAMPLING),
    ("Loader", Stage.LOADING),
    ("TextEncode", Stage.ENCODING),
    ("Decode", Stage.DECODING),
    ("Save", Stage.SAVING),
    ("VideoCombine", Stage.SAVING),
)

# Roughly how much of a render's time one node of each stage takes (a 1.3B model on one GPU,
# 15 steps): sampling dwarfs the rest, loading from cold is next.
_WEIGHT: Final[Mapping[Stage, float]] = {
    Stage.LOADING: 4.0,
    Stage.ENCODING: 2.0,
    Stage.PREPARING: 0.2,
    Stage.SAMPLING: 70.0,
    Stage.DECODING: 8.0,
    Stage.SAVING: 3.0,
    Stage.WORKING: 0.5,
}

# When a node of one rank runs, every node of a lower rank has run or was cached (a warm run
# skips the loaders: ComfyUI reports them as cached, never as running).
_RANK: Final[Mapping[Stage, int]] = {Stage.SAMPLING: 1, Stage.DECODING: 2, Stage.SAVING: 3}


def stage_of(class_type: str) -> Stage:
    stage = NODE_STAGES.get(class_type)
    if stage is not None:
        return stage
    return next((stage for part, stage in _BY_NAME if part in class_type), Stage.WORKING)


class OverallProgress:
    """The share of one prompt's render done, from 0 to 1, never going back."""

    def __init__(self, graph: Mapping[str, Mapping[str, Any]]) -> None:
        self._stages = {node_id: stage_of(str(node.get("class_type", ""))) for node_id, node in graph.items()}
        self._total = sum(_WEIGHT[s] for s in self._stages.values()) or 1.0
        self._done: set[str] = set()
        self._current: str | None = None
        self.fraction = 0.0

    def update(self, progress: Progress) -> float:
        node = progress.node
        if progress.state != "running" or node not in self._stages:
            return self.fraction
        if self._current is not None and node != self._current:
            self._done.add(self._current)
        self._current = node
        rank = _RANK.get(self._stages[node], 0)
        self._done.update(n for n, s in self._stages.items() if _RANK.get(s, 0) < rank)
        done = sum(_WEIGHT[self._stages[n]] for n in self._done if n != node)
        share = progress.value / progress.max if progress.max else 0.0
        current = _WEIGHT[self._stages[node]] * min(share, 1.0)
        self.fraction = max(self.fraction, min((done + current) / self._total, 1.0))
        return self.fraction
