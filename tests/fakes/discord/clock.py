"""Time and identity sources of the fake: a monotonic clock tests can fast-forward, snowflakes.

Owns ``FakeClock`` (``time.monotonic()`` plus an offset: deadlines are real time, so a bot
that blocks its event loop is caught, yet a test can jump 15 minutes ahead to expire
interaction tokens without sleeping) and ``SnowflakeFactory`` (Discord-shaped ids whose
embedded timestamp is now, so discord.py's ``created_at`` looks sane).
"""

from __future__ import annotations

import time

__all__ = ["DISCORD_EPOCH_MS", "FakeClock", "SnowflakeFactory"]

DISCORD_EPOCH_MS = 1_420_070_400_000


class FakeClock:
    """Monotonic seconds, plus whatever a test has fast-forwarded."""

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        """Jump ahead: every deadline measured by this clock moves closer by ``seconds``."""
        if seconds < 0:
            raise ValueError("the fake clock only moves forward")
        self._offset += seconds


class SnowflakeFactory:
    """Unique, increasing snowflakes with the current wall-clock time inside."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(candidate, self._last + 1)
        return self._last
