"""Change notification for the fake: every state change wakes every waiter once.

Owns ``ChangeFeed``, the single ``asyncio.Condition`` behind ``wait_for_message``,
``InteractionHandle.acked`` and friends. Waiters re-check their predicate on each change,
so tests never poll with sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

__all__ = ["ChangeFeed"]

T = TypeVar("T")


class ChangeFeed:
    """Wake-ups on state changes, and waiting until a probe finds something."""

    def __init__(self) -> None:
        self._condition = asyncio.Condition()

    async def notify(self) -> None:
        async with self._condition:
            self._condition.notify_all()

    async def wait_until(self, probe: Callable[[], T | None], timeout: float, what: str) -> T:
        """Return the first non-None ``probe()`` result, checking now and after each change.

        Raises TimeoutError naming ``what`` after ``timeout`` seconds.
        """
        try:
            async with asyncio.timeout(timeout):
                async with self._condition:
                    while (found := probe()) is None:
                        await self._condition.wait()
                    return found
        except TimeoutError:
            raise TimeoutError(f"fake Discord: timed out after {timeout:g}s waiting for {what}") from None
