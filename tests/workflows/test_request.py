"""VideoRequest.build: defaults, each field's boundaries, and messages in both languages."""

from __future__ import annotations

import json
import random
import string
from typing import Any

import pytest
from pydantic import ValidationError

from bot.i18n import Message
from bot.workflows import (
    PARAMS,
    RANDOM_SEED_MAX,
    SEED_MAX,
    WAN_NEGATIVE_PROMPT,
    RequestInvalid,
    Template,
    VideoRequest,
    load_template,
    parse_template,
)
from bot.workflows import request as request_module
from tests.workflows.specs import minimal_spec


@pytest.fixture(scope="module")
def wrapper() -> Template:
    return load_template("wan-wrapper")


def _build(template: Template | None = None, **raw: Any) -> VideoRequest:
    return VideoRequest.build(template, random.Random(0), **raw)


def _refusal(template: Template | None = None, **raw: Any) -> RequestInvalid:
    with pytest.raises(RequestInvalid) as caught:
        _build(template, **raw)
    return caught.value


def _only(template: Template | None = None, **raw: Any) -> tuple[str, str]:
    """The single problem's English and Chinese lines."""
    error = _refusal(template, **raw)
    assert len(error.problems) == 1, error.render("en")
    return error.render("en-US"), error.render("zh-CN")


# --- defaults and seed ----------------------------------------------------------------------


def test_defaults_follow_the_seed(wrapper: Template) -> None:
    request = _build(wrapper, prompt="a cat")
    assert (request.width, request.height, request.frames, request.fps) == (832, 480, 81, 16)
    assert (request.steps, request.cfg, request.shift) == (15, 6.0, 5.0)
    assert request.negative_prompt == WAN_NEGATIVE_PROMPT
    assert request.seed_was_random


def test_works_without_a_template() -> None:
    assert _build(prompt="a cat").width == 832


def test_official_negative_prompt_text() -> None:
    assert WAN_NEGATIVE_PROMPT.startswith("色调艳丽，过曝，静态")
    assert WAN_NEGATIVE_PROMPT.endswith("背景人很多，倒着走")


@pytest.mark.parametrize("negative", [None, "", "   \n"])
def test_empty_negative_prompt_gets_the_official_one(negative: str | None) -> None:
    assert _build(prompt="p", negative_prompt=negative).negative_prompt == WAN_NEGATIVE_PROMPT


def test_given_negative_prompt_is_kept() -> None:
    assert _build(prompt="p", negative_prompt=" blurry, 模糊 ").negative_prompt == "blurry, 模糊"


def test_template_default_negative_prompt_wins_over_wan() -> None:
    template = parse_template(json.dumps(minimal_spec(defaults={"negative_prompt": "ugly"})), "t")
    assert _build(template, prompt="p").negative_prompt == "ugly"


def test_seed_is_reproducible_with_a_seeded_rng() -> None:
    first = VideoRequest.build(None, random.Random(42), prompt="p").seed
    again = VideoRequest.build(None, random.Random(42), prompt="p").seed
    other = VideoRequest.build(None, random.Random(43), prompt="p").seed
    assert first == again != other
    assert 0 <= first <= RANDOM_SEED_MAX


def test_seed_without_rng_is_drawn_from_the_system() -> None:
    seeds = {VideoRequest.build(None, None, prompt="p").seed for _ in range(5)}
    assert len(seeds) > 1


@pytest.mark.parametrize("seed", [0, 1, SEED_MAX])
def test_given_seed_is_kept(seed: int) -> None:
    request = _build(prompt="p", seed=seed)
    assert request.seed == seed
    assert not request.seed_was_random


def test_refused_request_draws_no_seed() -> None:
    rng = random.Random(5)
    with pytest.raises(RequestInvalid):
        VideoRequest.build(None, rng, prompt="")
    assert rng.random() == random.Random(5).random()


