"""Admin actions on the queue and on a guild's rules; every one is written to the audit log
in the same transaction as the change it makes.

Pause (per guild): the guild's members cannot queue, and its queued jobs are skipped by the
pick until resumed; what is already on a backend finishes. Drain (queue-wide): nothing new is
accepted or started anywhere, what runs finishes; `is_drained` tells the operator when it is
safe to stop. Queued jobs survive both, in the database, for after the resume or restart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from bot.jobs.clock import Clock
from bot.jobs.limits import check_limits_json
from storage import AuditEntry, GuildSettings, JobRecord, JobState, QueueControl
from storage.interface import Store

__all__ = ["QueueAdmin"]


class QueueAdmin:
    """What moderators and the operator can do. Permission checks are the caller's
    (the cog knows Discord permissions); `by` is the acting user's id."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def _entry(
        self, by: int, action: str, guild_id: int | None, target: str, **details: Any
    ) -> AuditEntry:
        return AuditEntry(self._clock.now(), by, action, guild_id, target, details)

    async def _update(self, guild_id: int, entry: AuditEntry, **changes: Any) -> GuildSettings:
        settings = replace(await self._store.guilds.get(guild_id), **changes)
        await self._store.guilds.save(settings, entry)
        return settings

    async def pause(self, guild_id: int, by: int) -> GuildSettings:
        entry = self._entry(by, "pause", guild_id, "queue")
        return await self._update(guild_id, entry, paused=True)

    async def resume(self, guild_id: int, by: int) -> GuildSettings:
        entry = self._entry(by, "resume", guild_id, "queue")
        return await self._update(guild_id, entry, paused=False)

    async def drain(self, by: int) -> None:
        entry = self._entry(by, "drain", None, "queue")
        await self._store.control.save(QueueControl(draining=True), entry)

    async def undrain(self, by: int) -> None:
        entry = self._entry(by, "undrain", None, "queue")
        await self._store.control.save(QueueControl(draining=False), entry)

    async def is_drained(self) -> bool:
        """Draining and nothing left on a backend or waiting for delivery."""
        if not (await self._store.control.get()).draining:
            return False
        busy = (JobState.SUBMITTED, JobState.RUNNING, JobState.FETCHED)
        return not await self._store.jobs.in_states(busy)

    async def purge_user(self, guild_id: int, user_id: int, by: int) -> list[JobRecord]:
        """Cancel all of a member's unfinished jobs (no token is given back: this is for abuse).
        Jobs returned with a `prompt_id` were on a backend: interrupt them there."""
        entry = self._entry(by, "purge", guild_id, f"user:{user_id}")
        return await self._store.jobs.purge_user(guild_id, user_id, by, self._clock.now(), entry)

    async def set_limits(self, guild_id: int, by: int, limits: Mapping[str, Any]) -> GuildSettings:
        """Replace the guild's override of the default limits (validated first)."""
        clean = check_limits_json(limits)
        entry = self._entry(by, "set_limits", guild_id, "limits", limits=clean)
        return await self._update(guild_id, entry, limits=clean)

    async def set_role_limits(
        self, guild_id: int, by: int, role_id: int, delta: Mapping[str, Any] | None
    ) -> GuildSettings:
        """Set (or with None remove) the limits delta of one role."""
        settings = await self._store.guilds.get(guild_id)
        role_limits = dict(settings.role_limits)
        if delta is None:
            role_limits.pop(str(role_id), None)
        else:
            role_limits[str(role_id)] = check_limits_json(delta)
        entry = self._entry(by, "set_role_limits", guild_id, f"role:{role_id}", delta=delta)
        return await self._update(guild_id, entry, role_limits=role_limits)

    async def set_allowed_channels(
        self, guild_id: int, by: int, channel_ids: Iterable[int]
    ) -> GuildSettings:
        """Limit `/video` to these channels; an empty list allows every channel."""
        channels = tuple(dict.fromkeys(int(c) for c in channel_ids))
        entry = self._entry(by, "set_channels", guild_id, "channels", channels=list(channels))
        return await self._update(guild_id, entry, allowed_channels=channels)

    async def set_blocked_words(
        self, guild_id: int, by: int, words: Iterable[str]
    ) -> GuildSettings:
        cleaned = tuple(dict.fromkeys(w.strip() for w in words if w.strip()))
        # The words themselves stay out of the log: the list may be long and unpleasant.
        entry = self._entry(by, "set_blocked_words", guild_id, "blocked_words", count=len(cleaned))
        return await self._update(guild_id, entry, blocked_words=cleaned)
