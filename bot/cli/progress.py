"""The progress line of `wanbot generate` on stderr: the overall percentage, the stage in words
("sampling 7/15"), the elapsed time and an ETA.

On a terminal one line is redrawn in place; in a log (stderr redirected) a line is printed only
when the stage changes or the percentage passes another tenth, so a long render leaves a short
log. Drawn by hand: one line of text needs no library, and a progress library would be most of
the command's start-up time (see bench/cli_overhead.py).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from bot.comfy.stages import OverallProgress, Stage, stage_of
from bot.comfy.watch import Progress

__all__ = ["ProgressLine"]

_BAR = 20
# Below this share done, an extrapolated ETA is mostly noise (model loading dominates).
_ETA_FROM = 0.05


def _clock_text(seconds: float) -> str:
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _stage_text(progress: Progress) -> str:
    if progress.node is None:
        return "starting"
    stage = stage_of(progress.node_class or "")
    if stage is Stage.SAMPLING and progress.max:
        return f"{stage.label} {progress.value}/{progress.max}"
    return stage.label


class ProgressLine:
    """Called with every `Progress` of one prompt, and `tick()`ed every second or so; `finish()`
    or `close()` ends the line."""

    def __init__(self, graph: Mapping[str, Any], stream: TextIO | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.clock = clock
        self.overall = OverallProgress(graph)
        self.started = clock()
        self.running_since: float | None = None
        self._drawn = ""
        self._last: Progress | None = None
        self._logged: tuple[Stage | None, int] | None = None  # (stage, tenth) of the last log line

    def describe(self, progress: Progress) -> str:
        """The line for `progress` (and take it into account for the percentage and ETA)."""
        now = self.clock()
        elapsed = f"{_clock_text(now - self.started)} elapsed"
        if progress.state == "queued":
            ahead = progress.position
            place = "" if ahead is None else " (next)" if ahead == 0 else f" ({ahead} ahead)"
            return f"queued{place} · {elapsed}"
        if self.running_since is None:
            self.running_since = now
        fraction = self.overall.update(progress)
        return f"{self._head(fraction)} {_stage_text(progress)} · {elapsed}{self._eta(fraction, now)}"

    def _head(self, fraction: float) -> str:
        filled = round(_BAR * fraction)
        return f"{round(100 * fraction):3d}% [{'#' * filled}{'.' * (_BAR - filled)}]"

    def _eta(self, fraction: float, now: float) -> str:
        if self.running_since is None or fraction < _ETA_FROM:
            return ""
        running = now - self.running_since
        return f" · ETA {_clock_text(running * (1 - fraction) / fraction)}"

    def __call__(self, progress: Progress) -> None:
        self._last = progress
        text = self.describe(progress)
        if self.tty:
            self._redraw(text)
            return
        stage = stage_of(progress.node_class or "") if progress.state == "running" else None
        key = (stage, int(10 * self.overall.fraction))
        last_step = stage is Stage.SAMPLING and 0 < progress.max == progress.value
        if key != self._logged or last_step:
            self._logged = key
            self._write(text + "\n")

    def tick(self) -> None:
        """Redraw with the time now (a terminal only): a long step or a long wait in the queue
        sends no event, and the elapsed time must not stand still meanwhile."""
        if self.tty and self._last is not None:
            self._redraw(self.describe(self._last))

    def finish(self) -> None:
        """The render is done: show 100% and end the line."""
        text = f"{self._head(1.0)} done · {_clock_text(self.clock() - self.started)} elapsed"
        if self.tty:
            self._redraw(text)
            self.close()
        else:
            self._write(text + "\n")

    def close(self) -> None:
        """End the line on a terminal, so that what is printed next starts on its own."""
        if self.tty and self._drawn:
            self._write("\n")
            self._drawn = ""

    def _redraw(self, text: str) -> None:
        if text != self._drawn:
            self._drawn = text
            self._write("\r\x1b[K" + text)

    def _write(self, text: str) -> None:
        if text:
            self.stream.write(text)
            self.stream.flush()
