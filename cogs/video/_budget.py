"""The budget of status-card edits, so fifty cards rendering at once stay clear of Discord's
rate limits (and of a 429 storm that delays every edit behind it).

Two kinds of edit cost something shared:

- an edit that carries a preview image uploads it again (a card that shows a preview has to:
  Discord shows a kept attachment outside the embed once an edit stops naming it). Those take
  a token from one global bucket, `uploads_per_second` (`WANBOT_PREVIEW_UPLOADS_PER_SECOND`),
  whichever token edits them: bandwidth, and the bot's global 50 requests a second.
- an edit through the bot token (a card older than its 15-minute interaction token) counts
  against the channel's message-edit limit, which every card in the channel shares (Discord
  answers 5 per 5 s). Those take a token from the channel's bucket, 4 per 5 s: a margin for
  the network's jitter and for Discord changing its figure. An edit through the interaction's
  own webhook has a bucket per interaction, and the card's 2-second throttle keeps it far
  below that.

An image-to-video card's start picture is uploaded too, with the card's first edit, and kept
by id after that: once a card, under 20 KB, and in the same request as the edit it rides on.
It takes no upload token (an edit that also carries a preview takes the preview's one), so the
first edit, which turns the member's "thinking…" into the card, never queues behind fifty
rendering cards' previews. A bot-token edit takes its channel's token whatever it carries.

Waiting is first come, first served (an asyncio.Lock wakes its waiters in order), so a busy
moment spreads the edits across every card instead of starving some.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

__all__ = ["CHANNEL_EDITS_PER_SECOND", "EditBudget", "TokenBucket"]

CHANNEL_EDITS_PER_SECOND = 4 / 5
_CHANNELS_KEPT = 1024  # buckets of channels edited lately; a forgotten one starts full again


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up; `take` waits its turn for one."""

    def __init__(self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and room for one token")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = burst
        self._at = clock()
        self._lock = asyncio.Lock()

    async def take(self) -> float:
        """One token, after the waiters before us; returns the seconds waited for it."""
        started = self._clock()
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                await self._sleep((1 - self._tokens) / self.rate)
                self._refill()
            self._tokens -= 1
        return self._clock() - started

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now


class EditBudget:
    """The shared limits of card edits: uploads for all cards, bot-token edits per channel."""

    def __init__(self, uploads_per_second: float, *, channel_edits_per_second: float = CHANNEL_EDITS_PER_SECOND,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._uploads = TokenBucket(uploads_per_second, max(1.0, uploads_per_second), clock=clock, sleep=sleep)
        self._channel_rate = channel_edits_per_second
        self._channels: OrderedDict[int, TokenBucket] = OrderedDict()

    async def upload(self) -> float:
        """Wait for leave to upload a preview; returns the seconds waited."""
        return await self._uploads.take()

    async def channel_edit(self, channel_id: int) -> float:
        """Wait for leave to edit a message in `channel_id` with the bot token."""
        bucket = self._channels.get(channel_id)
        if bucket is None:
            bucket = self._channels[channel_id] = TokenBucket(self._channel_rate, 1, clock=self._clock,
                                                              sleep=self._sleep)
            oldest_id, oldest = next(iter(self._channels.items()))
            if len(self._channels) > _CHANNELS_KEPT and not oldest.busy:  # never one with waiters
                del self._channels[oldest_id]
        self._channels.move_to_end(channel_id)
        return await bucket.take()
