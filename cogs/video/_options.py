"""The `/video` command's surface: its options, choices, ranges and their two languages.

`build_video_command(run, workflows, labels)` returns the command; its callback only collects
the options into `VideoOptions` and hands them to `run` (the cog). The `workflow` option exists
only when more than one template is configured, so the command is built at cog load rather
than declared on the class; each choice shows the template's label ("Best (14B)") in the
member's language, and its value is the template's name. `VideoOptions.params()` maps choices to render parameters: a
size choice to width/height, a duration to 4k+1 frames at 16 fps (1 s = 17 … 5 s = 81).
The `image` option (图片) is a picture to start from: image-to-video.

The prompt's Discord cap is Discord's own maximum (6000): the real limit is the template's
(2000 by default), and checking it ourselves answers with the length, the limit and what to
do in the member's language, for text Discord would count differently (emoji, CJK).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Choice, Range

from bot.workflows import SEED_MAX
from cogs._i18n import loc

__all__ = ["FPS", "SIZES", "VideoOptions", "build_video_command", "frames_for"]

FPS = 16
SIZES: dict[str, tuple[int, int]] = {"landscape": (832, 480), "portrait": (480, 832), "square": (624, 624)}
DURATIONS = (1, 2, 3, 4, 5)  # seconds

# Module-level so discord.py can resolve the callbacks' string annotations.
Prompt = Range[str, 1, 6000]
Negative = Range[str, 1, 6000]
Seed = Range[int, 0, SEED_MAX]
Steps = Range[int, 10, 30]
Cfg = Range[float, 1.0, 15.0]


def frames_for(seconds: int) -> int:
    """Wan needs 4k+1 frames: at 16 fps, 1 s is 17 frames and 5 s is 81."""
    return seconds * FPS + 1


@dataclass(frozen=True)
class VideoOptions:
    """What the member typed, before validation (None: not given)."""

    prompt: str
    negative: str | None = None
    seed: int | None = None
    steps: int | None = None
    cfg: float | None = None
    size: str | None = None
    duration: int | None = None
    workflow: str | None = None
    image: discord.Attachment | None = None  # the picture to start from (image-to-video)

    def params(self) -> dict[str, Any]:
        """Raw values for `VideoRequest.build` (missing ones come from the template)."""
        values: dict[str, Any] = {"prompt": self.prompt, "negative_prompt": self.negative, "seed": self.seed,
                                  "steps": self.steps, "cfg": self.cfg}
        if self.size in SIZES:
            values["width"], values["height"] = SIZES[self.size]
        if self.duration is not None:
            values["frames"], values["fps"] = frames_for(self.duration), FPS
        return values


DESCRIPTION = loc("Make a short video from a text prompt (Chinese or English)", zh="用文字提示词（中文或英文）生成一段短视频")
NAMES = {
    "prompt": loc("prompt", zh="提示词"),
    "image": loc("image", zh="图片"),
    "negative": loc("negative", zh="反向提示词"),
    "seed": loc("seed", zh="种子"),
    "steps": loc("steps", zh="步数"),
    "cfg": loc("cfg", zh="cfg"),
    "size": loc("size", zh="尺寸"),
    "duration": loc("duration", zh="时长"),
    "workflow": loc("workflow", zh="工作流"),
}
DESCRIPTIONS = {
    "prompt": loc("What happens in the video, in Chinese or English", zh="视频里发生什么，中文或英文均可"),
    "image": loc("Start from this picture (PNG, JPEG or WebP, up to 10 MB)", zh="从这张图片开始生成（PNG、JPEG 或 WebP，最大 10 MB）"),
    "negative": loc("What to avoid (default: Wan's standard list)", zh="不希望出现的内容（默认使用 Wan 的标准列表）"),
    "seed": loc("Random seed: the same seed and settings give the same video", zh="随机种子：相同的种子和参数生成相同的视频"),
    "steps": loc("Sampling steps, 10-30: more is slower and finer (default 15)", zh="采样步数 10-30：越多越慢越精细（默认 15）"),
    "cfg": loc("How closely to follow the prompt, 1-15 (default 6)", zh="遵循提示词的程度 1-15（默认 6）"),
    "size": loc("Frame size (default landscape)", zh="画面尺寸（默认横屏）"),
    "duration": loc("Length of the clip (default 5 s)", zh="视频时长（默认 5 秒）"),
    "workflow": loc("Which workflow renders it", zh="使用哪个工作流生成"),
}
SIZE_CHOICES = [
    Choice(name=loc("Landscape 832×480", zh="横屏 832×480"), value="landscape"),
    Choice(name=loc("Portrait 480×832", zh="竖屏 480×832"), value="portrait"),
    Choice(name=loc("Square 624×624", zh="方形 624×624"), value="square"),
]
DURATION_CHOICES = [Choice(name=loc(f"{s} s", zh=f"{s} 秒"), value=s) for s in DURATIONS]

Run = Callable[[discord.Interaction, VideoOptions], Awaitable[None]]


def _single(run: Run) -> Callable[..., Awaitable[None]]:
    async def video(interaction: discord.Interaction, prompt: Prompt, image: discord.Attachment | None = None,
                    negative: Negative | None = None, seed: Seed | None = None, steps: Steps | None = None,
                    cfg: Cfg | None = None, size: str | None = None, duration: int | None = None) -> None:
        await run(interaction, VideoOptions(prompt, negative, seed, steps, cfg, size, duration, image=image))

    return video


def _with_workflow(run: Run, workflows: Sequence[str],
                   labels: Mapping[str, tuple[str, str]]) -> Callable[..., Awaitable[None]]:
    async def video(interaction: discord.Interaction, prompt: Prompt, image: discord.Attachment | None = None,
                    negative: Negative | None = None, seed: Seed | None = None, steps: Steps | None = None,
                    cfg: Cfg | None = None, size: str | None = None, duration: int | None = None,
                    workflow: str | None = None) -> None:
        await run(interaction, VideoOptions(prompt, negative, seed, steps, cfg, size, duration, workflow, image))

    choices = [Choice(name=loc(labels[name][0], zh=labels[name][1]) if name in labels else name, value=name)
               for name in workflows[:25]]
    return app_commands.choices(workflow=choices)(video)


def build_video_command(run: Run, workflows: Sequence[str],
                        labels: Mapping[str, tuple[str, str]] | None = None) -> app_commands.Command[Any, ..., None]:
    """`/video`, with a `workflow` choice only when there is something to choose; `labels`
    gives a template's (English, Chinese) label, shown instead of its name."""
    callback = _with_workflow(run, workflows, labels or {}) if len(workflows) > 1 else _single(run)
    used = {name: value for name, value in NAMES.items() if len(workflows) > 1 or name != "workflow"}
    described = {name: value for name, value in DESCRIPTIONS.items() if name in used}
    callback = app_commands.choices(size=SIZE_CHOICES, duration=DURATION_CHOICES)(callback)
    callback = app_commands.describe(**described)(callback)
    callback = app_commands.rename(**used)(callback)
    callback = app_commands.guild_only()(callback)
    return app_commands.Command(name=loc("video", zh="视频"), description=DESCRIPTION, callback=callback)
