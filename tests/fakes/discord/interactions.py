"""Building INTERACTION_CREATE payloads the way Discord sends them to a bot.

Owns the envelope every interaction shares (id, secret token, version, application id,
guild/channel/member or DM user, locale and guild_locale, app_permissions,
``attachment_size_limit``, entitlements, integration owners, context) and the ``data``
of each kind: slash commands, autocomplete, component clicks and modal submits. The
handle for each interaction is created here and registered in the state.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from .handles import InteractionHandle
from .messages import StoredMessage
from .modals import modal_submission
from .options import build_command_options
from .payloads import (
    dm_channel_payload,
    guild_channel_payload,
    member_payload,
    user_payload,
)
from .state import ChannelTarget, FakeState
from .world import FakeGuild, FakeUser

__all__ = ["InteractionFactory"]

_CONTEXT_GUILD = 0
_CONTEXT_BOT_DM = 1
_GUILD_INSTALL = "0"
_SELECT_TYPES = {3, 5, 6, 7, 8}


class InteractionFactory:
    """Creates interaction handles and their wire payloads from the world and the state."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def new_handle(
        self,
        kind: int,
        user: FakeUser,
        target: ChannelTarget,
        *,
        ack_window: float | None = None,
        message_id: int | None = None,
    ) -> InteractionHandle:
        state = self._state
        handle = InteractionHandle(
            id=state.snowflakes.next(),
            # Discord's tokens are long opaque strings; URL-safe so discord.py's quoting is a no-op.
            token=secrets.token_urlsafe(48),
            type=kind,
            payload={},
            user=user,
            guild_id=target.guild.id if target.guild else None,
            channel_id=target.id,
            ack_window=state.ack_window if ack_window is None else ack_window,
            token_lifetime=state.token_lifetime,
            attachment_size_limit=target.upload_limit,
            _clock=state.clock,
            _feed=state.feed,
            _messages=state.messages.get,
            message_id=message_id,
        )
        state.interactions[handle.id] = handle
        return handle

    # -- data objects per kind -------------------------------------------------------------

    def command_data(
        self,
        name: str,
        values: dict[str, Any],
        guild: FakeGuild | None,
        *,
        option_types: dict[str, int] | None = None,
        focused: str | None = None,
    ) -> dict[str, Any]:
        """``data`` of a CHAT_INPUT command; ``name`` may hold a group/subcommand path."""
        path = name.split()
        definition = self._state.find_command(path[0], guild.id if guild else None)
        built = build_command_options(
            self._state.world, guild, path, values, definition, option_types=option_types, focused=focused,
            upload=self._state.upload_ephemeral,
        )
        data: dict[str, Any] = {
            "id": definition["id"] if definition else str(self._state.snowflakes.next()),
            "name": path[0],
            "type": 1,
            "options": built.options,
        }
        if built.resolved:
            data["resolved"] = built.resolved
        if definition is not None and definition.get("guild_id"):
            # discord.py looks guild commands up by this key, not by the interaction's guild.
            data["guild_id"] = definition["guild_id"]
        return data

    @staticmethod
    def component_data(message: StoredMessage, custom_id: str, values: list[str] | None) -> dict[str, Any]:
        component = message.find_component(custom_id)
        if component is None:
            raise LookupError(f"message {message.id} has no component {custom_id!r}; it has {message.custom_ids()}")
        if component.get("disabled"):
            raise RuntimeError(f"component {custom_id!r} is disabled: a user cannot use it")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if component["type"] in _SELECT_TYPES:
            data["values"] = list(values or [])
        return data

    @staticmethod
    def modal_data(modal: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
        """A modal submit mirroring the modal's layout, text inputs filled from ``values``
        (see ``modals.modal_submission`` for what the member's client refuses to send)."""
        return modal_submission(modal, values)

    # -- the envelope ----------------------------------------------------------------------

    def envelope(
        self,
        handle: InteractionHandle,
        target: ChannelTarget,
        data: dict[str, Any],
        *,
        locale: str,
        message: StoredMessage | None = None,
    ) -> dict[str, Any]:
        """The full INTERACTION_CREATE ``d`` object; stored on the handle as ``payload``."""
        world = self._state.world
        payload: dict[str, Any] = {
            "id": str(handle.id),
            "application_id": str(world.application_id),
            "type": handle.type,
            "data": data,
            "token": handle.token,
            "version": 1,
            "locale": locale,
            "channel_id": str(target.id),
            "attachment_size_limit": handle.attachment_size_limit,
            "entitlements": [],
            "entitlement_sku_ids": [],
        }
        if target.guild is not None and target.channel is not None:
            guild = target.guild
            payload.update(
                {
                    "guild_id": str(guild.id),
                    "guild": {"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
                    "guild_locale": guild.preferred_locale,
                    "channel": guild_channel_payload(guild, target.channel, world.bot.id),
                    "member": member_payload(guild, handle.user, with_permissions=True),
                    "app_permissions": str(guild.channel_permissions_of(world.bot.id, target.channel, world.bot.id)),
                    "authorizing_integration_owners": {_GUILD_INSTALL: str(guild.id)},
                    "context": _CONTEXT_GUILD,
                }
            )
        else:
            payload.update(
                {
                    "channel": dm_channel_payload(target.id, handle.user),
                    "user": user_payload(handle.user),
                    "app_permissions": "0",
                    "authorizing_integration_owners": {_GUILD_INSTALL: "0"},
                    "context": _CONTEXT_BOT_DM,
                }
            )
        if message is not None:
            payload["message"] = self._state.message_payload(message)
        handle.payload = payload
        return payload

