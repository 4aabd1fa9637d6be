"""Bot-token REST routes of the fake: identity, gateway info, commands, channels, messages, DMs.

Owns the routes a slash-command bot calls with its bot token. Each enforces what Discord
enforces and the project cares about: 403/50013 where the bot may not post, 413/40005 over
the channel's upload limit, 404/10008 for unknown messages, 400/50035 for bodies over
Discord's limits; history pages as Discord pages it (``history.py``). Interaction callbacks and webhook routes live in ``webhooks.py``.
"""

from __future__ import annotations

from aiohttp import web

from .gateway import FakeGateway
from .history import HistoryQuery, page
from .payloads import (
    application_payload,
    client_user_payload,
    dm_channel_payload,
    guild_channel_payload,
    guild_payload,
    member_payload,
    user_payload,
)
from .state import ChannelTarget, FakeState
from .validation import check_message_body, check_upload_sizes
from .wire import DiscordApiError, empty_response, json_response, read_body
from .world import FakeGuild

__all__ = ["API_PREFIX", "BotRoutes"]

API_PREFIX = "/api/v10"


def _snowflake(request: web.Request, key: str) -> int:
    try:
        return int(request.match_info[key])
    except ValueError:
        raise DiscordApiError.invalid_form(key, "NUMBER_TYPE_COERCE", "Value is not snowflake.") from None


