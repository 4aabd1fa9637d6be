"""How a Discord client's end reads to the operator, for the causes the process tests cannot
easily stage (Discord's outages); the common ones run as real processes in
test_run_fails_plainly.py."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import aiohttp
import discord
import pytest

from bot.fatal import EXIT_CONFIG, EXIT_FAILED, GatewayUnreachable, discord_fatal


def _http_error(status: int, text: str) -> discord.HTTPException:
    response = SimpleNamespace(status=status, reason="", headers={})
    return discord.HTTPException(response, text)  # type: ignore[arg-type]


def _connector_error(cause: OSError) -> aiohttp.ClientConnectorError:
    key = SimpleNamespace(host="discord.com", port=443, ssl=True)
    return aiohttp.ClientConnectorError(key, cause)  # type: ignore[arg-type]


@pytest.mark.parametrize(("exc", "code", "words"), [
    (discord.GatewayNotFound(), EXIT_FAILED, ("gateway", "outage")),
    (_http_error(503, "upstream connect error"), EXIT_FAILED, ("503", "upstream connect error")),
    (_connector_error(socket.gaierror(-3, "Temporary failure in name resolution")), EXIT_FAILED,
     ("discord.com", "DNS lookup failed", "Temporary failure")),
    (_connector_error(TimeoutError()), EXIT_FAILED, ("discord.com", "timed out")),
    (GatewayUnreachable("gateway.discord.gg", ConnectionRefusedError()), EXIT_FAILED,
     ("gateway.discord.gg", "connection refused", "websockets")),
    (TimeoutError(), EXIT_FAILED, ("cannot reach Discord", "timed out")),
    (discord.PrivilegedIntentsRequired(0), EXIT_CONFIG, ("4014", "Privileged Gateway Intents")),
    (None, EXIT_FAILED, ("without an error",)),
])
def test_each_end_names_its_cause(exc: BaseException | None, code: int, words: tuple[str, ...]) -> None:
    fatal = discord_fatal(exc)
    assert fatal.exit_code == code and not fatal.unexpected
    for word in words:
        assert word in fatal.line


def test_an_unforeseen_end_is_marked_for_its_traceback() -> None:
    fatal = discord_fatal(KeyError("shard"))
    assert fatal.unexpected and fatal.exit_code == EXIT_FAILED
    assert "KeyError" in fatal.line
