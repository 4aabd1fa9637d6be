"""The validated video request: what a member asked for, checked, completed and ready to render.

`VideoRequest.build(template, rng, **raw)` takes raw option values (from a slash command, the
CLI or a test), fills what is missing from the template's defaults (then wanbot's), checks each
value against the template's limits and Wan's shape rules, and draws a seed when none was given.
Everything wrong is reported at once as `RequestInvalid`, one `Problem` per field; each problem
renders in English or Chinese and says what was wrong and what to send instead.

Prompts are passed to Wan exactly as written, Chinese or English (only surrounding whitespace
is stripped): Wan's umt5 encoder reads both, and `Template.render` sets them by key, so nothing
is translated or escaped here.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.i18n import Message
from bot.workflows.params import (
    FRAME_STEP,
    GLOBAL_DEFAULTS,
    GLOBAL_LIMITS,
    PARAM_TYPES,
    PARAMS,
    SIZE_MULTIPLE,
    Limit,
    frames_ok,
    nearest_valid,
    shape_ok,
)
from bot.workflows.seeds import SEED_MAX, draw_seed
from bot.workflows.template import Template

__all__ = [
    "FIELD_NAMES",
    "WAN_NEGATIVE_PROMPT",
    "Problem",
    "RequestInvalid",
    "VideoRequest",
]

# Wan2.1's official default negative prompt (Wan-Video/Wan2.1 shared_config.sample_neg_prompt).
WAN_NEGATIVE_PROMPT: Final = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，"
    "低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，"
    "毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"
)

FIELD_NAMES: Final[dict[str, Message]] = {
    "prompt": Message("prompt", "提示词"),
    "negative_prompt": Message("negative prompt", "反向提示词"),
    "seed": Message("seed", "种子"),
    "steps": Message("steps", "步数"),
    "cfg": Message("cfg", "CFG"),
    "shift": Message("shift", "偏移（shift）"),
    "width": Message("width", "宽度"),
    "height": Message("height", "高度"),
    "frames": Message("frames", "帧数"),
    "fps": Message("fps", "帧率"),
    "image": Message("picture", "图片"),
}

EMPTY_PROMPT: Final = Message(
    en='The prompt is empty — describe the video you want, e.g. "a red fox running through fresh snow"',
    zh="提示词是空的——请描述你想要的视频，例如“一只红狐狸在新雪中奔跑”",
)
TOO_LONG: Final = Message(
    en="{name} is {length} characters long; the limit is {max} — shorten it",
    zh="{name}有 {length} 个字符，上限是 {max}——请缩短",
)
TOO_SHORT: Final = Message(
    en="{name} is {length} characters long; it needs at least {min} — add more detail",
    zh="{name}只有 {length} 个字符，至少需要 {min} 个——请写得更详细些",
)
NOT_TEXT: Final = Message(
    en="{name} must be text; you gave {value} — type it as words",
    zh="{name}必须是文字；你给的是 {value}——请直接输入文字",
)
NOT_NUMBER: Final = Message(
    en="{name} must be a number; you gave {value} — try {suggestion}",
    zh="{name}必须是数字；你给的是 {value}，试试 {suggestion}",
)
NOT_WHOLE: Final = Message(
    en="{name} must be a whole number; you gave {value} — try {suggestion}",
    zh="{name}必须是整数；你给的是 {value}，试试 {suggestion}",
)
OUT_OF_RANGE: Final = Message(
    en="{name} must be between {min} and {max}; you gave {value} — try {suggestion}",
    zh="{name}必须在 {min} 到 {max} 之间；你给的是 {value}，试试 {suggestion}",
)
FRAMES_RULE: Final = Message(
    en="{name} must be 4k+1 ({first}, {second}, …, {last}); you gave {value} — try {suggestion}",
    zh="{name}必须是 4k+1（{first}、{second}……{last}）；你给的是 {value}，试试 {suggestion}",
)
SIZE_RULE: Final = Message(
    en="{name} must be a multiple of {multiple}; you gave {value} — try {suggestion}",
    zh="{name}必须是 {multiple} 的倍数；你给的是 {value}，试试 {suggestion}",
)
UNKNOWN_OPTION: Final = Message(
    en="There is no option called {option} — use one of: {options}",
    zh="没有叫 {option} 的选项——可用的选项：{options}",
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field. `values` fill the message's placeholders (raw values;
    `render` formats them), so a caller can also read them, e.g. to preselect `suggestion`."""

    field: str
    message: Message
    values: Mapping[str, Any] = field(default_factory=dict)

    def render(self, locale: object | None = None) -> str:
        name = FIELD_NAMES[self.field].render(locale) if self.field in FIELD_NAMES else self.field
        shown = {key: _show(value) for key, value in self.values.items()}
        return self.message.render(locale, name=name, **shown)


