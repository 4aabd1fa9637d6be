"""Typing a test's ``{name: value}`` options the way Discord's client would send them.

Owns turning ``fake.slash("admin purge", {"user": bob})`` into the nested ``options`` list
of an APPLICATION_COMMAND interaction, typed from the command definition the bot synced
(so a test that passes an option the command does not declare, misses a required one or
picks a value outside the choices fails loudly, as a real user could not do it). Without a
synced definition, types come from ``option_types`` or are inferred from the Python values.

An attachment option takes a ``CommandAttachment`` (the file a user picks): as Discord does,
the file goes onto the CDN first (``ephemeral-attachments/<app id>/<id>/<name>``, served by
the fake), the option's value is the attachment's id, and ``resolved.attachments`` carries its
object (filename, size, url, content_type guessed from the name, width and height for a
picture, ``ephemeral``).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .messages import StoredAttachment
from .payloads import member_payload, role_payload, user_payload
from .world import FakeChannel, FakeGuild, FakeRole, FakeUser, FakeWorld

__all__ = ["BuiltOptions", "CommandAttachment", "OptionType", "build_command_options"]


class OptionType:
    SUB_COMMAND = 1
    SUB_COMMAND_GROUP = 2
    STRING = 3
    INTEGER = 4
    BOOLEAN = 5
    USER = 6
    CHANNEL = 7
    ROLE = 8
    MENTIONABLE = 9
    NUMBER = 10
    ATTACHMENT = 11


@dataclass(frozen=True)
class CommandAttachment:
    """A file a user gives a slash command's attachment option. ``content_type`` defaults to
    what Discord guesses from the name (so a PNG named ``cat.gif`` is declared a GIF)."""

    filename: str
    data: bytes
    content_type: str | None = None

    @property
    def declared_type(self) -> str | None:
        return self.content_type or mimetypes.guess_type(self.filename)[0]


# Puts a user's file on the CDN: how the fake's state stores an attachment option's file.
Uploader = Callable[[str, bytes, str | None], StoredAttachment]


@dataclass
class BuiltOptions:
    """The ``options`` tree and ``resolved`` objects of an interaction's ``data``."""

    options: list[dict[str, Any]]
    resolved: dict[str, dict[str, Any]] = field(default_factory=dict)
    upload: Uploader | None = None


def build_command_options(
    world: FakeWorld,
    guild: FakeGuild | None,
    path: list[str],
    values: dict[str, Any],
    definition: dict[str, Any] | None,
    *,
    option_types: dict[str, int] | None = None,
    focused: str | None = None,
    upload: Uploader | None = None,
) -> BuiltOptions:
    """Options for ``path`` (root name, then group/subcommand names) with leaf ``values``."""
    built = BuiltOptions([], upload=upload)
    leaf_defs, chain = _walk_definition(path, definition)
    leaf: list[dict[str, Any]] = []
    for name, value in values.items():
        spec = _option_spec(name, leaf_defs, definition, option_types, value)
        if focused is None:
            _check_value(path, spec, value)
        entry = {"name": name, "type": spec["type"], "value": _wire_value(world, guild, spec["type"], value, built)}
        if name == focused:
            entry["focused"] = True
        leaf.append(entry)
    if focused is None and definition is not None:
        _check_required(path, leaf_defs, values)
    built.options = _wrap(chain, leaf)
    return built


def _walk_definition(
    path: list[str], definition: dict[str, Any] | None
) -> tuple[list[dict[str, Any]] | None, list[tuple[str, int]]]:
    """Leaf option definitions and the (name, type) chain of groups/subcommands to wrap in."""
    if definition is None:
        # Unsynced: assume a group when three names are given, a subcommand for two.
        kinds = [OptionType.SUB_COMMAND_GROUP, OptionType.SUB_COMMAND][-(len(path) - 1) :] if len(path) > 1 else []
        return None, list(zip(path[1:], kinds))
    options = definition.get("options") or []
    chain: list[tuple[str, int]] = []
    for name in path[1:]:
        nested = next((o for o in options if o["name"] == name and o["type"] in (1, 2)), None)
        if nested is None:
            raise ValueError(f"/{' '.join(path)}: {name!r} is not a subcommand or group of the synced command")
        chain.append((name, nested["type"]))
        options = nested.get("options") or []
    if any(o["type"] in (1, 2) for o in options):
        raise ValueError(f"/{' '.join(path)} is a group: name one of its subcommands")
    return options, chain


def _option_spec(
    name: str,
    leaf_defs: list[dict[str, Any]] | None,
    definition: dict[str, Any] | None,
    option_types: dict[str, int] | None,
    value: Any,
) -> dict[str, Any]:
    if option_types and name in option_types:
        found = next((o for o in leaf_defs or [] if o["name"] == name), {})
        return {**found, "name": name, "type": option_types[name]}
    if leaf_defs is not None:
        found = next((o for o in leaf_defs if o["name"] == name), None)
        if found is None:
            known = ", ".join(o["name"] for o in leaf_defs) or "none"
            raise ValueError(f"the synced command has no option {name!r} (it has: {known})")
        return found
    if definition is None:
        return {"name": name, "type": _infer_type(value)}
    raise ValueError(f"cannot type option {name!r}")


