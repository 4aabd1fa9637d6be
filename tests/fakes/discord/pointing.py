"""Pointing an unmodified discord.py at the fake, through its two documented knobs.

Owns ``point_discord_py_at``: ``discord.http.Route.BASE`` (every REST route, including the
interaction callback and webhook routes) and ``DiscordWebSocket.DEFAULT_GATEWAY`` (the
gateway a plain ``Client`` connects to; ``AutoShardedClient`` asks GET /gateway/bot, which
the fake answers with its own URL, unless it is given a ``shard_count`` and dials this default
too). Nothing else in discord.py is patched.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ENV_VAR", "point_discord_py_at"]

# Read by sitecustomize/sitecustomize.py in a bot started as a subprocess.
ENV_VAR = "WANBOT_FAKE_DISCORD_URL"


def point_discord_py_at(url: str) -> Callable[[], None]:
    """Send discord.py's REST calls and gateway connections to ``url`` (``http://host:port``).

    Returns a function that restores the previous values. The knobs are process-wide
    class attributes: one in-process bot talks to one fake at a time.
    """
    import yarl
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    base = url.rstrip("/")
    previous_base, previous_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = f"{base}/api/v10"
    ws_base = "ws://" + base.removeprefix("http://") if base.startswith("http://") else base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(f"{ws_base}/gateway")

    def restore() -> None:
        Route.BASE = previous_base
        DiscordWebSocket.DEFAULT_GATEWAY = previous_gateway

    return restore
