"""The fake gateway: one websocket per shard speaking Discord's gateway protocol in JSON text.

Owns the connection lifecycle discord.py expects: HELLO (op 10) → heartbeats (op 1 → op 11)
→ IDENTIFY (op 2) → READY → one GUILD_CREATE per guild of the shard, or a close frame with
Discord's code and reason when the IDENTIFY is refused (a bad token: 4004; a ``shard`` that
cannot be: 4010; fewer shards than ``required_shards``: 4011; or the code set with
``identify_close_code``, e.g. 4014 for a privileged intent); RESUME (op 6) is always
refused with INVALID_SESSION (op 9, ``false``) so the client identifies again; sequence
numbers on every dispatch.

Sharding as Discord documents it: a session that sends ``shard: [shard_id, num_shards]``
gets the guilds with ``(guild_id >> 22) % num_shards == shard_id`` and their events; events
without a guild (DMs) go to shard 0. ``num_shards`` only routes traffic and limits nothing:
several sessions may identify as the same shard (or with different counts), and each gets
the events its own routing selects — Discord's documented way to hand traffic over to a new
deployment, and why two copies of one bot both receive every interaction of their guilds.

Frames are plain text: discord.py asks for ``zlib-stream`` but only decompresses binary
frames, so text frames bypass the decompressor.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .messages import StoredMessage
from .payloads import client_user_payload, guild_create_payload, member_payload
from .state import FakeState
from .world import shard_of

__all__ = ["FakeGateway", "GatewaySession"]

_log = logging.getLogger(__name__)

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_RESUME = 6
OP_REQUEST_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11
CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_INVALID_SHARD = 4010
CLOSE_SHARDING_REQUIRED = 4011
# The close codes after which Discord's docs say not to reconnect, with the reason text
# Discord sends in the close frame.
CLOSE_REASONS = {
    CLOSE_AUTHENTICATION_FAILED: "Authentication failed.",
    CLOSE_INVALID_SHARD: "Invalid shard.",
    CLOSE_SHARDING_REQUIRED: "Sharding required.",
    4012: "Invalid API version.",
    4013: "Invalid intent(s).",
    4014: "Disallowed intent(s).",
}
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12


@dataclass(eq=False)
class GatewaySession:
    """One identified (or identifying) websocket connection."""

    ws: web.WebSocketResponse
    session_id: str = ""
    shard: tuple[int, int] = (0, 1)
    sharded: bool = False  # the client sent ``shard`` in IDENTIFY (AutoShardedClient does)
    intents: int = 0
    seq: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send_op(self, op: int, data: Any) -> None:
        async with self.send_lock:
            await self.ws.send_str(json.dumps({"op": op, "d": data, "s": None, "t": None}))

    async def dispatch(self, event: str, data: dict[str, Any]) -> int:
        """Send a DISPATCH with the next sequence number (assigned under the send lock)."""
        async with self.send_lock:
            self.seq += 1
            frame = {"op": OP_DISPATCH, "d": data, "s": self.seq, "t": event}
            await self.ws.send_str(json.dumps(frame))
            return self.seq

    def handles_guild(self, guild_id: int | None) -> bool:
        shard_id, shard_count = self.shard
        if guild_id is None:  # DMs go to shard 0, as on Discord
            return shard_id == 0
        return shard_of(guild_id, shard_count) == shard_id


class FakeGateway:
    """All gateway sessions, their handshake, and dispatching events to the right shard."""

    def __init__(self, state: FakeState, *, token: str, heartbeat_interval_ms: int) -> None:
        self._state = state
        self._token = token
        self._heartbeat_interval_ms = heartbeat_interval_ms
        self.url = ""
        # Set by ``FakeDiscord.refuse_identify``: every IDENTIFY is answered with this close code.
        self.identify_close_code: int | None = None
        # Set by ``FakeDiscord.advertise_gateway``: what GET /gateway(/bot) hands out instead.
        self.advertised_url: str | None = None
        # Set by ``FakeDiscord.recommend_shards`` / ``require_shards``: the ``shards`` of GET
        # /gateway/bot, and the fewest a session may identify with (Discord's 4011 when the
        # bot's guilds would overflow a shard).
        self.recommended_shards = 1
        self.required_shards = 1
        self.sessions: list[GatewaySession] = []
        self.identify_count = 0
        self.resume_count = 0
        self.heartbeat_count = 0

    # -- public: used by FakeDiscord -------------------------------------------------------

    @property
    def advertised(self) -> str:
        """The URL clients are told to connect to."""
        return self.advertised_url or self.url

    async def sessions_for(self, guild_id: int | None, timeout: float) -> list[GatewaySession]:
        """Every ready session that ``guild_id``'s events go to, waiting until there is one
        (e.g. through a reconnect)."""

        def probe() -> list[GatewaySession] | None:
            live = [s for s in self.sessions if s.ready.is_set() and not s.ws.closed and s.handles_guild(guild_id)]
            return live or None

        return await self._state.feed.wait_until(probe, timeout, "a ready gateway session")

    async def wait_for_identify(self, count: int, timeout: float) -> None:
        """Until ``count`` IDENTIFYs have been answered with READY and GUILD_CREATEs."""
        ready_at_least = lambda: True if self.identify_count >= count else None
        await self._state.feed.wait_until(ready_at_least, timeout, f"IDENTIFY number {count}")

    async def publish(self, guild_id: int | None, event: str, data: dict[str, Any], intent: int = 0) -> None:
        """Dispatch an event to the live session owning ``guild_id`` if it asked for ``intent``."""
        for session in list(self.sessions):
            wanted = intent == 0 or session.intents & intent
            if session.ready.is_set() and not session.ws.closed and session.handles_guild(guild_id) and wanted:
                await session.dispatch(event, data)

    async def announce_message(self, event: str, message: StoredMessage) -> None:
        """Wake test waiters, then send MESSAGE_CREATE/UPDATE/DELETE as Discord would.

        Ephemeral messages produce no gateway event (only their recipient sees them).
        """
        await self._state.changed()
        if message.ephemeral:
            return
        if event == "MESSAGE_DELETE":
            data: dict[str, Any] = {"id": str(message.id), "channel_id": str(message.channel_id)}
            if message.guild_id is not None:
                data["guild_id"] = str(message.guild_id)
        else:
            data = self._state.message_payload(message)
        intent = INTENT_GUILD_MESSAGES if message.guild_id is not None else INTENT_DIRECT_MESSAGES
        await self.publish(message.guild_id, event, data, intent)

    async def disconnect(self, code: int = 4000) -> None:
        """Close every session as a gateway outage would; discord.py tries to RESUME next."""
        for session in list(self.sessions):
            session.ready.clear()
            await session.ws.close(code=code, message=b"fake gateway disconnect")

    async def close_all(self) -> None:
        await self.disconnect(code=1001)

    # -- the websocket handler -------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        session = GatewaySession(ws)
        self.sessions.append(session)
        try:
            await session.send_op(OP_HELLO, {"heartbeat_interval": self._heartbeat_interval_ms})
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    await self._on_frame(session, json.loads(message.data))
        finally:
            self.sessions.remove(session)
            await self._state.changed()
        return ws

    async def _on_frame(self, session: GatewaySession, frame: dict[str, Any]) -> None:
        op, data = frame.get("op"), frame.get("d")
        if op == OP_HEARTBEAT:
            self.heartbeat_count += 1
            await session.send_op(OP_HEARTBEAT_ACK, None)
        elif op == OP_IDENTIFY:
            await self._identify(session, data or {})
        elif op == OP_RESUME:
            # Refusing every resume keeps the fake simple and still exercises discord.py's
            # full reconnect path (op 9 false → fresh IDENTIFY → READY → GUILD_CREATE).
            self.resume_count += 1
            await session.send_op(OP_INVALID_SESSION, False)
        elif op == OP_REQUEST_MEMBERS:
            await self._members_chunk(session, data or {})
        else:
            _log.debug("fake gateway ignores op %s", op)

    async def _identify(self, session: GatewaySession, data: dict[str, Any]) -> None:
        shard = _shard_of_identify(data.get("shard"))
        refusal = self._refusal(data, shard)
        if refusal is not None:
            reason = CLOSE_REASONS.get(refusal, "Unknown error.")
            await session.ws.close(code=refusal, message=reason.encode())
            return
        assert shard is not None
        session.session_id = secrets.token_hex(16)
        session.intents = int(data.get("intents", 0))
        session.shard = shard
        session.sharded = data.get("shard") is not None
        guilds = [g for g in self._state.world.guilds if session.handles_guild(g.id)]
        await session.dispatch("READY", self._ready_payload(session, [g.id for g in guilds]))
        for guild in guilds:
            await session.dispatch("GUILD_CREATE", guild_create_payload(self._state.world, guild))
        session.ready.set()
        self.identify_count += 1
        await self._state.changed()

    def _refusal(self, data: dict[str, Any], shard: tuple[int, int] | None) -> int | None:
        """The close code an IDENTIFY gets instead of READY, in Discord's order of checks."""
        if data.get("token") != self._token:
            return CLOSE_AUTHENTICATION_FAILED
        if shard is None:
            return CLOSE_INVALID_SHARD
        if shard[1] < self.required_shards:
            return CLOSE_SHARDING_REQUIRED
        return self.identify_close_code

    def _ready_payload(self, session: GatewaySession, guild_ids: list[int]) -> dict[str, Any]:
        world = self._state.world
        payload: dict[str, Any] = {
            "v": 10,
            "user": client_user_payload(world.bot),
            "guilds": [{"id": str(g), "unavailable": True} for g in guild_ids],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.url,
            "application": {"id": str(world.application_id), "flags": world.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["fake"],
            "_trace": ["fake-discord"],
        }
        if session.sharded:  # AutoShardedClient reads READY["shard"] unconditionally
            payload["shard"] = list(session.shard)
        return payload

    async def _members_chunk(self, session: GatewaySession, data: dict[str, Any]) -> None:
        """Answer member requests from the world so ``guild.chunk()`` cannot hang."""
        guild = self._state.world.get_guild(int(data.get("guild_id", 0)))
        if guild is None:
            return
        query = (data.get("query") or "").lower()
        wanted_ids = {int(u) for u in data.get("user_ids") or []}
        members = [
            member_payload(guild, m.user)
            for m in guild.members
            if (not wanted_ids or m.user.id in wanted_ids) and m.user.name.lower().startswith(query)
        ]
        chunk = {"guild_id": str(guild.id), "members": members, "chunk_index": 0, "chunk_count": 1}
        if data.get("nonce"):
            chunk["nonce"] = data["nonce"]
        await session.dispatch("GUILD_MEMBERS_CHUNK", chunk)


def _shard_of_identify(value: Any) -> tuple[int, int] | None:
    """IDENTIFY's ``shard`` as (shard_id, num_shards): absent is (0, 1), one session with
    every guild; None when it names a shard that cannot exist (Discord closes with 4010)."""
    if value is None:
        return (0, 1)
    if not (isinstance(value, list) and len(value) == 2 and all(type(v) is int for v in value)):
        return None
    shard_id, count = value
    return (shard_id, count) if 0 <= shard_id < count else None
