"""JSON shapes of Discord objects (users, members, roles, channels, guilds) built from the world.

Pure functions: world dataclasses in, the dicts Discord puts on the wire out. Snowflakes are
strings, as on Discord. Only the keys discord.py 2.7 reads (or trips over when missing) are
filled; everything else Discord sends is left out on purpose.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .world import DM, FakeChannel, FakeGuild, FakeRole, FakeUser, FakeWorld, Permission

__all__ = [
    "dm_channel_payload",
    "guild_channel_payload",
    "guild_create_payload",
    "guild_payload",
    "iso_now",
    "member_payload",
    "role_payload",
    "user_payload",
]

# A fixed join date keeps payloads deterministic; discord.py only parses it.
_JOINED_AT = "2025-01-01T00:00:00.000000+00:00"
_MEMBER_OVERWRITE = 1


def iso_now() -> str:
    """Current UTC time in Discord's ISO 8601 format."""
    return datetime.now(UTC).isoformat()


def user_payload(user: FakeUser) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": str(user.id),
        "username": user.name,
        "discriminator": "0",
        "global_name": user.global_name,
        "avatar": None,
        "public_flags": 0,
    }
    if user.bot:
        payload["bot"] = True
    return payload


def client_user_payload(user: FakeUser) -> dict[str, Any]:
    """GET /users/@me and READY's ``user``: a user plus the fields only the owner sees."""
    return {**user_payload(user), "verified": True, "mfa_enabled": False, "flags": 0, "email": None}


def role_payload(role: FakeRole) -> dict[str, Any]:
    return {
        "id": str(role.id),
        "name": role.name,
        "permissions": str(role.permissions),
        "position": role.position,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "managed": False,
        "mentionable": role.mentionable,
        "icon": None,
        "unicode_emoji": None,
        "flags": 0,
    }


def member_payload(guild: FakeGuild, user: FakeUser, *, with_permissions: bool = False) -> dict[str, Any]:
    """A guild member; interactions add ``permissions`` (the member's guild permissions)."""
    member = guild.member(user.id)
    payload: dict[str, Any] = {
        "user": user_payload(user),
        "roles": [str(r) for r in (member.role_ids if member else [])],
        "nick": member.nick if member else None,
        "avatar": None,
        "joined_at": _JOINED_AT,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }
    if with_permissions:
        payload["permissions"] = str(guild.permissions_of(user.id))
    return payload


def guild_channel_payload(guild: FakeGuild, channel: FakeChannel, bot_id: int) -> dict[str, Any]:
    overwrites: list[dict[str, Any]] = []
    if not channel.bot_can_post:
        # Tell discord.py the same thing the REST routes enforce, so that
        # channel.permissions_for(guild.me) agrees with the 403 the bot will get.
        deny = str(Permission.SEND_MESSAGES)
        overwrites.append({"id": str(bot_id), "type": _MEMBER_OVERWRITE, "allow": "0", "deny": deny})
    return {
        "id": str(channel.id),
        "type": channel.type,
        "guild_id": str(guild.id),
        "name": channel.name,
        "position": channel.position,
        "permission_overwrites": overwrites,
        "nsfw": channel.nsfw,
        "parent_id": None,
        "topic": None,
        "rate_limit_per_user": 0,
        "last_message_id": None,
        "flags": 0,
    }


def dm_channel_payload(channel_id: int, recipient: FakeUser) -> dict[str, Any]:
    return {
        "id": str(channel_id),
        "type": DM,
        "recipients": [user_payload(recipient)],
        "last_message_id": None,
        "flags": 0,
    }


def guild_payload(guild: FakeGuild) -> dict[str, Any]:
    """The guild object of GET /guilds/{id} (no channels or members, as on Discord)."""
    return {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(guild.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 1,
        "explicit_content_filter": 0,
        "roles": [role_payload(r) for r in guild.roles],
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "vanity_url_code": None,
        "premium_tier": guild.premium_tier,
        "premium_subscription_count": {0: 0, 1: 2, 2: 7, 3: 14}.get(guild.premium_tier, 0),
        "preferred_locale": guild.preferred_locale,
        "public_updates_channel_id": None,
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
    }


def guild_create_payload(world: FakeWorld, guild: FakeGuild) -> dict[str, Any]:
    """GUILD_CREATE for the bot: the guild plus channels and the bot's own member.

    Without the GUILD_MEMBERS intent Discord sends only the bot's own member, and so
    do we; tests read other members from the world, not from discord.py's cache.
    """
    payload = guild_payload(guild)
    payload.update(
        {
            "joined_at": _JOINED_AT,
            "large": False,
            "unavailable": False,
            "member_count": len(guild.members),
            "voice_states": [],
            "members": [member_payload(guild, world.bot)],
            "channels": [guild_channel_payload(guild, c, world.bot.id) for c in guild.channels],
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }
    )
    return payload


def application_payload(world: FakeWorld, owner: FakeUser) -> dict[str, Any]:
    """GET /oauth2/applications/@me (discord.py's ``Client.login`` reads it)."""
    return {
        "id": str(world.application_id),
        "name": world.application_name,
        "icon": None,
        "description": "",
        "bot_public": True,
        "bot_require_code_grant": False,
        "owner": user_payload(owner),
        "team": None,
        "verify_key": "0" * 64,
        "flags": world.application_flags,
        "bot": user_payload(world.bot),
        "interactions_endpoint_url": None,
        "redirect_uris": [],
        "tags": [],
    }