def test_template_defaults_and_limits_apply() -> None:
    spec = minimal_spec(
        defaults={"steps": 20}, limits={"steps": {"max": 20}, "frames": {"max": 121}}
    )
    template = parse_template(json.dumps(spec), "t")
    assert _build(template, prompt="p").steps == 20
    assert _build(template, prompt="p", frames=121).frames == 121
    en, _ = _only(template, prompt="p", steps=25)
    assert en == "steps must be between 1 and 20; you gave 25 — try 20"


# --- prompt ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt", ["一只猫在冲浪 🐱", 'say "hi" {x} %s', "line1\nline2", "a" * 2000]
)
def test_prompt_passes_unchanged(prompt: str) -> None:
    assert _build(prompt=f"  {prompt}\n ").prompt == prompt


@pytest.mark.parametrize("prompt", [None, "", "  \n\t "])
def test_empty_prompt(prompt: str | None) -> None:
    en, zh = _only(prompt=prompt)
    assert (
        en
        == 'The prompt is empty — describe the video you want, e.g. "a red fox running through fresh snow"'
    )
    assert zh == "提示词是空的——请描述你想要的视频，例如“一只红狐狸在新雪中奔跑”"


def test_prompt_too_long() -> None:
    en, zh = _only(prompt="猫" * 2001)
    assert en == "prompt is 2001 characters long; the limit is 2000 — shorten it"
    assert zh == "提示词有 2001 个字符，上限是 2000——请缩短"


def test_negative_prompt_too_long() -> None:
    en, zh = _only(prompt="p", negative_prompt="x" * 2001)
    assert en.startswith("negative prompt is 2001 characters long")
    assert zh.startswith("反向提示词有 2001 个字符")


def test_prompt_not_text() -> None:
    en, zh = _only(prompt=42)
    assert en == "prompt must be text; you gave 42 — type it as words"
    assert zh == "提示词必须是文字；你给的是 42——请直接输入文字"


# --- numbers --------------------------------------------------------------------------------


