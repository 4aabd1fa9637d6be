"""The ten video parameters: their names, types, global defaults and limits, and Wan's shape rules.

This module owns the numbers, and checks a template's own `defaults`/`limits` against them
(`override_limits`, `default_problems`); `request.py` validates user input against them and
turns failures into messages.

Three tiers of limits:
- `HARD_LIMITS`: what the ComfyUI nodes of the built-in workflows accept at all (from
  object_info: the narrower of the wrapper and core node). A template may not go past these.
- `GLOBAL_LIMITS`: what wanbot allows by default, sized for Wan2.1 T2V 1.3B on one GPU.
- a template's `limits`: replaces `min` and/or `max` of the global limit for that template.
Two shape rules are fixed and cannot be overridden, because they come from the model itself:
width/height are multiples of 16 (VAE stride 8 × patch size 2) and frames are 4k+1 (the VAE
compresses time by 4 and keeps the first frame).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from bot.workflows.seeds import SEED_MAX

__all__ = [
    "FRAME_STEP",
    "GLOBAL_DEFAULTS",
    "GLOBAL_LIMITS",
    "HARD_LIMITS",
    "IMAGE_PARAM",
    "PARAMS",
    "PARAM_TYPES",
    "PROMPT_MAX_CHARS",
    "SIZE_MULTIPLE",
    "TEXT_PARAMS",
    "Limit",
    "default_problems",
    "frames_ok",
    "nearest_valid",
    "override_limits",
    "shape_ok",
    "size_ok",
]

PARAMS: Final[tuple[str, ...]] = (
    "prompt",
    "negative_prompt",
    "seed",
    "steps",
    "cfg",
    "shift",
    "width",
    "height",
    "frames",
    "fps",
)

# Not one of the ten: the start picture of an image-to-video template. A template binds it to a
# LoadImage input, and the value is a file on the ComfyUI server, set when the job is submitted
# (bot.comfy.render), never something a member types.
IMAGE_PARAM: Final = "image"

PARAM_TYPES: Final[dict[str, type]] = {
    "prompt": str,
    "negative_prompt": str,
    "seed": int,
    "steps": int,
    "cfg": float,
    "shift": float,
    "width": int,
    "height": int,
    "frames": int,
    "fps": int,
}

# For text params a limit counts characters, not a value.
TEXT_PARAMS: Final[frozenset[str]] = frozenset({"prompt", "negative_prompt"})

SIZE_MULTIPLE: Final = 16
FRAME_STEP: Final = 4

# 2000 characters: far above what Wan reads (umt5 keeps 512 tokens, roughly 500 Chinese or
# 1500 English characters, the rest is silently dropped) yet well inside a Discord string
# option (6000) and an embed description (4096), so the status card can echo it whole.
PROMPT_MAX_CHARS: Final = 2000


@dataclass(frozen=True)
class Limit:
    """An inclusive range; for text params it bounds the length in characters."""

    min: float
    max: float

    def contains(self, value: float) -> bool:
        return self.min <= value <= self.max

    def merged(self, min: float | None = None, max: float | None = None) -> Limit:
        """This limit with `min`/`max` replaced where given (a template's override)."""
        return Limit(self.min if min is None else min, self.max if max is None else max)


HARD_LIMITS: Final[dict[str, Limit]] = {
    "prompt": Limit(1, 10_000),
    "negative_prompt": Limit(0, 10_000),
    # Discord integers and JavaScript numbers (ComfyUI's web UI) are exact only to 2**53 - 1.
    "seed": Limit(0, SEED_MAX),
    "steps": Limit(1, 10_000),  # KSampler max; WanVideoSampler has none
    "cfg": Limit(0.0, 30.0),  # WanVideoSampler max (KSampler allows 100)
    "shift": Limit(0.0, 100.0),  # ModelSamplingSD3 max (WanVideoSampler allows 1000)
    "width": Limit(64, 2048),  # WanVideoEmptyEmbeds range
    "height": Limit(64, 16_384),  # EmptyHunyuanLatentVideo max
    "frames": Limit(1, 10_000),  # WanVideoEmptyEmbeds max
    "fps": Limit(1, 120),  # CreateVideo range
}

GLOBAL_LIMITS: Final[dict[str, Limit]] = {
    "prompt": Limit(1, PROMPT_MAX_CHARS),
    "negative_prompt": Limit(0, PROMPT_MAX_CHARS),
    "seed": Limit(0, SEED_MAX),
    "steps": Limit(1, 50),  # the Discord command narrows this further (10-30)
    "cfg": Limit(1.0, 15.0),  # below 1 the prompt is ignored; above 15 Wan burns out colours
    # Below 1 the flow-matching time shift runs the schedule backwards (0 makes every sigma 0:
    # a blank clip); Wan's own configs use 3-12.
    "shift": Limit(1.0, 20.0),
    "width": Limit(256, 1280),
    "height": Limit(256, 1280),
    "frames": Limit(5, 81),  # 81 is what Wan2.1 1.3B was trained on; longer clips loop or smear
    "fps": Limit(8, 30),
}

# The seed project's settings. `seed` is absent: a missing seed is drawn at random.
GLOBAL_DEFAULTS: Final[dict[str, Any]] = {
    "width": 832,
    "height": 480,
    "frames": 81,
    "fps": 16,
    "steps": 15,
    "cfg": 6.0,
    "shift": 5.0,
}


def frames_ok(frames: int) -> bool:
    return frames % FRAME_STEP == 1


def size_ok(pixels: int) -> bool:
    return pixels % SIZE_MULTIPLE == 0


def shape_ok(param: str, value: int) -> bool:
    """The fixed model rule for `param` (True for params without one)."""
    if param == "frames":
        return frames_ok(value)
    if param in ("width", "height"):
        return size_ok(value)
    return True


def nearest_valid(param: str, value: float, limit: Limit) -> float | int:
    """The allowed value closest to `value`: clamped into `limit`, then snapped to the shape rule.

    Used for the "try N" hint, so it never suggests something that would be refused again.
    """
    clamped = min(max(value, limit.min), limit.max)
    if param == "frames":
        return _snap(clamped, FRAME_STEP, 1, limit)
    if param in ("width", "height"):
        return _snap(clamped, SIZE_MULTIPLE, 0, limit)
    if PARAM_TYPES.get(param) is int:
        # Ints stay exact (seeds near 2**53 do not survive float arithmetic); halves go up.
        return clamped if isinstance(clamped, int) else math.floor(clamped + 0.5)
    return clamped


def _snap(value: float, step: int, offset: int, limit: Limit) -> int:
    """Closest `step*k + offset` to `value` inside `limit` (rounding half up)."""
    low = math.ceil((limit.min - offset) / step) * step + offset
    high = math.floor((limit.max - offset) / step) * step + offset
    nearest = math.floor((value - offset) / step + 0.5) * step + offset
    return int(min(max(nearest, low), high))


# --- a template's own limits and defaults ---------------------------------------------------


def override_limits(
    overrides: Mapping[str, tuple[float | None, float | None]],
) -> tuple[dict[str, Limit], list[str]]:
    """Global limits with a template's `{param: (min, max)}` applied (None keeps the global
    bound), and one sentence per override that is unknown, inverted or past HARD_LIMITS."""
    limits = dict(GLOBAL_LIMITS)
    problems: list[str] = []
    for param, (low, high) in overrides.items():
        if param not in PARAMS:
            problems.append(f"limits {param!r} is not a param; the params are: {', '.join(PARAMS)}")
            continue
        limit = GLOBAL_LIMITS[param].merged(low, high)
        hard = HARD_LIMITS[param]
        if limit.min > limit.max:
            problems.append(
                f"limits {param!r}: min {_num(limit.min)} is above max {_num(limit.max)}"
            )
        elif not (hard.contains(limit.min) and hard.contains(limit.max)):
            problems.append(
                f"limits {param!r}: {_num(limit.min)}..{_num(limit.max)} goes outside "
                f"{_num(hard.min)}..{_num(hard.max)}, what the ComfyUI nodes accept"
            )
        limits[param] = limit
    return limits, problems


def default_problems(defaults: Mapping[str, Any], limits: Mapping[str, Limit]) -> list[str]:
    """One sentence per template default that is unknown, mistyped, or outside `limits`."""
    problems = []
    for param, value in defaults.items():
        problem = _default_problem(param, value, limits)
        if problem:
            problems.append(f"defaults {param!r}: {problem}")
    return problems


def _default_problem(param: str, value: Any, limits: Mapping[str, Limit]) -> str | None:
    if param not in PARAMS:
        return f"is not a param; the params are: {', '.join(PARAMS)}"
    if param == "prompt":
        return "a template cannot choose the prompt; remove it"
    kind = PARAM_TYPES[param]
    if not _is_kind(value, kind):
        return f"{json.dumps(value, ensure_ascii=False)} is not {_KIND_WORDS[kind]}"
    measured = len(value) if param in TEXT_PARAMS else value
    limit = limits[param]
    if not limit.contains(measured):
        return f"{_num(measured)} is outside the limit {_num(limit.min)}..{_num(limit.max)}"
    if not shape_ok(param, value):
        return f"{value} breaks the rule for {param} (width/height: multiple of 16, frames: 4k+1)"
    return None


_KIND_WORDS: Final = {str: "text", int: "a whole number", float: "a number"}


def _is_kind(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


def _num(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
