"""Runtime state of the fake Discord: messages, DM channels, synced commands, interactions, logs.

Owns everything that changes while the bot runs (the static world is ``world.py``), and the
lookups routes share: which channel an id names and what limits apply there, building
attachments from uploaded files, storing messages, resolving synced commands. Every change
goes through ``changed()`` so waiters in tests wake up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .clock import FakeClock, SnowflakeFactory
from .feed import ChangeFeed
from .handles import InteractionHandle
from .messages import (
    TYPE_CHAT_INPUT_COMMAND,
    TYPE_DEFAULT,
    TYPE_REPLY,
    StoredAttachment,
    StoredMessage,
    normalise_field,
    resolve_attachment_urls,
)
from .payloads import user_payload
from .records import CommandSync, ErrorRecord, RequestRecord
from .wire import DiscordApiError, RequestBody, UploadedFile
from .world import DEFAULT_UPLOAD_LIMIT, FakeChannel, FakeGuild, FakeUser, FakeWorld

__all__ = ["ChannelTarget", "FakeState"]


@dataclass(frozen=True)
class ChannelTarget:
    """A channel id resolved: a guild text channel, or a DM with ``recipient``."""

    id: int
    guild: FakeGuild | None
    channel: FakeChannel | None
    recipient: FakeUser | None

    @property
    def upload_limit(self) -> int:
        return self.guild.filesize_limit if self.guild else DEFAULT_UPLOAD_LIMIT

    @property
    def bot_can_post(self) -> bool:
        if self.recipient is not None:
            return self.recipient.dms_open
        return self.channel is not None and self.channel.bot_can_post


class FakeState:
    """The mutable half of the fake; routes and the test driver share one instance."""

    def __init__(self, world: FakeWorld, *, ack_window: float, token_lifetime: float) -> None:
        self.world = world
        self.ack_window = ack_window
        self.token_lifetime = token_lifetime
        self.clock = FakeClock()
        self.snowflakes = SnowflakeFactory()
        self.feed = ChangeFeed()
        self.base_url = ""
        self.messages: dict[int, StoredMessage] = {}
        self.interactions: dict[int, InteractionHandle] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.syncs: list[CommandSync] = []
        self.errors: list[ErrorRecord] = []
        self.requests: list[RequestRecord] = []
        self.dm_channels: dict[int, int] = {}

    async def changed(self) -> None:
        await self.feed.notify()

    # -- channels --------------------------------------------------------------------------

    def resolve_channel(self, channel_id: int) -> ChannelTarget:
        """The channel behind an id; 404/10003 if neither a guild channel nor a known DM."""
        found = self.world.find_channel(channel_id)
        if found is not None:
            guild, channel = found
            return ChannelTarget(channel_id, guild, channel, None)
        for user_id, dm_id in self.dm_channels.items():
            if dm_id == channel_id:
                return ChannelTarget(channel_id, None, None, self.world.get_user(user_id))
        raise DiscordApiError.unknown_channel()

    def dm_channel_for(self, user: FakeUser) -> int:
        """The bot's DM channel with ``user``, created on first use (ids are stable)."""
        if user.id not in self.dm_channels:
            self.dm_channels[user.id] = self.snowflakes.next()
        return self.dm_channels[user.id]

    # -- messages --------------------------------------------------------------------------

    def message_in(self, channel_id: int, message_id: int) -> StoredMessage:
        """A live message of a channel; 404/10008 if unknown, elsewhere or deleted."""
        message = self.messages.get(message_id)
        if message is None or message.channel_id != channel_id or message.deleted:
            raise DiscordApiError.unknown_message()
        return message

    def channel_messages(self, channel_id: int, *, include_deleted: bool = False) -> list[StoredMessage]:
        found = [m for m in self.messages.values() if m.channel_id == channel_id]
        return [m for m in found if include_deleted or not m.deleted]

    def create_message(
        self,
        target: ChannelTarget,
        payload: dict[str, Any],
        attachments: list[StoredAttachment],
        *,
        via: str,
        interaction: InteractionHandle | None = None,
        extra_flags: int = 0,
        author: FakeUser | None = None,
    ) -> StoredMessage:
        """Store a new message built from a create body, by the bot unless ``author`` says."""
        reference = _wire_reference(payload.get("message_reference"), target)
        replied_author = self._replied_author(reference)
        if reference:
            message_type = TYPE_REPLY
        elif interaction is not None and interaction.type == 2:
            message_type = TYPE_CHAT_INPUT_COMMAND
        else:
            message_type = TYPE_DEFAULT
        message = StoredMessage(
            id=self.snowflakes.next(),
            channel_id=target.id,
            guild_id=target.guild.id if target.guild else None,
            author=author or self.world.bot,
            created_at=self.clock.now(),
            content=normalise_field("content", payload.get("content")),
            embeds=normalise_field("embeds", payload.get("embeds")),
            components=normalise_field("components", payload.get("components")),
            attachments=attachments,
            allowed_mentions=payload.get("allowed_mentions"),
            message_reference=reference,
            flags=normalise_field("flags", payload.get("flags")) | extra_flags,
            tts=bool(payload.get("tts")),
            type=message_type,
            via=via,
            interaction_id=interaction.id if interaction else None,
            webhook_id=self.world.application_id if interaction else None,
            replied_author_id=replied_author,
        )
        resolve_attachment_urls(message.embeds, message.attachments)
        self.messages[message.id] = message
        return message

    def _replied_author(self, reference: dict[str, Any] | None) -> int | None:
        """Author of the message a reply points at; 400/50035 if it is gone (Discord's check)."""
        if not reference or not reference.get("message_id"):
            return None
        referenced = self.messages.get(int(reference["message_id"]))
        if referenced is None or referenced.deleted:
            if reference.get("fail_if_not_exists", True):
                raise DiscordApiError.invalid_form(
                    "message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                )
            return None
        return referenced.author.id

    def message_payload(self, message: StoredMessage) -> dict[str, Any]:
        """The wire form of a message, with ``referenced_message`` resolved when known."""
        referenced = None
        if message.message_reference and message.message_reference.get("message_id"):
            referenced = self.messages.get(int(message.message_reference["message_id"]))
        payload = message.to_payload(referenced)
        pinged = (self.world.get_user(user_id) for user_id in message.pings.users)
        payload["mentions"] = [user_payload(user) for user in pinged if user is not None]
        return payload

    def build_attachments(
        self, channel_id: int, body: RequestBody, existing: list[StoredAttachment] | None = None
    ) -> list[StoredAttachment] | None:
        """The attachment list after this request, or None if the request leaves it alone.

        ``attachments`` entries either name an existing attachment id (kept on edit) or the
        index ``n`` of a ``files[n]`` part (new upload; its ``filename``/``description``
        win). Files with no entry are appended, as Discord does.
        """
        meta = body.payload.get("attachments")
        if meta is None and not body.files:
            return None
        old = {a.id: a for a in existing or []}
        result: list[StoredAttachment] = [] if meta is not None else list(existing or [])
        used: set[int] = set()
        for entry in meta or []:
            ref = int(entry["id"])
            if ref in old:
                result.append(old[ref])
                continue
            upload = body.file(ref)
            if upload is not None:
                result.append(self._new_attachment(channel_id, upload, entry))
                used.add(upload.index)
        for upload in body.files:
            if upload.index not in used:
                result.append(self._new_attachment(channel_id, upload, {}))
        return result

    def _new_attachment(self, channel_id: int, upload: UploadedFile, meta: dict[str, Any]) -> StoredAttachment:
        attachment_id = self.snowflakes.next()
        name = meta.get("filename") or upload.filename
        url = f"{self.base_url}/attachments/{channel_id}/{attachment_id}/{name}"
        return StoredAttachment(attachment_id, name, upload.data, upload.content_type, meta.get("description"), url)

    def attachment(self, attachment_id: int) -> StoredAttachment | None:
        for message in self.messages.values():
            for attachment in message.attachments:
                if attachment.id == attachment_id:
                    return attachment
        return None

    # -- application commands ----------------------------------------------------------------

    def store_commands(self, guild_id: int | None, definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Bulk overwrite, as PUT does: ids are kept for names that already existed."""
        previous = {c["name"]: c["id"] for c in self.commands.get(guild_id, [])}
        stored: list[dict[str, Any]] = []
        for definition in definitions:
            command = dict(definition)
            command["id"] = previous.get(command["name"]) or str(self.snowflakes.next())
            command["application_id"] = str(self.world.application_id)
            command["version"] = str(self.snowflakes.next())
            command.setdefault("type", 1)
            command.setdefault("description", "")
            if guild_id is not None:
                command["guild_id"] = str(guild_id)
            stored.append(command)
        self.commands[guild_id] = stored
        names = tuple(c["name"] for c in stored)
        self.syncs.append(CommandSync(guild_id, self.clock.now(), names))
        return stored

    def find_command(self, name: str, guild_id: int | None, command_type: int = 1) -> dict[str, Any] | None:
        """A synced command by name: the guild's own first, then the global one."""
        scopes = [guild_id, None] if guild_id is not None else [None]
        for scope in scopes:
            for command in self.commands.get(scope, []):
                if command["name"] == name and command.get("type", 1) == command_type:
                    return command
        return None

    # -- interactions ----------------------------------------------------------------------

    def interaction_by_token(self, token: str) -> InteractionHandle | None:
        return next((h for h in self.interactions.values() if h.token == token), None)


def _wire_reference(reference: dict[str, Any] | None, target: ChannelTarget) -> dict[str, Any] | None:
    """A message_reference as Discord echoes it: string snowflakes, channel filled in."""
    if not reference or not reference.get("message_id"):
        return reference or None
    wired: dict[str, Any] = {
        "type": reference.get("type", 0),
        "message_id": str(reference["message_id"]),
        "channel_id": str(reference.get("channel_id") or target.id),
    }
    guild_id = reference.get("guild_id") or (target.guild.id if target.guild else None)
    if guild_id is not None:
        wired["guild_id"] = str(guild_id)
    if "fail_if_not_exists" in reference:
        wired["fail_if_not_exists"] = reference["fail_if_not_exists"]
    return wired
