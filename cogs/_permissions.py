"""Who is a moderator for wanbot: Manage Server, or the role named by WANBOT_ADMIN_ROLE."""

from __future__ import annotations

import discord

__all__ = ["is_moderator"]


def is_moderator(user: discord.abc.User, admin_role: str | None) -> bool:
    """True for members with Manage Server or the configured admin role (by name or id)."""
    if not isinstance(user, discord.Member):
        return False  # in DMs nobody moderates a guild's queue
    if user.guild_permissions.manage_guild:
        return True
    if not admin_role:
        return False
    wanted = admin_role.strip()
    return any(role.name == wanted or str(role.id) == wanted for role in user.roles)