def _infer_type(value: Any) -> int:
    if isinstance(value, bool):  # before int: bool is an int subclass
        return OptionType.BOOLEAN
    if isinstance(value, int):
        return OptionType.INTEGER
    if isinstance(value, float):
        return OptionType.NUMBER
    if isinstance(value, FakeUser):
        return OptionType.USER
    if isinstance(value, FakeChannel):
        return OptionType.CHANNEL
    if isinstance(value, FakeRole):
        return OptionType.ROLE
    if isinstance(value, CommandAttachment):
        return OptionType.ATTACHMENT
    return OptionType.STRING


def _check_value(path: list[str], spec: dict[str, Any], value: Any) -> None:
    """Refuse values the Discord client would not let a user send."""
    where = f"/{' '.join(path)} {spec['name']}"
    choices = spec.get("choices")
    if choices and value not in [c["value"] for c in choices]:
        raise ValueError(f"{where}: {value!r} is not one of the choices {[c['value'] for c in choices]}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if spec.get("min_value") is not None and value < spec["min_value"]:
            raise ValueError(f"{where}: {value} is below min_value {spec['min_value']}")
        if spec.get("max_value") is not None and value > spec["max_value"]:
            raise ValueError(f"{where}: {value} is above max_value {spec['max_value']}")
    if isinstance(value, str):
        if spec.get("min_length") is not None and len(value) < spec["min_length"]:
            raise ValueError(f"{where}: shorter than min_length {spec['min_length']}")
        if spec.get("max_length") is not None and len(value) > spec["max_length"]:
            raise ValueError(f"{where}: longer than max_length {spec['max_length']}")


def _check_required(path: list[str], leaf_defs: list[dict[str, Any]] | None, values: dict[str, Any]) -> None:
    missing = [o["name"] for o in leaf_defs or [] if o.get("required") and o["name"] not in values]
    if missing:
        raise ValueError(f"/{' '.join(path)}: required option(s) missing: {', '.join(missing)}")


def _wire_value(world: FakeWorld, guild: FakeGuild | None, option_type: int, value: Any, built: BuiltOptions) -> Any:
    """The JSON value, adding ``resolved`` entries for users, channels and roles."""
    if option_type in (OptionType.USER, OptionType.MENTIONABLE) and not isinstance(value, FakeRole):
        user = value if isinstance(value, FakeUser) else world.get_user(int(value))
        if user is None:
            raise ValueError(f"unknown user {value!r}")
        built.resolved.setdefault("users", {})[str(user.id)] = user_payload(user)
        if guild is not None and guild.member(user.id) is not None:
            member = member_payload(guild, user, with_permissions=True)
            member.pop("user")  # resolved members omit the user, which sits under "users"
            built.resolved.setdefault("members", {})[str(user.id)] = member
        return str(user.id)
    if option_type in (OptionType.ROLE, OptionType.MENTIONABLE):
        role = value if isinstance(value, FakeRole) else (guild.role(int(value)) if guild else None)
        if role is None:
            raise ValueError(f"unknown role {value!r}")
        built.resolved.setdefault("roles", {})[str(role.id)] = role_payload(role)
        return str(role.id)
    if option_type == OptionType.CHANNEL:
        return _channel_value(world, value, built)
    if option_type == OptionType.ATTACHMENT:
        return _attachment_value(value, built)
    if option_type == OptionType.INTEGER:
        return int(value)
    if option_type == OptionType.NUMBER:
        return float(value)
    return value


def _attachment_value(value: Any, built: BuiltOptions) -> str:
    if not isinstance(value, CommandAttachment):
        raise ValueError(f"an attachment option takes a CommandAttachment, not {value!r}")
    if built.upload is None:
        raise ValueError("attachment options need the fake's CDN (build through FakeDiscord.slash)")
    stored = built.upload(value.filename, value.data, value.declared_type)
    built.resolved.setdefault("attachments", {})[str(stored.id)] = stored.to_payload()
    return str(stored.id)


def _channel_value(world: FakeWorld, value: Any, built: BuiltOptions) -> str:
    channel_id = value.id if isinstance(value, FakeChannel) else int(value)
    found = world.find_channel(channel_id)
    if found is None:
        raise ValueError(f"unknown channel {value!r}")
    guild, channel = found
    built.resolved.setdefault("channels", {})[str(channel.id)] = {
        "id": str(channel.id),
        "name": channel.name,
        "type": channel.type,
        "guild_id": str(guild.id),
        "permissions": str(guild.permissions_of(world.bot.id)),
        "parent_id": None,
    }
    return str(channel.id)


def _wrap(chain: list[tuple[str, int]], leaf: list[dict[str, Any]]) -> list[dict[str, Any]]:
    options = leaf
    for name, option_type in reversed(chain):
        options = [{"name": name, "type": option_type, "options": options}]
    return options