class RequestInvalid(ValueError):
    """The request cannot run as given; `problems` lists every field that needs changing."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(self.render("en"))

    def render(self, locale: object | None = None) -> str:
        """One line per problem, in the locale's language (Chinese for zh-*, else English)."""
        return "\n".join(problem.render(locale) for problem in self.problems)


def _show(value: Any) -> str:
    """A value as a person reads it: 6.0 as 6; text as is (user text arrives pre-quoted)."""
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else str(value)
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        return str(value)
    return _quoted(value)


def _quoted(value: Any) -> str:
    """Something the member typed where a number belonged, JSON-quoted and cut to 40 chars."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:39] + "…"


class VideoRequest(BaseModel):
    """The parameters of one clip, all present and valid. Build it with `VideoRequest.build`;
    direct construction only re-checks the model's fixed rules, not a template's limits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str = Field(min_length=1)
    negative_prompt: str
    seed: int = Field(ge=0, le=SEED_MAX)
    steps: int = Field(ge=1)
    cfg: float = Field(ge=0)
    shift: float = Field(ge=0)
    width: int = Field(ge=SIZE_MULTIPLE, multiple_of=SIZE_MULTIPLE)
    height: int = Field(ge=SIZE_MULTIPLE, multiple_of=SIZE_MULTIPLE)
    frames: int = Field(ge=1)
    fps: int = Field(ge=1)
    # True when the member gave no seed and one was drawn; the result still reports `seed`.
    seed_was_random: bool = False

    @field_validator("frames")
    @classmethod
    def _frames_rule(cls, frames: int) -> int:
        if not frames_ok(frames):
            raise ValueError(f"frames must be {FRAME_STEP}k+1, got {frames}")
        return frames

    @classmethod
    def build(
        cls, template: Template | None = None, rng: random.Random | None = None, /, **raw: Any
    ) -> VideoRequest:
        """Complete and check `raw` (param=value; None means "not given") for `template`.

        Missing values come from the template's defaults, then wanbot's; an empty negative
        prompt becomes the template's default or WAN_NEGATIVE_PROMPT; a missing seed is drawn
        from `rng`. Raises RequestInvalid listing every problem.
        """
        problems = [_unknown(key) for key in raw if key not in PARAMS]
        values: dict[str, Any] = {}
        for param in PARAMS:
            given = raw.get(param)
            value, problem = _check(param, given, template)
            if problem is not None:
                problems.append(problem)
            values[param] = value
        if problems:
            raise RequestInvalid(problems)
        # Drawn only now, once everything else is valid, so a refused request uses no randomness.
        seed_was_random = values["seed"] is None
        if seed_was_random:
            values["seed"] = draw_seed(rng)
        return cls(**values, seed_was_random=seed_was_random)

    def to_params(self) -> dict[str, Any]:
        """The values `Template.render` writes into the graph."""
        return self.model_dump(include=set(PARAMS))

    @property
    def cost(self) -> int:
        """Work estimate for ETAs: sampler time grows with pixels × frames × steps."""
        return self.frames * self.width * self.height * self.steps