def _g(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


RANGES = [
    # param, lowest ok, highest ok, below, above, English name, Chinese name
    ("steps", 1, 50, 0, 51, "steps", "步数"),
    ("cfg", 1.0, 15.0, 0.99, 15.01, "cfg", "CFG"),
    ("shift", 1.0, 20.0, 0.5, 20.5, "shift", "偏移（shift）"),
    ("width", 256, 1280, 240, 1296, "width", "宽度"),
    ("height", 256, 1280, 240, 1296, "height", "高度"),
    ("frames", 5, 81, 1, 85, "frames", "帧数"),
    ("fps", 8, 30, 7, 31, "fps", "帧率"),
    ("seed", 0, SEED_MAX, -1, SEED_MAX + 1, "seed", "种子"),
]


@pytest.mark.parametrize(("param", "low", "high", "below", "above", "en", "zh"), RANGES)
def test_range_boundaries(
    param: str, low: Any, high: Any, below: Any, above: Any, en: str, zh: str
) -> None:
    assert getattr(_build(prompt="p", **{param: low}), param) == low
    assert getattr(_build(prompt="p", **{param: high}), param) == high
    for bad, nearest in ((below, low), (above, high)):
        got_en, got_zh = _only(prompt="p", **{param: bad})
        assert (
            got_en
            == f"{en} must be between {_g(low)} and {_g(high)}; you gave {_g(bad)} — try {_g(nearest)}"
        )
        assert (
            got_zh
            == f"{zh}必须在 {_g(low)} 到 {_g(high)} 之间；你给的是 {_g(bad)}，试试 {_g(nearest)}"
        )


def test_frames_must_be_4k_plus_1() -> None:
    en, zh = _only(prompt="p", frames=80)
    assert en == "frames must be 4k+1 (5, 9, …, 81); you gave 80 — try 81"
    assert zh == "帧数必须是 4k+1（5、9……81）；你给的是 80，试试 81"
    assert _only(prompt="p", frames=7)[0].endswith("you gave 7 — try 9")  # 7 is halfway: up
    assert _only(prompt="p", frames=6)[0].endswith("you gave 6 — try 5")


@pytest.mark.parametrize("frames", [5, 9, 13, 49, 77, 81])
def test_frames_4k_plus_1_accepted(frames: int) -> None:
    assert _build(prompt="p", frames=frames).frames == frames


@pytest.mark.parametrize(
    ("param", "bad", "try_"), [("width", 500, 496), ("height", 504, 512), ("width", 1270, 1264)]
)
def test_sizes_must_be_multiples_of_16(param: str, bad: int, try_: int) -> None:
    en, zh = _only(prompt="p", **{param: bad})
    name_zh = {"width": "宽度", "height": "高度"}[param]
    assert en == f"{param} must be a multiple of 16; you gave {bad} — try {try_}"
    assert zh == f"{name_zh}必须是 16 的倍数；你给的是 {bad}，试试 {try_}"


def test_not_a_number() -> None:
    en, zh = _only(prompt="p", cfg="lots")
    assert en == 'cfg must be a number; you gave "lots" — try 6'
    assert zh == 'CFG必须是数字；你给的是 "lots"，试试 6'


@pytest.mark.parametrize("bad", [True, float("nan"), float("inf"), "nan", [20], "1e400"])
def test_other_non_numbers(bad: Any) -> None:
    assert "steps must be a number" in _only(prompt="p", steps=bad)[0]


def test_not_a_whole_number() -> None:
    en, zh = _only(prompt="p", steps=15.5)
    assert en == "steps must be a whole number; you gave 15.5 — try 16"
    assert zh == "步数必须是整数；你给的是 15.5，试试 16"


def test_numeric_text_and_whole_floats_are_accepted() -> None:
    request = _build(prompt="p", steps="20", cfg="7.5", width=640.0, seed=" 12 ")
    assert (request.steps, request.cfg, request.width, request.seed) == (20, 7.5, 640, 12)
    assert isinstance(request.width, int)


def test_unknown_option() -> None:
    en, zh = _only(prompt="p", sampler="euler")
    assert en.startswith("There is no option called sampler — use one of: prompt, negative_prompt,")
    assert zh.startswith("没有叫 sampler 的选项——可用的选项：prompt,")


def test_every_problem_is_reported_at_once() -> None:
    error = _refusal(prompt="", frames=80, width=500, steps=0)
    assert [p.field for p in error.problems] == ["prompt", "steps", "width", "frames"]
    assert len(error.render("zh").splitlines()) == 4
    assert str(error) == error.render("en")
    assert error.problems[3].values["suggestion"] == 81
    assert isinstance(error, ValueError)


def test_every_message_has_the_same_placeholders_in_both_languages() -> None:
    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    messages = [v for v in vars(request_module).values() if isinstance(v, Message)]
    messages += list(request_module.FIELD_NAMES.values())
    assert len(messages) > 15
    for message in messages:
        assert fields(message.en) == fields(message.zh), message.en


# --- the result -----------------------------------------------------------------------------


def test_to_params_and_render(wrapper: Template) -> None:
    request = _build(wrapper, prompt="猫", seed=9, frames=33, fps=24)
    params = request.to_params()
    assert tuple(params) == PARAMS
    graph = wrapper.render(params)
    assert graph["2"]["inputs"]["positive_prompt"] == "猫"
    assert graph["2"]["inputs"]["negative_prompt"] == WAN_NEGATIVE_PROMPT
    assert graph["6"]["inputs"]["seed"] == 9
    assert graph["4"]["inputs"]["num_frames"] == 33
    assert graph["8"]["inputs"]["frame_rate"] == 24


def test_cost() -> None:
    assert _build(prompt="p").cost == 81 * 832 * 480 * 15


def test_request_is_frozen_and_rechecks_fixed_rules() -> None:
    request = _build(prompt="p")
    with pytest.raises(ValidationError):
        request.frames = 9  # type: ignore[misc]
    with pytest.raises(ValidationError):
        VideoRequest(**{**request.to_params(), "frames": 80})
    with pytest.raises(ValidationError):
        VideoRequest(**{**request.to_params(), "width": 500})
