"""Helpers for the `/video` end-to-end tests: worlds with chosen knobs, sending `/video` as a
member, reading the card, the refusal or the delivered video back from the fake Discord,
restarting the bot on the same database, and checking that bytes are a playable MP4.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bot.app import WanBot
from bot.delivery.ffmpeg import ffmpeg_exe
from cogs.video._status import StatusCards
from tests.e2e.conftest import World, e2e_settings, start_bot, wait_state
from tests.fakes.comfyui import FakeComfyUI
from tests.fakes.discord import (
    FakeDiscord,
    FakeUser,
    FakeWorld,
    InteractionHandle,
    RateLimits,
    StoredMessage,
)
from tests.fakes.discord.runner import running_bot

__all__ = [
    "EPHEMERAL",
    "card_of",
    "cards_of",
    "delivered",
    "job_id_of",
    "playable",
    "refusal_of",
    "restarted",
    "results_of",
    "send_video",
    "shows_done",
    "text_of",
    "user",
    "video_world",
    "wait_state",
]

EPHEMERAL = 1 << 6
_FOOTER = re.compile(r"wanbot #(\d+)")


@contextlib.asynccontextmanager
async def video_world(
    tmp_path: Path,
    *,
    comfy: dict[str, Any] | None = None,
    fake_world: FakeWorld | None = None,
    card_interval: float | None = None,
    rate_limits: RateLimits | None = None,
    **settings: Any,
) -> AsyncIterator[World]:
    """The `world` fixture with knobs: ComfyUI's (`comfy`), the Discord world and its rate
    limits, the card throttle and settings overrides."""
    knobs = {"steps": 3, "step_seconds": 0.01, **(comfy or {})}
    async with FakeComfyUI(**knobs) as fake_comfy, \
            FakeDiscord(fake_world or FakeWorld.default(), rate_limits=rate_limits) as fake_discord:
        values = e2e_settings(tmp_path, fake_comfy.url, fake_discord.token, **settings)
        bot = await start_bot(fake_discord, values)
        async with running_bot(bot, fake_discord):
            world = World(fake_discord, fake_comfy, bot, values)
            if card_interval is not None:
                cards_of(world).interval = card_interval
            yield world


@contextlib.asynccontextmanager
async def restarted(world: World) -> AsyncIterator[WanBot]:
    """Stop the bot (ComfyUI keeps what it has) and run a new one on the same database and
    settings, as a process restart would; `world.bot` is the new bot inside the block."""
    await world.bot.close()
    bot = await start_bot(world.discord, world.settings)
    async with running_bot(bot, world.discord):
        world.bot = bot
        yield bot


def cards_of(world: World) -> StatusCards:
    cog = world.bot.get_cog("Video")
    assert cog is not None
    return cog.cards  # type: ignore[attr-defined, no-any-return]


def user(world: World, name: str) -> FakeUser:
    return world.discord.world.user_named(name)


async def send_video(world: World, options: dict[str, Any] | None = None, *, prompt: str = "a red fox in snow",
                     who: str | FakeUser = "alice", locale: str = "en-US", channel: str = "general",
                     ) -> InteractionHandle:
    """`/video` as a member would type it."""
    member = who if isinstance(who, FakeUser) else user(world, who)
    return await world.discord.slash("video", {"prompt": prompt, **(options or {})}, user=member, locale=locale,
                                     channel=world.discord.world.channel_named(channel))


async def card_of(handle: InteractionHandle, timeout: float = 5.0) -> StoredMessage:
    """The status card: the deferred placeholder once the bot turned it into an embed."""
    await handle.acked(timeout)
    await handle.wait_for_edit(timeout)
    card = handle.original
    assert card is not None and card.embeds, "the placeholder never became a card"
    return card


def job_id_of(message: StoredMessage) -> int:
    footer = (message.embeds[0].get("footer") or {}).get("text", "")
    match = _FOOTER.search(footer)
    assert match, f"no job marker in {footer!r}"
    return int(match[1])


async def refusal_of(handle: InteractionHandle, timeout: float = 5.0) -> str:
    """The private answer to a refused `/video`; asserts it is ephemeral and nothing of the
    refused request stays visible in the channel."""
    ack = await handle.acked(timeout)
    if ack.type == 4:
        assert ack.body["data"]["flags"] & EPHEMERAL
        return str(ack.body["data"]["content"])
    event = await handle.wait_for(lambda e: e.kind == "followup", timeout)
    assert int(event.body.get("flags", 0)) & EPHEMERAL, "a refusal must be ephemeral"
    assert any(e.kind == "delete_original" for e in handle.responses), "the public placeholder must go"
    return str(event.content)


def _is_result_of(message: StoredMessage, job_id: int) -> bool:
    return f"wanbot:delete:{job_id}" in message.custom_ids() and not message.deleted


async def delivered(world: World, job_id: int, timeout: float = 15.0) -> StoredMessage:
    """The message a delivery posted for the job (video or notice)."""
    return await world.discord.wait_for_message(lambda m: _is_result_of(m, job_id), timeout)


def results_of(world: World, job_id: int) -> list[StoredMessage]:
    return [m for m in world.discord.messages.values() if f"wanbot:delete:{job_id}" in m.custom_ids()]


def text_of(message: StoredMessage) -> str:
    parts = [message.content]
    for embed in message.embeds:
        parts += [embed.get("title") or "", embed.get("description") or "", (embed.get("footer") or {}).get("text", "")]
        parts += [f"{f['name']}\n{f['value']}" for f in embed.get("fields") or []]
    return "\n".join(parts)


def shows_done(card: StoredMessage) -> bool:
    """The card's final "done" line, with the link to the video (not the ETA's "ready …")."""
    text = text_of(card)
    return "Done: https://" in text or "完成：https://" in text


def playable(data: bytes) -> tuple[int, int, int]:
    """(width, height, frames) of an MP4 that ffmpeg decodes without a single error."""
    with tempfile.NamedTemporaryFile(suffix=".mp4") as tmp:
        tmp.write(data)
        tmp.flush()
        run = subprocess.run([ffmpeg_exe(), "-hide_banner", "-v", "error", "-i", tmp.name, "-f", "null", "-"],
                             check=False, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0 and not run.stderr.strip(), f"not a playable MP4: {run.stderr[-500:]}"
        info = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", tmp.name, "-map", "0:v:0", "-c", "copy", "-f",
                               "null", "-"], check=False, capture_output=True, text=True, timeout=60).stderr
    size = re.search(r"Video: .*?, (\d{2,5})x(\d{2,5})", info)
    frames = re.findall(r"frame=\s*(\d+)", info)
    assert size and frames, info[-500:]
    return int(size[1]), int(size[2]), int(frames[-1])