# --- per-field checks -----------------------------------------------------------------------


def _limit(template: Template | None, param: str) -> Limit:
    return template.limit(param) if template is not None else GLOBAL_LIMITS[param]


def _default(template: Template | None, param: str) -> Any:
    return template.default(param) if template is not None else GLOBAL_DEFAULTS.get(param)


def _unknown(key: str) -> Problem:
    return Problem(key, UNKNOWN_OPTION, {"option": key, "options": ", ".join(PARAMS)})


def _check(param: str, given: Any, template: Template | None) -> tuple[Any, Problem | None]:
    """The value to use for `param` and what is wrong with it, if anything."""
    if param in ("prompt", "negative_prompt"):
        return _check_text(param, given, template)
    default = _default(template, param)
    if given is None:
        return default, None  # a missing seed stays None: build() draws it
    return _check_number(param, given, _limit(template, param), default)


def _check_text(param: str, given: Any, template: Template | None) -> tuple[Any, Problem | None]:
    if given is not None and not isinstance(given, str):
        return None, Problem(param, NOT_TEXT, {"value": _quoted(given)})
    text = (given or "").strip()
    if param == "prompt" and not text:
        return None, Problem(param, EMPTY_PROMPT)
    if param == "negative_prompt" and not text:
        text = _default(template, param) or WAN_NEGATIVE_PROMPT
    limit = _limit(template, param)
    if len(text) > limit.max:
        return None, Problem(param, TOO_LONG, {"length": len(text), "max": int(limit.max)})
    if len(text) < limit.min:
        return None, Problem(param, TOO_SHORT, {"length": len(text), "min": int(limit.min)})
    return text, None


def _check_number(param: str, given: Any, limit: Limit, default: Any) -> tuple[Any, Problem | None]:
    kind = PARAM_TYPES[param]
    number = _as_number(given)
    if number is None:
        suggestion = default if default is not None else nearest_valid(param, limit.min, limit)
        return None, Problem(param, NOT_NUMBER, {"value": _quoted(given), "suggestion": suggestion})
    if kind is int and not float(number).is_integer():
        suggestion = nearest_valid(param, number, limit)
        return None, Problem(param, NOT_WHOLE, {"value": number, "suggestion": suggestion})
    value = int(number) if kind is int else float(number)
    if not limit.contains(value):
        return None, _range_problem(param, value, limit)
    if not shape_ok(param, int(value)):
        return None, _shape_problem(param, int(value), limit)
    return value, None


def _as_number(given: Any) -> int | float | None:
    """`given` as a finite number, accepting numeric text (the CLI); None when it is not one."""
    if isinstance(given, bool):
        return None
    if isinstance(given, str):
        try:
            given = float(given) if any(c in given for c in ".eE") else int(given.strip())
        except ValueError:
            return None
    if isinstance(given, int):
        return given
    if isinstance(given, float) and math.isfinite(given):
        return given
    return None


def _range_problem(param: str, value: float, limit: Limit) -> Problem:
    low, high = nearest_valid(param, limit.min, limit), nearest_valid(param, limit.max, limit)
    suggestion = nearest_valid(param, value, limit)
    return Problem(
        param, OUT_OF_RANGE, {"min": low, "max": high, "value": value, "suggestion": suggestion}
    )


def _shape_problem(param: str, value: int, limit: Limit) -> Problem:
    suggestion = nearest_valid(param, value, limit)
    if param == "frames":
        first = nearest_valid(param, limit.min, limit)
        last = nearest_valid(param, limit.max, limit)
        second = min(first + FRAME_STEP, last)
        values = {"first": first, "second": second, "last": last}
        return Problem(param, FRAMES_RULE, {**values, "value": value, "suggestion": suggestion})
    return Problem(
        param, SIZE_RULE, {"multiple": SIZE_MULTIPLE, "value": value, "suggestion": suggestion}
    )