class BotRoutes:
    """Handlers for the bot-token routes; ``register`` mounts them under /api/v10."""

    def __init__(self, state: FakeState, gateway: FakeGateway) -> None:
        self._state = state
        self._gateway = gateway

    def register(self, app: web.Application) -> None:
        p = API_PREFIX
        add = app.router.add_route
        add("GET", f"{p}/users/@me", self.get_me)
        add("GET", f"{p}/users/{{user_id}}", self.get_user)
        add("POST", f"{p}/users/@me/channels", self.create_dm)
        add("GET", f"{p}/oauth2/applications/@me", self.get_application)
        add("GET", f"{p}/applications/@me", self.get_application)
        add("GET", f"{p}/gateway", self.get_gateway)
        add("GET", f"{p}/gateway/bot", self.get_gateway_bot)
        for suffix in ("", "/guilds/{guild_id}"):
            add("GET", f"{p}/applications/{{app_id}}{suffix}/commands", self.get_commands)
            add("PUT", f"{p}/applications/{{app_id}}{suffix}/commands", self.put_commands)
        add("GET", f"{p}/guilds/{{guild_id}}", self.get_guild)
        add("GET", f"{p}/guilds/{{guild_id}}/channels", self.get_guild_channels)
        add("GET", f"{p}/guilds/{{guild_id}}/members/{{user_id}}", self.get_member)
        add("GET", f"{p}/channels/{{channel_id}}", self.get_channel)
        add("POST", f"{p}/channels/{{channel_id}}/typing", self.typing)
        add("GET", f"{p}/channels/{{channel_id}}/messages", self.list_messages)
        add("POST", f"{p}/channels/{{channel_id}}/messages", self.create_message)
        add("GET", f"{p}/channels/{{channel_id}}/messages/{{message_id}}", self.get_message)
        add("PATCH", f"{p}/channels/{{channel_id}}/messages/{{message_id}}", self.edit_message)
        add("DELETE", f"{p}/channels/{{channel_id}}/messages/{{message_id}}", self.delete_message)
        add("GET", "/attachments/{channel_id}/{attachment_id}/{filename}", self.get_attachment)
        add("GET", "/ephemeral-attachments/{app_id}/{attachment_id}/{filename}", self.get_attachment)

    # -- identity and gateway ----------------------------------------------------------------

    async def get_me(self, request: web.Request) -> web.Response:
        return json_response(client_user_payload(self._state.world.bot))

    async def get_user(self, request: web.Request) -> web.Response:
        user = self._state.world.get_user(_snowflake(request, "user_id"))
        if user is None:
            raise DiscordApiError.unknown_user()
        return json_response(user_payload(user))

    async def get_application(self, request: web.Request) -> web.Response:
        world = self._state.world
        owner = world.get_user(world.guild.owner_id) if world.guilds else None
        return json_response(application_payload(world, owner or world.bot))

    async def get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self._gateway.advertised})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return json_response({"url": self._gateway.advertised, "shards": self._gateway.recommended_shards,
                              "session_start_limit": limit})

    # -- application commands ----------------------------------------------------------------

    def _command_scope(self, request: web.Request) -> int | None:
        if _snowflake(request, "app_id") != self._state.world.application_id:
            raise DiscordApiError(403, 50001, "Missing Access")
        if "guild_id" not in request.match_info:
            return None
        guild_id = _snowflake(request, "guild_id")
        if self._state.world.get_guild(guild_id) is None:
            raise DiscordApiError(403, 50001, "Missing Access")
        return guild_id

    async def get_commands(self, request: web.Request) -> web.Response:
        return json_response(self._state.commands.get(self._command_scope(request), []))

    async def put_commands(self, request: web.Request) -> web.Response:
        scope = self._command_scope(request)
        body = await read_body(request)
        definitions = body.payload.get("_list", [])
        for index, definition in enumerate(definitions):
            if not definition.get("name"):
                raise DiscordApiError.invalid_form(f"{index}.name", "BASE_TYPE_REQUIRED", "This field is required")
        stored = self._state.store_commands(scope, definitions)
        await self._state.changed()
        return json_response(stored)

    # -- guilds and channels -----------------------------------------------------------------

    def _guild(self, request: web.Request) -> FakeGuild:
        guild = self._state.world.get_guild(_snowflake(request, "guild_id"))
        if guild is None:
            raise DiscordApiError.unknown_guild()
        return guild

    async def get_guild(self, request: web.Request) -> web.Response:
        return json_response(guild_payload(self._guild(request)))

    async def get_guild_channels(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        bot_id = self._state.world.bot.id
        return json_response([guild_channel_payload(guild, c, bot_id) for c in guild.channels])

    async def get_member(self, request: web.Request) -> web.Response:
        guild = self._guild(request)
        member = guild.member(_snowflake(request, "user_id"))
        if member is None:
            raise DiscordApiError.unknown_member()
        return json_response(member_payload(guild, member.user))

    def _target(self, request: web.Request) -> ChannelTarget:
        return self._state.resolve_channel(_snowflake(request, "channel_id"))

    async def get_channel(self, request: web.Request) -> web.Response:
        target = self._target(request)
        if target.recipient is not None:
            return json_response(dm_channel_payload(target.id, target.recipient))
        assert target.guild is not None and target.channel is not None
        return json_response(guild_channel_payload(target.guild, target.channel, self._state.world.bot.id))

    async def create_dm(self, request: web.Request) -> web.Response:
        body = await read_body(request)
        user = self._state.world.get_user(int(body.payload.get("recipient_id", 0)))
        if user is None:
            raise DiscordApiError.unknown_user()
        channel_id = self._state.dm_channel_for(user)
        return json_response(dm_channel_payload(channel_id, user))

    async def typing(self, request: web.Request) -> web.Response:
        self._require_post(self._target(request))
        return empty_response()

    # -- messages ----------------------------------------------------------------------------

    def _require_post(self, target: ChannelTarget) -> None:
        if target.bot_can_post:
            return
        if target.recipient is not None:
            raise DiscordApiError.cannot_dm()
        raise DiscordApiError.missing_permissions()

    async def list_messages(self, request: web.Request) -> web.Response:
        target = self._target(request)
        query = HistoryQuery.parse(request.query)
        # An ephemeral message exists only for its recipient: Discord never lists it.
        listable = [m for m in self._state.channel_messages(target.id) if not m.ephemeral]
        return json_response([self._state.message_payload(m) for m in page(listable, query)])

    async def create_message(self, request: web.Request) -> web.Response:
        target = self._target(request)
        self._require_post(target)
        body = await read_body(request)
        check_upload_sizes(body.files, target.upload_limit)
        check_message_body(body.payload, creating=True, file_count=len(body.files))
        attachments = self._state.build_attachments(target.id, body) or []
        message = self._state.create_message(target, body.payload, attachments, via="channel")
        await self._gateway.announce_message("MESSAGE_CREATE", message)
        return json_response(self._state.message_payload(message))

    async def get_message(self, request: web.Request) -> web.Response:
        target = self._target(request)
        message = self._state.message_in(target.id, _snowflake(request, "message_id"))
        return json_response(self._state.message_payload(message))

    async def edit_message(self, request: web.Request) -> web.Response:
        target = self._target(request)
        message = self._state.message_in(target.id, _snowflake(request, "message_id"))
        if message.author.id != self._state.world.bot.id:
            raise DiscordApiError.not_author()
        self._require_post(target)
        body = await read_body(request)
        check_upload_sizes(body.files, target.upload_limit)
        check_message_body(body.payload, creating=False, file_count=len(body.files))
        attachments = self._state.build_attachments(target.id, body, message.attachments)
        message.apply(body.payload, attachments, self._state.clock.now(), via="channel")
        await self._gateway.announce_message("MESSAGE_UPDATE", message)
        return json_response(self._state.message_payload(message))

    async def delete_message(self, request: web.Request) -> web.Response:
        target = self._target(request)
        message = self._state.message_in(target.id, _snowflake(request, "message_id"))
        message.mark_deleted(self._state.clock.now())
        await self._gateway.announce_message("MESSAGE_DELETE", message)
        return empty_response()

    async def get_attachment(self, request: web.Request) -> web.Response:
        attachment = self._state.attachment(_snowflake(request, "attachment_id"))
        if attachment is None:
            raise DiscordApiError.not_found()
        content_type = attachment.content_type or "application/octet-stream"
        return web.Response(body=attachment.data, headers={"Content-Type": content_type})
