"""Messages the fake stores: what the bot posted, with attachments, edits and real pings.

Owns ``StoredMessage`` (the record tests inspect), its wire payload, and the mention rules
(who a message actually pings given ``allowed_mentions``), because "no mention injection"
is a property tests must be able to assert, not merely the presence of a JSON key.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any

from .payloads import iso_now, user_payload
from .world import FakeUser

__all__ = [
    "MessageEdit",
    "Pings",
    "StoredAttachment",
    "StoredMessage",
    "normalise_field",
    "resolve_pings",
]

FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
TYPE_DEFAULT = 0
TYPE_REPLY = 19
TYPE_CHAT_INPUT_COMMAND = 20

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_EVERYONE_MENTION = re.compile(r"@(everyone|here)")


@dataclass
class StoredAttachment:
    """An uploaded file; ``data`` holds the exact bytes that reached the fake. ``ephemeral``:
    a file a user gave a slash command's attachment option (Discord keeps it on its CDN, under
    ephemeral-attachments/, and on no message)."""

    id: int
    filename: str
    data: bytes
    content_type: str | None
    description: str | None
    url: str
    ephemeral: bool = False

    @property
    def size(self) -> int:
        return len(self.data)

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type or "application/octet-stream",
        }
        if self.description is not None:
            payload["description"] = self.description
        dimensions = _image_size(self.data)
        if dimensions is not None:  # Discord probes pictures and says how large they are
            payload["width"], payload["height"] = dimensions
        if self.ephemeral:
            payload["ephemeral"] = True
        return payload


def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # pragma: no cover - Pillow is a dependency of the project
        return None
    try:
        with Image.open(io.BytesIO(data)) as picture:
            return picture.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None


@dataclass(frozen=True)
class Pings:
    """Who a message notifies, after Discord applied ``allowed_mentions``."""

    users: frozenset[int] = frozenset()
    roles: frozenset[int] = frozenset()
    everyone: bool = False

    @property
    def none(self) -> bool:
        return not (self.users or self.roles or self.everyone)


def resolve_pings(content: str, allowed_mentions: dict[str, Any] | None, replied_author: int | None) -> Pings:
    """Apply Discord's mention rules to message content.

    Without ``allowed_mentions`` everything in the content pings (and a reply pings the
    replied-to author). With it, only what ``parse``/``users``/``roles``/``replied_user``
    allow. Mentions inside embeds never ping, so only ``content`` is read.
    """
    users = {int(x) for x in _USER_MENTION.findall(content)}
    roles = {int(x) for x in _ROLE_MENTION.findall(content)}
    everyone = bool(_EVERYONE_MENTION.search(content))
    if allowed_mentions is None:
        if replied_author is not None:
            users.add(replied_author)
        return Pings(frozenset(users), frozenset(roles), everyone)
    parse = set(allowed_mentions.get("parse", []))
    allowed_users = users if "users" in parse else users & {int(x) for x in allowed_mentions.get("users", [])}
    allowed_roles = roles if "roles" in parse else roles & {int(x) for x in allowed_mentions.get("roles", [])}
    if replied_author is not None and allowed_mentions.get("replied_user", False):
        allowed_users = allowed_users | {replied_author}
    return Pings(frozenset(allowed_users), frozenset(allowed_roles), everyone and "everyone" in parse)


@dataclass
class MessageEdit:
    """One accepted change to a message: the fields set, the files uploaded with it, when (fake
    clock, seconds), and the files members saw loose below the message after it."""

    at: float
    changes: dict[str, Any]
    via: str
    uploads: tuple[StoredAttachment, ...] = ()
    loose: tuple[str, ...] = ()  # filenames

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(a.filename for a in self.uploads)


@dataclass
class StoredMessage:
    """A message as the fake holds it. ``edits`` keeps every change in order."""

    id: int
    channel_id: int
    guild_id: int | None
    author: FakeUser
    created_at: float
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[StoredAttachment] = field(default_factory=list)
    allowed_mentions: dict[str, Any] | None = None
    message_reference: dict[str, Any] | None = None
    flags: int = 0
    tts: bool = False
    type: int = TYPE_DEFAULT
    via: str = "channel"
    interaction_id: int | None = None
    webhook_id: int | None = None
    replied_author_id: int | None = None
    edits: list[MessageEdit] = field(default_factory=list)
    deleted: bool = False
    deleted_at: float | None = None
    timestamp: str = field(default_factory=iso_now)
    edited_timestamp: str | None = None
    in_embeds: set[int] = field(default_factory=set)  # ids of the attachments an embed shows

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        """True while this is a deferred "Bot is thinking..." placeholder."""
        return bool(self.flags & FLAG_LOADING)

    @property
    def pings(self) -> Pings:
        # Replying to one's own message notifies nobody, whatever replied_user says.
        replied = self.replied_author_id if self.replied_author_id != self.author.id else None
        return resolve_pings(self.content, self.allowed_mentions, replied)

    def custom_ids(self) -> list[str]:
        """Every component custom_id on the message, depth first."""
        found: list[str] = []
        _collect_custom_ids(self.components, found)
        return found

    def find_component(self, custom_id: str) -> dict[str, Any] | None:
        return _find_component(self.components, custom_id)

    @property
    def loose_attachments(self) -> list[StoredAttachment]:
        """The attachments members see as files below the message: all but those an embed
        showed by ``attachment://<filename>`` (see ``resolve_attachment_refs``)."""
        return [a for a in self.attachments if a.id not in self.in_embeds]

    def apply(self, fields: dict[str, Any], attachments: list[StoredAttachment] | None, at: float, via: str) -> None:
        """Apply an edit (PATCH body already parsed) and record it."""
        before = {a.id for a in self.attachments}
        uploads = tuple(a for a in attachments or [] if a.id not in before)
        ephemeral = self.flags & FLAG_EPHEMERAL  # fixed at creation; an edit cannot change it
        for key in ("content", "embeds", "components", "allowed_mentions", "flags"):
            if key in fields:
                setattr(self, key, normalise_field(key, fields[key]))
        if attachments is not None:
            self.attachments = attachments
        if "embeds" in fields:
            self.resolve_attachment_refs()
        else:  # the embeds stay as they were, and with them the files they show
            self.in_embeds &= {a.id for a in self.attachments}
        # An edit of a deferred placeholder turns it into a real message.
        self.flags = (self.flags & ~FLAG_LOADING) | ephemeral
        self.edited_timestamp = iso_now()
        loose = tuple(a.filename for a in self.loose_attachments)
        self.edits.append(MessageEdit(at=at, changes=dict(fields), via=via, uploads=uploads, loose=loose))

    def resolve_attachment_refs(self) -> None:
        """Embeds just set (a create, or an edit that sends ``embeds``): an image or thumbnail
        given as ``attachment://<filename>`` becomes the URL of the message's attachment of that
        name (uploaded now or kept), and that file is shown only inside the embed. Any other URL
        hides nothing, even the attachment's own URL read back from an earlier answer: Discord
        then shows the file below the message as well (discord-api-docs #4809 and #5675)."""
        by_name = {a.filename: a for a in self.attachments}
        self.in_embeds = set()
        for embed in self.embeds:
            for key in ("image", "thumbnail"):
                media = embed.get(key)
                url = str(media.get("url") or "") if isinstance(media, dict) else ""
                found = by_name.get(url.removeprefix("attachment://")) if url.startswith("attachment://") else None
                if found is not None:
                    embed[key] = {**media, "url": found.url, "proxy_url": found.url}
                    self.in_embeds.add(found.id)

    def mark_deleted(self, at: float) -> None:
        self.deleted = True
        self.deleted_at = at

    def to_payload(self, referenced: StoredMessage | None = None) -> dict[str, Any]:
        pings = self.pings
        payload: dict[str, Any] = {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "author": user_payload(self.author),
            "content": self.content,
            "timestamp": self.timestamp,
            "edited_timestamp": self.edited_timestamp,
            "tts": self.tts,
            "mention_everyone": pings.everyone,
            # Minimal user objects; FakeState.message_payload swaps in the world's full ones.
            "mentions": [{"id": str(u), "username": str(u), "discriminator": "0", "avatar": None} for u in pings.users],
            "mention_roles": [str(r) for r in pings.roles],
            "attachments": [a.to_payload() for a in self.attachments],
            "embeds": self.embeds,
            "components": self.components,
            "pinned": False,
            "type": self.type,
            "flags": self.flags,
        }
        if self.guild_id is not None:
            payload["guild_id"] = str(self.guild_id)
        if self.webhook_id is not None:
            payload["webhook_id"] = str(self.webhook_id)
            payload["application_id"] = str(self.webhook_id)
        if self.message_reference is not None:
            payload["message_reference"] = self.message_reference
            if referenced is not None:
                payload["referenced_message"] = None if referenced.deleted else referenced.to_payload()
        return payload


def normalise_field(key: str, value: Any) -> Any:
    if key == "content":
        return value or ""
    if key in ("embeds", "components"):
        return [{"type": "rich", **e} for e in value or []] if key == "embeds" else list(value or [])
    if key == "flags":
        return int(value or 0)
    return value


def _collect_custom_ids(components: list[dict[str, Any]], found: list[str]) -> None:
    for component in components:
        if "custom_id" in component:
            found.append(component["custom_id"])
        _collect_custom_ids(component.get("components", []), found)
        if isinstance(component.get("accessory"), dict):
            _collect_custom_ids([component["accessory"]], found)


def _find_component(components: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    for component in components:
        if component.get("custom_id") == custom_id:
            return component
        nested = [*component.get("components", []), *([component["accessory"]] if "accessory" in component else [])]
        hit = _find_component(nested, custom_id)
        if hit is not None:
            return hit
    return None
