"""The Discord client: `WanBot`, the process that `wanbot run` starts.

The bot owns the `Services` (database, queue, dispatcher, backends) for its lifetime: they are
started in `setup_hook` (after login, before the gateway connects, so persistent buttons and
the dispatcher are ready before the first interaction) and closed in `close`. Everything the
members see lives in the `cogs` extension, loaded by name so that `bot/` never imports `cogs/`;
the extension starts the services with its delivery and status cards (`Services.start`).

After loading the extension, the command tree is synced — to the guilds of
WANBOT_DISCORD_GUILDS (commands show up at once) or globally — but only when the translated
definitions changed since the last sync: Discord rate-limits syncs (a couple of
hundred a day), and a restart loop must not burn them. The hash of what was last synced per
scope lives in a small JSON file in the data folder, `WANBOT_DATA_DIR` (`CommandSync`).

Client defaults: the guilds intent only and no message cache (a slash-command bot reads no
messages), a bounded HTTP connection pool, interaction tokens blanked out of discord.py's
debug logs (they sit in webhook URLs), and no warning about the voice libraries (voice is
never used).

Shards: by default one process connects every shard, as many as Discord recommends
(GET /gateway/bot). WANBOT_SHARD_COUNT and WANBOT_SHARD_IDS split them between processes: each
connects only its own shards and receives only the interactions of their guilds; delivery and
card edits go through the REST API with the bot token, which needs no particular shard.

Start-up fails instead of waiting: discord.py retries a failed first gateway connection every
5 s for ever, so `launch_shard` connects once and raises `GatewayUnreachable` (a shard that
drops later is still reconnected by discord.py's own backoff). Shutdown runs once, in order:
stop dispatching (with a grace for posts under way, while Discord is still connected), then
disconnect, then close the services and the HTTP connection pool.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands
from discord.gateway import DiscordWebSocket, ReconnectWebSocket
from discord.shard import Shard

from bot.fatal import GatewayUnreachable
from bot.services import Services

__all__ = ["EXTENSION", "SYNC_STATE_FILE", "CommandSync", "WanBot"]

log = logging.getLogger(__name__)

EXTENSION = "cogs"
SYNC_STATE_FILE = "command-sync.json"
# A sync held up by Discord's rate limit must not hold up the bot: after this long it is
# abandoned (logged) and the scopes not yet synced are tried again at the next start.
SYNC_TIMEOUT = 30.0
_GLOBAL = "global"
# Concurrent HTTP connections to Discord. discord.py's default is unbounded: a burst of
# interactions then opens one new (TLS) connection per request instead of reusing kept-alive
# ones; against the fake, hundreds of simultaneous connects overflowed the listen backlog
# and waited out 1 s SYN retries.
HTTP_CONNECTIONS = 64


_TOKEN_IN_URL = re.compile(r"(/(?:webhooks|interactions)/\d+/)[A-Za-z0-9_.\-]{16,}")


class _HideInteractionTokens(logging.Filter):
    """discord.py logs request URLs at DEBUG, and interaction URLs carry the interaction's
    token (valid 15 minutes, enough to post as the bot in that channel): blank it out."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = _TOKEN_IN_URL.sub(r"\1***", message)
        if hidden != message:
            record.msg, record.args = hidden, None
        return True


def _hide_interaction_tokens() -> None:
    for name in ("discord.http", "discord.webhook.async_"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _HideInteractionTokens) for f in logger.filters):
            logger.addFilter(_HideInteractionTokens())


def _connector() -> aiohttp.TCPConnector | None:
    """A bounded connection pool, when built inside the running loop (as aiohttp wants)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return None
    return aiohttp.TCPConnector(limit=HTTP_CONNECTIONS)


def _bot_intents() -> discord.Intents:
    """Guilds only: slash commands and buttons arrive whatever the intents, and message or
    typing events would only cost CPU on every message of every channel the bot can see."""
    intents = discord.Intents.none()
    intents.guilds = True
    return intents


class WanBot(commands.AutoShardedBot):
    """discord.py's sharded bot with wanbot's services attached.

    No privileged intents: slash commands and buttons need none, and a bot without them is
    invited without extra review. `sync_commands=False` skips the start-up sync (for tools
    that only need a logged-in client).
    """

    def __init__(self, services: Services, *, sync_commands: bool = True, **options: Any) -> None:
        # discord.py warns at construction that PyNaCl and davey (voice) are missing; this bot
        # never joins a voice channel. These two flags are discord.py's own switch for exactly
        # those two warnings: nothing else on its logger is hidden.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        options.setdefault("intents", _bot_intents())
        options.setdefault("allowed_mentions", discord.AllowedMentions.none())
        # The bot reads no message content and keeps no message cache: interactions carry
        # the message they were used on.
        options.setdefault("max_messages", None)
        settings = services.settings
        options.setdefault("shard_count", settings.shard_count)
        options.setdefault("shard_ids", settings.shard_ids)
        if "connector" not in options:
            options["connector"] = _connector()
        # A prefix nobody types: every command is a slash command.
        super().__init__(command_prefix=commands.when_mentioned, help_command=None, **options)
        _hide_interaction_tokens()
        self.services = services
        self.sync_commands = sync_commands
        self._shutdown: asyncio.Task[None] | None = None

    async def setup_hook(self) -> None:
        await self.load_extension(EXTENSION)
        if self.sync_commands:
            settings = self.services.settings
            state = settings.local_dir / SYNC_STATE_FILE
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel (a stop
                # during start-up) that lands as the sync completes.
                async with asyncio.timeout(SYNC_TIMEOUT):
                    await CommandSync(self, state, settings.discord_guilds).run()
            except TimeoutError:
                log.warning("command sync still waiting after %.0f s: given up until the next start", SYNC_TIMEOUT)

    async def launch_shard(self, gateway: yarl.URL, shard_id: int, *, initial: bool = False) -> None:
        """Connect one shard at start-up, once; raises GatewayUnreachable when that fails.

        discord.py's own version logs a traceback and retries every 5 s for ever, so a bot
        behind a firewall looks alive and never says why it is not. The rest is discord.py's
        code as is, including its private shard table and event queue (pinned to 2.x)."""
        try:
            async with asyncio.timeout(self.shard_connect_timeout):
                ws = await DiscordWebSocket.from_client(self, initial=initial, gateway=gateway, shard_id=shard_id)
        except (OSError, aiohttp.ClientError, TimeoutError, ReconnectWebSocket) as exc:
            raise GatewayUnreachable(gateway.host or str(gateway), exc) from exc
        shard = Shard(ws, self, self._AutoShardedClient__queue.put_nowait)  # type: ignore[attr-defined]
        self._AutoShardedClient__shards[shard_id] = shard  # type: ignore[attr-defined]
        shard.launch()

    async def close(self) -> None:
        """discord.py's close (also called by discord.py itself when the gateway ends for
        good): `shutdown` with no grace."""
        await self.shutdown(grace=0.0)

    async def shutdown(self, grace: float) -> None:
        """Stop dispatching first (no delivery or card update starts after this; those under
        way get `grace` seconds), then let discord.py unload the cogs (which cancel their
        pending edits) and disconnect, then close the services and the connection pool.

        Runs once; later calls wait for the first. Shielded: the first caller may be
        discord.py's own connect task, which the runner cancels on the way out."""
        if self._shutdown is None:
            self._shutdown = asyncio.create_task(self._shut_down(grace), name="wanbot-shutdown")
        await asyncio.shield(self._shutdown)

    async def _shut_down(self, grace: float) -> None:
        try:
            await self.services.stop(grace)
        finally:
            try:
                await super().close()
            finally:
                await self.services.close()
                # The pool is closed with discord.py's session, which exists once login began.
                connector = self.http.connector
                if isinstance(connector, aiohttp.BaseConnector) and not connector.closed:
                    await connector.close()


