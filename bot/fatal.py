"""Why `wanbot run` ends early: the one line an operator reads, and the exit code.

`Fatal` is the error the runner catches at its edge and turns into one log record whose
message is the cause and what to do — never a token, never a traceback — and an exit code:
2 when a setting or the Discord application must change (restarting will not help), 1 when
something outside may come back (Docker's `restart: unless-stopped` or Kubernetes retries).
`StartupError` is a `Fatal` that names the setting at fault. `discord_fatal` reads why the
Discord client ended: discord.py's exceptions, the gateway's close codes, and the network
errors aiohttp raises when Discord cannot be reached.
"""

from __future__ import annotations

import socket

import aiohttp
import discord

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "Fatal",
    "GatewayUnreachable",
    "StartupError",
    "discord_fatal",
    "reason",
]

EXIT_FAILED, EXIT_CONFIG = 1, 2

_NEW_TOKEN = "copy a fresh token from the Developer Portal (Bot → Reset Token) into DISCORD_TOKEN"
_INTENTS = "Bot → Privileged Gateway Intents in the Developer Portal"

# Discord's gateway close codes after which it must not be reconnected as is (Discord's docs,
# "Gateway Close Event Codes"): what each means and what to do, with the exit code.
_CLOSE_CODES: dict[int, tuple[str, str, int]] = {
    4004: ("authentication failed", f"DISCORD_TOKEN was rejected: {_NEW_TOKEN}", EXIT_CONFIG),
    4010: ("invalid shard", "restart so the shards are counted again", EXIT_FAILED),
    4011: ("sharding required", "the bot is in too many guilds for its shards: restart so it asks "
           "Discord for the recommended number of shards", EXIT_FAILED),
    4012: ("invalid API version", "this discord.py is too old for Discord: upgrade wanbot", EXIT_CONFIG),
    4013: ("invalid intents", "Discord does not know the intents this bot asked for: upgrade wanbot "
           "or report it", EXIT_CONFIG),
    4014: ("disallowed intents", f"the bot asked for a privileged intent this application may not use: "
           f"enable it under {_INTENTS}, or report it (wanbot needs none)", EXIT_CONFIG),
}


class Fatal(Exception):
    """A problem that ends the process. `line` is what the operator reads; `unexpected` marks
    a cause nobody foresaw (a bug), the only kind whose traceback is worth logging."""

    def __init__(self, line: str, exit_code: int = EXIT_FAILED, *, unexpected: bool = False) -> None:
        super().__init__(line)
        self.line = line
        self.exit_code = exit_code
        self.unexpected = unexpected


class StartupError(Fatal):
    """A start-up problem a setting can fix: `<SETTING>: <problem>; <what to do>`, exit 2 (or
    1 when what is named may come back by itself, such as a database server restarting)."""

    def __init__(self, setting: str, problem: str, remedy: str, exit_code: int = EXIT_CONFIG) -> None:
        super().__init__(f"{setting}: {problem}; {remedy}", exit_code)
        self.setting = setting


class GatewayUnreachable(discord.DiscordException):
    """The first connection to the Discord gateway failed (discord.py would retry for ever)."""

    def __init__(self, host: str, cause: BaseException) -> None:
        super().__init__(f"cannot reach the Discord gateway at {host}")
        self.host = host
        self.cause = cause


def discord_fatal(exc: BaseException | None, *, shard_count: int | None = None) -> Fatal:
    """Why the Discord client ended with `exc` (None: it returned without an error).

    `shard_count` is WANBOT_SHARD_COUNT when the operator fixed it: then a 4011 (Discord wants
    more shards) is a setting to change, since a restart would connect as many shards again."""
    if exc is None:
        return Fatal("the Discord client stopped without an error; restarting")
    if isinstance(exc, discord.LoginFailure):
        return Fatal(f"Discord rejected DISCORD_TOKEN (401 Unauthorized): {_NEW_TOKEN}", EXIT_CONFIG)
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return _closed(4014)
    if isinstance(exc, discord.ConnectionClosed):
        if exc.code == 4011 and shard_count is not None:
            return Fatal(f"the Discord gateway closed with 4011 (sharding required): the bot is in too many "
                         f"guilds for WANBOT_SHARD_COUNT={shard_count}: raise it on every process (and split "
                         "WANBOT_SHARD_IDS again), or unset both to let one process start as many as Discord "
                         "recommends", EXIT_CONFIG)
        return _closed(exc.code)
    if isinstance(exc, GatewayUnreachable):
        return Fatal(f"cannot reach the Discord gateway at {exc.host}: {_network_cause(exc.cause)}; "
                     "check the firewall or proxy (it must allow websockets)")
    if isinstance(exc, discord.GatewayNotFound):
        return Fatal("Discord did not say where its gateway is (GET /gateway/bot failed): Discord may be "
                     "having an outage, see https://discordstatus.com")
    if isinstance(exc, discord.HTTPException):
        return Fatal(f"Discord answered {exc.status} while the bot logged in: {exc.text or 'no details'}; "
                     "Discord may be having an outage, see https://discordstatus.com")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Fatal(f"cannot reach Discord at {exc.host}: {_network_cause(exc)}; check the network")
    if isinstance(exc, (TimeoutError, aiohttp.ClientError, OSError)):
        return Fatal(f"cannot reach Discord: {_network_cause(exc)}; check the network")
    return Fatal(f"the Discord client stopped: {type(exc).__name__}: {exc}", unexpected=True)


def _closed(code: int) -> Fatal:
    meaning, remedy, exit_code = _CLOSE_CODES.get(code, ("unexpected close", "restarting", EXIT_FAILED))
    return Fatal(f"the Discord gateway closed with {code} ({meaning}): {remedy}", exit_code)


def _network_cause(exc: BaseException) -> str:
    """A few words for a network failure: the OS's reason, not aiohttp's wrapper text."""
    cause = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
    if isinstance(cause, socket.gaierror):
        return f"DNS lookup failed ({reason(cause)})"
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, TimeoutError):
        return "timed out"
    return reason(cause)


def reason(exc: BaseException) -> str:
    """The operating system's words for `exc` ("Connection refused"), else its message."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
