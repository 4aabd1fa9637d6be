"""A one-line progress display on stderr for `wanbot generate`."""

from __future__ import annotations

import sys
from typing import TextIO

from bot.comfy.watch import Progress

__all__ = ["ProgressLine", "describe"]

_BAR = 24


def describe(progress: Progress) -> str:
    """`queued (2 ahead)` or `WanVideoSampler [#####.....] 7/15`."""
    if progress.state == "queued":
        ahead = progress.position
        return "queued" if ahead is None else f"queued ({ahead} ahead)"
    label = progress.node_class or "starting"
    if not progress.max:
        return f"running {label}"
    filled = round(_BAR * progress.fraction)
    return f"{label} [{'#' * filled}{'.' * (_BAR - filled)}] {progress.value}/{progress.max}"


class ProgressLine:
    """Redraws in place on a terminal; prints only changed lines (no bar spam) otherwise."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last = ""
        self._last_label = ""

    def __call__(self, progress: Progress) -> None:
        text = describe(progress)
        if text == self._last:
            return
        self._last = text
        if self.tty:
            self.stream.write("\r\x1b[K" + text)
        else:
            label = text.split(" [")[0]
            if label == self._last_label and progress.max and progress.value not in (1, progress.max):
                return
            self._last_label = label
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty and self._last:
            self.stream.write("\n")
            self.stream.flush()