def _digest(application_id: int, payload: list[dict[str, Any]]) -> str:
    text = json.dumps([application_id, payload], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class CommandSync:
    """Sync the command tree where it changed, remembering what was synced in `state_path`.

    With `guild_ids`, global commands are copied to each guild and synced there, and the
    global scope is emptied (otherwise members would see every command twice); without, the
    tree is synced globally. A failed sync is logged and not remembered, so the next start
    tries again; the bot keeps running with the commands Discord already has.
    """

    def __init__(self, bot: commands.Bot, state_path: Path, guild_ids: Sequence[int] = ()) -> None:
        self.bot = bot
        self.tree: app_commands.CommandTree[Any] = bot.tree
        self.state_path = state_path
        self.guild_ids = list(dict.fromkeys(guild_ids))

    async def run(self) -> list[str]:
        """Sync every scope whose definitions changed; returns the scopes synced."""
        application_id = self.bot.application_id
        if application_id is None:
            log.warning("no application id yet: commands not synced")
            return []
        known = self._load(application_id)
        wanted = await self._wanted(application_id)
        synced = []
        for scope, (guild, payload_hash) in wanted.items():
            if known.get(scope) == payload_hash:
                continue
            if await self._sync(scope, guild):
                known[scope] = payload_hash
                synced.append(scope)
                self._save(application_id, known)  # after each: an abandoned run keeps its progress
        if synced:
            log.info("commands synced: %s", ", ".join(synced))
        else:
            log.info("commands unchanged since the last sync: not synced")
        return synced

    async def _wanted(self, application_id: int) -> dict[str, tuple[discord.Object | None, str]]:
        """Each scope with its guild (None: global) and the hash of what it should hold."""
        if not self.guild_ids:
            return {_GLOBAL: (None, _digest(application_id, await self._payload(None)))}
        wanted: dict[str, tuple[discord.Object | None, str]] = {_GLOBAL: (None, _digest(application_id, []))}
        for guild_id in self.guild_ids:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            wanted[f"guild:{guild_id}"] = (guild, _digest(application_id, await self._payload(guild)))
        return wanted

    async def _payload(self, guild: discord.Object | None) -> list[dict[str, Any]]:
        """What `tree.sync` would send for this scope, translations included."""
        translator = self.tree.translator
        found = self.tree.get_commands(guild=guild)
        if translator is None:
            return [command.to_dict(self.tree) for command in found]
        return [await command.get_translated_payload(self.tree, translator) for command in found]

    async def _sync(self, scope: str, guild: discord.Object | None) -> bool:
        try:
            if guild is None and self.guild_ids:
                # Guild mode: global commands would show twice; the tree keeps them for dispatch.
                assert self.bot.application_id is not None
                await self.bot.http.bulk_upsert_global_commands(self.bot.application_id, payload=[])
            else:
                await self.tree.sync(guild=guild)
        except discord.HTTPException as exc:
            log.error("syncing commands (%s) failed: %s/%s %s", scope, exc.status, exc.code, exc.text)
            return False
        return True

    def _load(self, application_id: int) -> dict[str, str]:
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(state, dict) or state.get("application_id") != application_id:
            return {}  # another application (a new bot token): its commands are unknown
        scopes = state.get("scopes")
        return dict(scopes) if isinstance(scopes, dict) else {}

    def _save(self, application_id: int, scopes: dict[str, str]) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        tmp.write_text(json.dumps({"application_id": application_id, "scopes": scopes}, indent=1), encoding="utf-8")
        os.replace(tmp, self.state_path)  # atomic: a crash never leaves half a file
