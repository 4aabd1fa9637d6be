"""``FakeDiscord``: the aiohttp server, and the API tests drive and inspect it with.

Owns the server lifecycle (127.0.0.1, a free port), the middleware that checks the bot
token, renders errors in Discord's shape and logs every request and error, and the test
driver: sending slash commands, clicks, autocomplete and modal submits over the gateway,
fast-forwarding Discord's clocks, dropping the gateway, and reading the world back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from .gateway import FakeGateway
from .handles import InteractionHandle, InteractionKind
from .interactions import InteractionFactory
from .messages import StoredMessage
from .payloads import guild_channel_payload
from .ratelimits import RateLimiter, RateLimits, Verdict
from .records import CommandSync, ErrorRecord, RequestRecord
from .rest import API_PREFIX, BotRoutes
from .state import ChannelTarget, FakeState
from .webhooks import InteractionRoutes
from .wire import DiscordApiError
from .world import FakeChannel, FakeGuild, FakeUser, FakeWorld

__all__ = ["FakeDiscord"]

_log = logging.getLogger(__name__)
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Interaction routes authenticate by the token in the URL, not the bot token.
_TOKEN_IN_URL = (f"{API_PREFIX}/interactions/", f"{API_PREFIX}/webhooks/")
_UPLOAD_CEILING = 1 << 30  # aiohttp's 1 MiB default would answer 413 before our own check

ChannelRef = FakeChannel | int
UserRef = FakeUser | int


class FakeDiscord:
    """A fake Discord REST API and gateway for an unmodified discord.py client.

    Use as ``async with FakeDiscord() as fake:``; point discord.py at ``fake.url`` with
    ``point_discord_py_at`` (or the ``running_bot`` helper) and log in with ``fake.token``.
    ``ack_window`` (3 s) and ``token_lifetime`` (15 min) are Discord's interaction clocks;
    both can be changed on the instance at any time and apply to later interactions.
    ``rate_limits`` turns Discord's rate limits on (``RateLimits()``: Discord's figures);
    ``rate_limited`` lists the 429s answered.
    """

    def __init__(
        self,
        world: FakeWorld | None = None,
        *,
        token: str = "fake-bot-token",
        ack_window: float = 3.0,
        token_lifetime: float = 15 * 60.0,
        heartbeat_interval_ms: int = 41_250,
        dispatch_timeout: float = 10.0,
        rate_limits: RateLimits | None = None,
    ) -> None:
        self.world = world or FakeWorld.default()
        self.token = token
        self.dispatch_timeout = dispatch_timeout
        self.state = FakeState(self.world, ack_window=ack_window, token_lifetime=token_lifetime)
        # Off unless asked: most tests are about something else and would only get slower.
        self.rate_limiter = RateLimiter(rate_limits, self.state.clock.now) if rate_limits is not None else None
        self.gateway = FakeGateway(self.state, token=token, heartbeat_interval_ms=heartbeat_interval_ms)
        self._factory = InteractionFactory(self.state)
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=_UPLOAD_CEILING)
        app.router.add_get("/gateway", self.gateway.handle)
        BotRoutes(self.state, self.gateway).register(app)
        InteractionRoutes(self.state, self.gateway).register(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self.state.base_url = self.url
        self.gateway.url = f"ws://{host}:{port}/gateway"

    async def close(self) -> None:
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_url(self) -> str:
        """What ``discord.http.Route.BASE`` must be."""
        return self.url + API_PREFIX

    # -- settings that may change mid-test ----------------------------------------------------

    @property
    def ack_window(self) -> float:
        return self.state.ack_window

    @ack_window.setter
    def ack_window(self, seconds: float) -> None:
        self.state.ack_window = seconds

    @property
    def token_lifetime(self) -> float:
        return self.state.token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, seconds: float) -> None:
        self.state.token_lifetime = seconds

    def advance_clock(self, seconds: float) -> None:
        """Fast-forward Discord's clocks (ack windows and token lifetimes) by ``seconds``."""
        self.state.clock.advance(seconds)

    # -- driving the bot -----------------------------------------------------------------------

    async def slash(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        user: UserRef | None = None,
        guild: FakeGuild | None = None,
        channel: ChannelRef | None = None,
        locale: str = "en-US",
        option_types: dict[str, int] | None = None,
        ack_window: float | None = None,
    ) -> InteractionHandle:
        """Send a slash command as a user would; ``name`` may be ``"group sub"``.

        Options are typed from the definition the bot synced (else ``option_types``, else
        inferred from the values). Defaults: the first guild, its first channel, its first
        human member. ``channel`` may be a DM channel id (see ``dm_channel``).
        """
        target, who = self._where(guild, channel, user)
        handle = self._factory.new_handle(InteractionKind.APPLICATION_COMMAND, who, target, ack_window=ack_window)
        data = self._factory.command_data(name, options or {}, target.guild, option_types=option_types)
        await self._send(handle, target, data, locale)
        return handle

    async def autocomplete(
        self,
        name: str,
        options: dict[str, Any],
        *,
        focused: str,
        user: UserRef | None = None,
        guild: FakeGuild | None = None,
        channel: ChannelRef | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """Send an autocomplete request; the bot's choices land in ``handle.choices``."""
        target, who = self._where(guild, channel, user)
        handle = self._factory.new_handle(InteractionKind.AUTOCOMPLETE, who, target)
        data = self._factory.command_data(name, options, target.guild, focused=focused)
        await self._send(handle, target, data, locale)
        return handle

    async def click(
        self,
        message_id: int,
        custom_id: str,
        *,
        user: UserRef | None = None,
        values: list[str] | None = None,
        locale: str = "en-US",
        ack_window: float | None = None,
    ) -> InteractionHandle:
        """Use a component (button, or select with ``values``) on a message the bot posted."""
        message = self.state.messages.get(message_id)
        if message is None or message.deleted:
            raise LookupError(f"no live message {message_id} in the fake")
        data = self._factory.component_data(message, custom_id, values)
        target, who = self._where(None, message.channel_id, user)
        handle = self._factory.new_handle(
            InteractionKind.MESSAGE_COMPONENT, who, target, ack_window=ack_window, message_id=message.id
        )
        await self._send(handle, target, data, locale, message)
        return handle

    async def submit_modal(
        self, shown_by: InteractionHandle, values: dict[str, Any] | None = None, *, locale: str | None = None,
        ack_window: float | None = None,
    ) -> InteractionHandle:
        """Submit the modal the bot answered ``shown_by`` with (callback type 9), as the member
        who opened it: ``values`` by input custom_id, the rest as pre-filled. The member's
        language is the one they opened it in unless ``locale`` says otherwise. Raises
        ValueError for what the member's client would refuse to send (``modals.py``)."""
        if shown_by.modal is None:
            raise LookupError(f"interaction {shown_by.id} was not answered with a modal")
        data = self._factory.modal_data(shown_by.modal, values or {})
        target = self.state.resolve_channel(shown_by.channel_id)
        handle = self._factory.new_handle(InteractionKind.MODAL_SUBMIT, shown_by.user, target, ack_window=ack_window,
                                          message_id=shown_by.message_id)
        # Opened from a component, the submit carries that message, as Discord's does.
        message = self.state.messages.get(shown_by.message_id or 0)
        await self._send(handle, target, data, locale or shown_by.payload.get("locale", "en-US"), message)
        return handle

    def dm_channel(self, user: UserRef) -> int:
        """The id of the bot's DM channel with ``user`` (for ``slash(channel=...)``)."""
        return self.state.dm_channel_for(self._user(user))

    async def disconnect_gateway(self, code: int = 4000) -> None:
        """Drop every gateway connection; discord.py resumes, is refused, re-identifies."""
        await self.gateway.disconnect(code)

    def refuse_identify(self, close_code: int | None) -> None:
        """Answer every later IDENTIFY by closing the gateway with ``close_code`` (and
        Discord's reason text), as Discord does for 4004 (authentication failed), 4011
        (sharding required), 4013 (invalid intents) or 4014 (disallowed intents); None
        accepts IDENTIFYs again. REST keeps answering, as it does on Discord."""
        self.gateway.identify_close_code = close_code

    def recommend_shards(self, count: int) -> None:
        """The ``shards`` GET /gateway/bot recommends (Discord: about one per 1,000 guilds);
        discord.py's AutoShardedClient starts that many when it is not given a count."""
        self.gateway.recommended_shards = count

    def require_shards(self, count: int) -> None:
        """Close with 4011 (sharding required) every IDENTIFY whose ``num_shards`` is below
        ``count`` (an unsharded session counts as 1): Discord's answer when one shard would
        hold more than 2,500 guilds. Also raises the recommendation to at least ``count``."""
        self.gateway.required_shards = count
        self.gateway.recommended_shards = max(self.gateway.recommended_shards, count)

    def advertise_gateway(self, url: str | None) -> None:
        """The gateway URL that GET /gateway and /gateway/bot hand out (Discord picks it);
        None restores the fake's own. An unreachable URL reproduces a gateway that REST
        users can reach but websockets cannot (a firewall, a proxy without websockets)."""
        self.gateway.advertised_url = url

    async def wait_for_identify(self, count: int = 1, timeout: float = 10.0) -> None:
        """Until the fake has answered ``count`` IDENTIFYs (READY + GUILD_CREATEs sent)."""
        await self.gateway.wait_for_identify(count, timeout)

    async def set_bot_can_post(self, channel: ChannelRef, allowed: bool) -> None:
        """Flip the permission knob and tell the bot with CHANNEL_UPDATE, as Discord would."""
        found = self.world.find_channel(self._channel_id(channel))
        if found is None:
            raise LookupError(f"no guild channel {channel!r}")
        guild, fake_channel = found
        fake_channel.bot_can_post = allowed
        payload = guild_channel_payload(guild, fake_channel, self.world.bot.id)
        await self.gateway.publish(guild.id, "CHANNEL_UPDATE", payload)

    def seed_message(
        self,
        channel: ChannelRef,
        content: str = "",
        *,
        components: list[dict[str, Any]] | None = None,
        embeds: list[dict[str, Any]] | None = None,
        author: UserRef | None = None,
    ) -> StoredMessage:
        """Store a message posted earlier (e.g. before a restart) without telling the bot: by
        the bot itself, or by ``author`` (members chatting in the channel)."""
        target = self.state.resolve_channel(self._channel_id(channel))
        body = {"content": content, "components": components or [], "embeds": embeds or []}
        poster = None if author is None else self._user(author)
        return self.state.create_message(target, body, [], via="seed", author=poster)

    # -- inspecting the world --------------------------------------------------------------------

    @property
    def messages(self) -> dict[int, StoredMessage]:
        """Every message by id, deleted ones included (see ``StoredMessage.deleted``)."""
        return self.state.messages

    @property
    def errors(self) -> list[ErrorRecord]:
        """Every non-2xx answer the fake gave, in order."""
        return self.state.errors

    @property
    def rate_limited(self) -> list[ErrorRecord]:
        """Every 429 the fake answered (with ``rate_limits`` on)."""
        return [e for e in self.state.errors if e.status == 429]

    def error_codes(self) -> list[int]:
        return [e.code for e in self.state.errors]

    @property
    def requests(self) -> list[RequestRecord]:
        return self.state.requests

    @property
    def interactions(self) -> dict[int, InteractionHandle]:
        return self.state.interactions

    @property
    def syncs(self) -> list[CommandSync]:
        """Every bulk command overwrite (tree.sync), global and per guild."""
        return self.state.syncs

    def commands(self, guild: FakeGuild | int | None = None) -> list[dict[str, Any]]:
        """The synced command definitions: global, or of one guild."""
        guild_id = guild.id if isinstance(guild, FakeGuild) else guild
        return self.state.commands.get(guild_id, [])

    def channel_messages(
        self, channel: ChannelRef, *, include_deleted: bool = False, include_ephemeral: bool = True
    ) -> list[StoredMessage]:
        """Messages of a channel in creation order."""
        found = self.state.channel_messages(self._channel_id(channel), include_deleted=include_deleted)
        return [m for m in found if include_ephemeral or not m.ephemeral]

    async def wait_for_message(
        self, predicate: Callable[[StoredMessage], bool] | None = None, timeout: float = 5.0
    ) -> StoredMessage:
        """The first message (already stored or future) matching ``predicate``."""

        def probe() -> StoredMessage | None:
            return next((m for m in self.state.messages.values() if predicate is None or predicate(m)), None)

        return await self.state.feed.wait_until(probe, timeout, "a matching message")

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0, what: str = "a condition") -> None:
        """Until ``condition()`` holds, re-checked on every change in the fake.

        Only the fake's changes wake it: a condition on the bot's own state needs the bot
        to signal (an ``asyncio.Event``), since the fake cannot see it change.
        """
        await self.state.feed.wait_until(lambda: True if condition() else None, timeout, what)

    # -- internals -----------------------------------------------------------------------------

    def _channel_id(self, channel: ChannelRef) -> int:
        return channel.id if isinstance(channel, FakeChannel) else int(channel)

    def _user(self, user: UserRef) -> FakeUser:
        if isinstance(user, FakeUser):
            return user
        found = self.world.get_user(int(user))
        if found is None:
            raise LookupError(f"no user {user} in the world")
        return found

    def _where(
        self, guild: FakeGuild | None, channel: ChannelRef | None, user: UserRef | None
    ) -> tuple[ChannelTarget, FakeUser]:
        """Resolve where an interaction happens and who triggers it, with defaults."""
        if channel is None:
            channel = (guild or self.world.guild).channels[0]
        target = self.state.resolve_channel(self._channel_id(channel))
        if user is not None:
            return target, self._user(user)
        if target.recipient is not None:
            return target, target.recipient
        assert target.guild is not None
        return target, self.world.default_member(target.guild)

    async def _send(
        self,
        handle: InteractionHandle,
        target: ChannelTarget,
        data: dict[str, Any],
        locale: str,
        message: StoredMessage | None = None,
    ) -> None:
        payload = self._factory.envelope(handle, target, data, locale=locale, message=message)
        sessions = await self.gateway.sessions_for(handle.guild_id, self.dispatch_timeout)
        # The clocks start as the frame leaves, as Discord's do.
        handle.dispatched_at = self.state.clock.now()
        # Every session routed this guild gets it (two copies of a bot on one shard both do):
        # the first ack wins, the other gets 40060.
        for session in sessions:
            handle.shards.append(session.shard)
            await session.dispatch("INTERACTION_CREATE", payload)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        limit_headers: dict[str, str] = {}
        try:
            self._check_auth(request)
            verdict = self._rate_verdict(request)
            if verdict.refused is not None:
                response = await self._answer_limited(request, verdict.refused)
            else:
                limit_headers = verdict.headers
                response = await handler(request)
        except DiscordApiError as error:
            response = await self._answer_error(request, error)
        except web.HTTPException as http_error:  # no route / wrong method: Discord's shape too
            error = DiscordApiError(http_error.status, 0, f"{http_error.status}: {http_error.reason}")
            response = await self._answer_error(request, error)
        response.headers.update(limit_headers)  # error answers of a limited route carry them too
        self.state.requests.append(
            RequestRecord(request.method, self._route(request), request.path, response.status, self.state.clock.now())
        )
        return response

    def _check_auth(self, request: web.Request) -> None:
        if not request.path.startswith(API_PREFIX) or request.path.startswith(_TOKEN_IN_URL):
            return
        if request.headers.get("Authorization") != f"Bot {self.token}":
            raise DiscordApiError.unauthorized()

    def _rate_verdict(self, request: web.Request) -> Verdict:
        if self.rate_limiter is None or not request.path.startswith(API_PREFIX):
            return Verdict()
        bot_token = not request.path.startswith(_TOKEN_IN_URL)
        return self.rate_limiter.check(request, self._route(request), bot_token=bot_token)

    async def _answer_limited(self, request: web.Request, refused: web.Response) -> web.Response:
        self._record_error(request, DiscordApiError(429, 0, "You are being rate limited."))
        await self.state.changed()
        return refused

    @staticmethod
    def _route(request: web.Request) -> str:
        resource = request.match_info.route.resource
        canonical = resource.canonical if resource is not None else request.path
        return canonical.removeprefix(API_PREFIX)

    async def _answer_error(self, request: web.Request, error: DiscordApiError) -> web.Response:
        self._record_error(request, error)
        await self.state.changed()
        return error.to_response()

    def _record_error(self, request: web.Request, error: DiscordApiError) -> None:
        handle = self._interaction_of(request)
        record = ErrorRecord(
            method=request.method,
            route=self._route(request),
            path=request.path,
            status=error.status,
            code=error.code,
            message=error.message,
            at=self.state.clock.now(),
            interaction_id=handle.id if handle else None,
        )
        self.state.errors.append(record)
        if handle is not None:
            handle.errors.append(record)
        _log.info("fake Discord answered %s %s with %s/%s", request.method, record.route, error.status, error.code)

    def _interaction_of(self, request: web.Request) -> InteractionHandle | None:
        info = request.match_info
        if "interaction_id" in info and info["interaction_id"].isdigit():
            return self.state.interactions.get(int(info["interaction_id"]))
        if "token" in info:
            return self.state.interaction_by_token(info["token"])
        return None
