"""The options of `wanbot generate`: which flag sets which video parameter, and their help.

The help states each option's range and default as the workflow template in use has them (its
`limits` and `defaults` over wanbot's), with the model's shape rules (multiples of 16, 4k+1
frames), so `--help` never disagrees with what `VideoRequest` will accept. Options the template
does not bind are marked in the help and refused on the command line.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.workflows.params import FRAME_STEP, GLOBAL_DEFAULTS, GLOBAL_LIMITS, SIZE_MULTIPLE, TEXT_PARAMS, Limit

if TYPE_CHECKING:
    from bot.workflows.template import Template

__all__ = ["Option", "OPTIONS", "Ranges", "WANBOT_RANGES", "add_generate_options", "bound_flags", "unbound_flags"]


@dataclass(frozen=True)
class Option:
    flag: str
    param: str  # the VideoRequest field (and the argparse dest)
    what: str
    metavar: str


OPTIONS: tuple[Option, ...] = (
    Option("--negative", "negative_prompt", "negative prompt", "TEXT"),
    Option("--seed", "seed", "seed", "N"),
    Option("--steps", "steps", "sampler steps", "N"),
    Option("--cfg", "cfg", "CFG scale", "X"),
    Option("--shift", "shift", "sigma shift", "X"),
    Option("--width", "width", "width in pixels", "PX"),
    Option("--height", "height", "height in pixels", "PX"),
    Option("--frames", "frames", "number of frames", "N"),
    Option("--fps", "fps", "frames per second", "N"),
)


@dataclass(frozen=True)
class Ranges:
    """What the help describes: a template's limits and defaults, or wanbot's own."""

    limits: Mapping[str, Limit]
    defaults: Mapping[str, Any]
    bound: frozenset[str] | None = None  # None: every param
    template: str | None = None

    @classmethod
    def of(cls, template: Template) -> Ranges:
        """From a loaded `Template`."""
        return cls(template.limits, template.defaults, frozenset(template.params), template.name)

    def binds(self, param: str) -> bool:
        return self.bound is None or param in self.bound


WANBOT_RANGES = Ranges(GLOBAL_LIMITS, GLOBAL_DEFAULTS)

_RULES = {"width": f"a multiple of {SIZE_MULTIPLE}", "height": f"a multiple of {SIZE_MULTIPLE}",
          "frames": f"{FRAME_STEP}k+1"}


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _help(option: Option, ranges: Ranges) -> str:
    if not ranges.binds(option.param):
        return f"{option.what} (not bound by template {ranges.template!r}: cannot be set)"
    limit = ranges.limits[option.param]
    default = ranges.defaults.get(option.param)
    if option.param in TEXT_PARAMS:
        whose = "Wan's official one" if default is None else "the template's"
        return f"{option.what}, up to {_num(limit.max)} characters (default: {whose})"
    rule = _RULES.get(option.param)
    span = f"{_num(limit.min)}–{_num(limit.max)}" + (f", {rule}" if rule else "")
    return f"{option.what}: {span} " + ("(default: random)" if default is None else f"(default {_num(default)})")


def add_generate_options(parser: argparse.ArgumentParser, ranges: Ranges | None = None) -> None:
    """The arguments of `wanbot generate`; with `ranges`, help that states them."""
    ranges = ranges or WANBOT_RANGES
    parser.usage = "%(prog)s PROMPT [-o OUTPUT] [--image PATH] [options]"
    prompt_max = _num(ranges.limits["prompt"].max)
    # Optional here so that `--help` works alone; an empty prompt is refused with an example.
    parser.add_argument("prompt", nargs="?", help=f"what the video shows, in Chinese or English "
                                                  f"(up to {prompt_max} characters)")
    parser.add_argument("-o", "--output", default="out.mp4", help="where to write the MP4 (default out.mp4)")
    # Values stay text: VideoRequest reads numbers and says what is wrong better than argparse.
    for option in OPTIONS:
        parser.add_argument(option.flag, dest=option.param, metavar=option.metavar, help=_help(option, ranges))
    parser.add_argument("--image", metavar="PATH",
                        help="start from this picture (PNG, JPEG or WebP, at most 10 MB and 4096 px a side; "
                             "fitted to the frame): image-to-video, with the first image-to-video template of "
                             "WANBOT_WORKFLOW unless --workflow names one")
    parser.add_argument("--workflow", help="template: a configured or built-in name, or a template file "
                                           "(default: the first of WANBOT_WORKFLOW of the kind needed: "
                                           "text-to-video, or image-to-video with --image)")
    parser.add_argument("--comfyui", metavar="URL", help="backend URL (default: the first of COMFYUI_URLS)")
    parser.add_argument("--json", action="store_true", help="print one JSON line with the result")
    parser.add_argument("-h", "--help", action="store_true", help="show this help (ranges of the template in use)")


def unbound_flags(args: argparse.Namespace, ranges: Ranges) -> list[str]:
    """The flags given on the command line that the template has no binding for."""
    return [o.flag for o in OPTIONS if getattr(args, o.param, None) is not None and not ranges.binds(o.param)]


def bound_flags(ranges: Ranges) -> list[str]:
    return ["PROMPT"] + [o.flag for o in OPTIONS if ranges.binds(o.param)]
