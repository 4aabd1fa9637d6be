"""Discord's rate limits, enforced by the fake when a test asks for them.

Owns: the per-route buckets (a route plus its major parameter: the channel for channel
routes, the token for interaction webhooks, so two cards' webhooks never share a bucket while
every bot-token edit in one channel does), the bot's global limit (bot-token requests per
second; Discord exempts interaction endpoints from it), the ``X-RateLimit-*`` headers every
answer of a limited route carries (discord.py reads them to wait before it is refused), and the
429 answer in Discord's shape (``retry_after`` in the body, ``Retry-After`` and ``Via``
headers: discord.py takes a 429 without ``Via`` for a Cloudflare ban and gives up).

Buckets are fixed windows, as Discord's headers describe them: the first request opens a
window of ``per`` seconds holding ``count`` requests; a refused request does not count. The
default figures are the ones Discord answers with (5 per 5 s per channel for creating and for
editing messages, 5 per 2 s per webhook token, 50 per second globally); they are not
documented and Discord may change them, which is why the bot's own budget keeps a margin.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from .wire import json_response

__all__ = ["Limit", "RateLimiter", "RateLimits", "Verdict"]


@dataclass(frozen=True)
class Limit:
    count: int
    per: float  # seconds


@dataclass(frozen=True)
class RateLimits:
    """The figures; ``None`` for a route family leaves it unlimited."""

    global_per_second: int | None = 50
    channel_message_create: Limit | None = Limit(5, 5.0)
    channel_message_edit: Limit | None = Limit(5, 5.0)
    interaction_webhook: Limit | None = Limit(5, 2.0)


@dataclass
class _Window:
    opened: float
    used: int = 0


@dataclass
class Verdict:
    """What the limiter decided for one request: the 429 to answer, or headers to add."""

    refused: web.Response | None = None
    headers: dict[str, str] = field(default_factory=dict)
    is_global: bool = False


class RateLimiter:
    """The buckets of one fake Discord, on the fake's clock."""

    def __init__(self, limits: RateLimits, now: Callable[[], float]) -> None:
        self.limits = limits
        self._now = now
        self._windows: dict[tuple[str, ...], _Window] = {}

    def check(self, request: web.Request, route: str, *, bot_token: bool) -> Verdict:
        """Count `request` (``route``: its canonical path) against its buckets."""
        now = self._now()
        if bot_token and self.limits.global_per_second is not None:
            window = self._window(("global",), now, 1.0)
            if window.used >= self.limits.global_per_second:
                return self._refuse(window.opened + 1.0 - now, scope="global", headers={})
            window.used += 1
        bucket = self._bucket(request, route)
        if bucket is None:
            return Verdict()
        key, limit = bucket
        window = self._window(key, now, limit.per)
        reset_after = window.opened + limit.per - now
        headers = {
            "X-RateLimit-Limit": str(limit.count),
            "X-RateLimit-Bucket": hashlib.sha1(" ".join(key[:2]).encode()).hexdigest()[:16],
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
        }
        if window.used >= limit.count:
            return self._refuse(reset_after, scope="user", headers={**headers, "X-RateLimit-Remaining": "0"})
        window.used += 1
        headers["X-RateLimit-Remaining"] = str(limit.count - window.used)
        return Verdict(headers=headers)

    def _bucket(self, request: web.Request, route: str) -> tuple[tuple[str, ...], Limit] | None:
        info = request.match_info
        method = request.method
        if route.startswith("/webhooks/") and "token" in info:
            limit = self.limits.interaction_webhook
            return ((method, route, info["token"]), limit) if limit else None
        if route == "/channels/{channel_id}/messages" and method == "POST":
            limit = self.limits.channel_message_create
        elif route == "/channels/{channel_id}/messages/{message_id}" and method == "PATCH":
            limit = self.limits.channel_message_edit
        else:
            return None
        return ((method, route, info["channel_id"]), limit) if limit else None

    def _window(self, key: tuple[str, ...], now: float, per: float) -> _Window:
        window = self._windows.get(key)
        if window is None or now >= window.opened + per:
            window = self._windows[key] = _Window(now)
        return window

    @staticmethod
    def _refuse(retry_after: float, *, scope: str, headers: dict[str, str]) -> Verdict:
        retry_after = max(retry_after, 0.001)
        is_global = scope == "global"
        body = {"message": "You are being rate limited.", "retry_after": round(retry_after, 3), "global": is_global}
        response = json_response(body, status=429)
        response.headers.update(headers)
        response.headers["Retry-After"] = str(math.ceil(retry_after))
        response.headers["X-RateLimit-Scope"] = scope
        response.headers["Via"] = "1.1 google"
        if is_global:
            response.headers["X-RateLimit-Global"] = "true"
        return Verdict(refused=response, is_global=is_global)
