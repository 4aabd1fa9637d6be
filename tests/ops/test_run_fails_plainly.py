"""`wanbot run` when it cannot work: it ends within seconds with one readable line and a
non-zero exit (so Docker or Kubernetes restarts it), never a hang or a traceback; Ctrl-C during
start-up ends it cleanly.

Every case runs the real process (`python -m bot run`) against the fake Discord and the
ComfyUI emulator. The 10 s bounds prove "does not hang", they measure no speed.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fakes.comfyui import FakeComfyUI
from tests.fakes.discord import FakeDiscord, FakeWorld
from tests.ops._process import BotProcess, SilentServer, free_port

HANG_BOUND = 10.0
# What an unclean end prints besides a traceback: asyncio's and aiohttp's complaints about
# tasks, sessions and connectors nobody closed, and threads that outlived the event loop.
UNCLEAN = ("Traceback", "Exception ignored", "Unclosed client session", "Unclosed connector",
           "Task was destroyed", "Event loop is closed")


@dataclass
class Fakes:
    discord: FakeDiscord
    comfy: FakeComfyUI
    tmp: Path

    def bot(self, *, discord_url: str | None = None, token: str | None = None, comfy_url: str | None = None,
            **extra: str) -> BotProcess:
        return BotProcess.configure(self.tmp, discord_url=discord_url or self.discord.url,
                                    discord_token=token or self.discord.token, comfy_url=comfy_url or self.comfy.url,
                                    **extra)


@pytest.fixture
async def fakes(tmp_path: Path) -> AsyncIterator[Fakes]:
    async with FakeComfyUI() as comfy, FakeDiscord(FakeWorld.default()) as discord_fake:
        yield Fakes(discord_fake, comfy, tmp_path)


async def ends(bot: BotProcess) -> int:
    """Start `bot` and wait for it to end by itself, within the hang bound."""
    await bot.start()
    try:
        return await bot.exited(HANG_BOUND)
    finally:
        await bot.kill()


def assert_clean(bot: BotProcess) -> None:
    for mark in UNCLEAN:
        assert mark not in bot.text, bot.tail


def the_one_line(bot: BotProcess, *secrets: str) -> str:
    """The single error line of a plain exit; nothing unclean, no secret anywhere."""
    assert_clean(bot)
    for secret in secrets:
        assert secret not in bot.text
    (line,) = bot.lines_at("error", "critical")
    return line


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


# -- Discord cannot be reached or refuses the bot ---------------------------------------------


async def test_discord_refusing_connections_ends_the_process(fakes: Fakes) -> None:
    bot = fakes.bot(discord_url=closed_port_url())
    assert await ends(bot) == 1, bot.tail
    line = the_one_line(bot, fakes.discord.token)
    assert "cannot reach Discord" in line and "connection refused" in line


async def test_discord_name_not_resolving_ends_the_process(fakes: Fakes) -> None:
    bot = fakes.bot(discord_url="http://discord.invalid")
    assert await ends(bot) == 1, bot.tail
    line = the_one_line(bot, fakes.discord.token)
    assert "cannot reach Discord" in line and "discord.invalid" in line and "DNS" in line


async def test_a_rejected_token_ends_with_exit_2_and_says_what_to_do(fakes: Fakes) -> None:
    wrong = "MTIz.wrong-token.abcdefghijklmnop"
    bot = fakes.bot(token=wrong)
    assert await ends(bot) == 2, bot.tail
    line = the_one_line(bot, wrong, fakes.discord.token)
    assert "DISCORD_TOKEN" in line and "401" in line and "Reset Token" in line
    assert [e.status for e in fakes.discord.errors] == [401]  # one try: a bad token stays bad


@pytest.mark.parametrize(("close_code", "exit_code", "words"), [
    (4004, 2, ("4004", "DISCORD_TOKEN")),
    (4013, 2, ("4013", "intents")),
    (4014, 2, ("4014", "Privileged Gateway Intents")),
    (4011, 1, ("4011", "shards")),
])
async def test_a_gateway_refusal_ends_the_process(fakes: Fakes, close_code: int, exit_code: int,
                                                  words: tuple[str, ...]) -> None:
    fakes.discord.refuse_identify(close_code)
    bot = fakes.bot()
    assert await ends(bot) == exit_code, bot.tail
    line = the_one_line(bot, fakes.discord.token)
    for word in words:
        assert word in line
    assert fakes.discord.gateway.identify_count == 0


async def test_too_few_fixed_shards_end_with_exit_2_naming_the_setting(fakes: Fakes) -> None:
    """Discord wants more shards than WANBOT_SHARD_COUNT gives: a restart would meet the same
    4011, so it is a setting to change (exit 2), not an outage to wait out."""
    fakes.discord.require_shards(4)
    bot = fakes.bot(WANBOT_SHARD_COUNT="2", WANBOT_SHARD_IDS="1")
    assert await ends(bot) == 2, bot.tail
    line = the_one_line(bot, fakes.discord.token)
    assert "4011" in line and "WANBOT_SHARD_COUNT" in line and "2" in line


async def test_an_unreachable_gateway_ends_the_process_instead_of_retrying(fakes: Fakes) -> None:
    fakes.discord.advertise_gateway(closed_port_url().replace("http://", "ws://") + "/gateway")
    bot = fakes.bot()
    assert await ends(bot) == 1, bot.tail
    line = the_one_line(bot, fakes.discord.token)
    assert "cannot reach the Discord gateway" in line and "connection refused" in line


async def test_the_gateway_closing_for_good_after_ready_ends_the_process(fakes: Fakes) -> None:
    bot = fakes.bot()
    await bot.start()
    try:
        await bot.wait_healthy()
        await fakes.discord.disconnect_gateway(4010)  # "Invalid shard": discord.py does not reconnect
        code = await bot.exited(HANG_BOUND)
    finally:
        await bot.kill()
    assert code == 1, bot.tail
    assert "4010" in the_one_line(bot, fakes.discord.token)


async def test_the_cause_stands_in_the_log_records_message(fakes: Fakes) -> None:
    fakes.discord.refuse_identify(4014)
    bot = fakes.bot(WANBOT_LOG_FORMAT="json")
    assert await ends(bot) == 2, bot.tail
    records = [json.loads(line) for line in bot.text.splitlines() if line.startswith("{")]
    (fatal,) = [r for r in records if r["level"] in ("error", "critical")]
    assert "4014" in fatal["msg"] and "exc" not in fatal


# -- start-up problems outside settings validation ---------------------------------------------


async def test_a_database_path_that_is_a_directory_ends_with_exit_2(fakes: Fakes) -> None:
    folder = fakes.tmp / "db-folder"
    folder.mkdir()
    bot = fakes.bot(WANBOT_DB=str(folder))
    assert await ends(bot) == 2, bot.tail
    line = the_one_line(bot, fakes.discord.token)
    assert "WANBOT_DB" in line and "directory" in line and str(folder) in line


async def test_a_database_folder_that_cannot_be_created_ends_with_exit_2(fakes: Fakes) -> None:
    blocker = fakes.tmp / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    bot = fakes.bot(WANBOT_DB=str(blocker / "wanbot.db"))
    assert await ends(bot) == 2, bot.tail
    line = the_one_line(bot, fakes.discord.token)
    assert "WANBOT_DB" in line and str(blocker) in line


async def test_an_outputs_folder_that_cannot_be_written_ends_with_exit_2(fakes: Fakes) -> None:
    (fakes.tmp / "outputs").write_text("a file where the outputs folder should be")
    bot = fakes.bot()
    assert await ends(bot) == 2, bot.tail
    line = the_one_line(bot, fakes.discord.token)
    assert "WANBOT_DB" in line and "outputs" in line and "is a file" in line


async def test_an_unreachable_postgresql_ends_with_exit_1_and_no_password(fakes: Fakes) -> None:
    url = f"postgresql://wanbot:hunter2pw@127.0.0.1:{free_port()}/wanbot"
    bot = fakes.bot(WANBOT_DB=url)
    assert await ends(bot) == 1, bot.tail  # the server may come back: a restart may help
    line = the_one_line(bot, fakes.discord.token, "hunter2pw")
    assert "WANBOT_DB" in line and "unavailable" in line and "127.0.0.1" in line


async def test_a_health_port_in_use_ends_with_exit_2(fakes: Fakes) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        bot = fakes.bot(WANBOT_HTTP_PORT=str(taken.getsockname()[1]))
        assert await ends(bot) == 2, bot.tail
    line = the_one_line(bot, fakes.discord.token)
    assert "WANBOT_HTTP_PORT" in line and "in use" in line
    assert fakes.discord.requests == []  # it stopped before logging in


# -- Ctrl-C during start-up ------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["logging in", "connecting to the gateway", "checking the backends"])
async def test_ctrl_c_during_start_up_exits_cleanly(fakes: Fakes, stage: str) -> None:
    """The process waits on a peer that accepted the connection and never answers; Ctrl-C."""
    async with SilentServer() as silent:
        if stage == "logging in":
            bot = fakes.bot(discord_url=silent.url)
        elif stage == "connecting to the gateway":
            fakes.discord.advertise_gateway(silent.url.replace("http://", "ws://") + "/gateway")
            bot = fakes.bot()
        else:
            bot = fakes.bot(comfy_url=silent.url)
        await bot.start()
        try:
            await asyncio.wait_for(silent.connected.wait(), HANG_BOUND)
            code = await bot.terminate(HANG_BOUND, sig=signal.SIGINT)
        finally:
            await bot.kill()
    assert code == 0, bot.tail
    assert_clean(bot)
    assert bot.lines_at("error", "critical") == [] and "stopped cleanly" in bot.text
    assert fakes.discord.gateway.identify_count == 0  # it was still starting
