"""The configured world of the fake Discord: application, bot user, guilds, channels, roles.

Owns the *static* description a test sets up before the bot connects (who exists, which
guild is boosted, which channel the bot may not post in). Runtime state (messages,
interactions, synced commands) lives in ``state.py``. ``FakeWorld.default()`` builds a
small ready-made world so most tests need no setup at all; ``FakeWorld.sharded(n)`` one such
guild on each of ``n`` gateway shards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_UPLOAD_LIMIT",
    "FakeChannel",
    "FakeGuild",
    "FakeMember",
    "FakeRole",
    "FakeUser",
    "FakeWorld",
    "Permission",
    "shard_of",
    "tier_upload_limit",
]

MIB = 1024 * 1024
# Discord lowered the default to 10 MiB on 2025-01-16; boost tier 2 gets 50, tier 3 100.
DEFAULT_UPLOAD_LIMIT = 10 * MIB
_TIER_UPLOAD_LIMITS = {0: DEFAULT_UPLOAD_LIMIT, 1: DEFAULT_UPLOAD_LIMIT, 2: 50 * MIB, 3: 100 * MIB}

# Channel types from the Discord docs (only the ones the fake models).
GUILD_TEXT = 0
DM = 1


def tier_upload_limit(premium_tier: int) -> int:
    """The per-file upload limit Discord applies to a guild with this boost tier."""
    return _TIER_UPLOAD_LIMITS.get(premium_tier, DEFAULT_UPLOAD_LIMIT)


class Permission:
    """Permission bits (a subset) as Discord numbers them."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    USE_APPLICATION_COMMANDS = 1 << 31
    SEND_MESSAGES_IN_THREADS = 1 << 38
    ALL = (1 << 51) - 1

    # What @everyone gets in a freshly created guild, near enough for a bot's needs.
    EVERYONE_DEFAULT = (
        CREATE_INSTANT_INVITE
        | ADD_REACTIONS
        | VIEW_CHANNEL
        | SEND_MESSAGES
        | EMBED_LINKS
        | ATTACH_FILES
        | READ_MESSAGE_HISTORY
        | USE_EXTERNAL_EMOJIS
        | USE_APPLICATION_COMMANDS
        | SEND_MESSAGES_IN_THREADS
    )


@dataclass
class FakeUser:
    """A Discord user. ``dms_open=False`` makes DMs to them fail with 403/50007."""

    id: int
    name: str
    bot: bool = False
    global_name: str | None = None
    dms_open: bool = True


@dataclass
class FakeRole:
    """A guild role; ``permissions`` is a bit field (see :class:`Permission`)."""

    id: int
    name: str
    permissions: int = 0
    position: int = 1
    mentionable: bool = False


@dataclass
class FakeChannel:
    """A guild text channel.

    ``bot_can_post=False`` is the permission knob: bot-token sends and edits answer
    403/50013, and the bot's own permission overwrite (sent in GUILD_CREATE) and the
    interaction's ``app_permissions`` lack SEND_MESSAGES, so discord.py's own permission
    checks agree with the server. Interaction responses still work there, as on Discord.
    """

    id: int
    name: str
    type: int = GUILD_TEXT
    bot_can_post: bool = True
    nsfw: bool = False
    position: int = 0


@dataclass
class FakeMember:
    """A user's membership of a guild."""

    user: FakeUser
    role_ids: list[int] = field(default_factory=list)
    nick: str | None = None


@dataclass
class FakeGuild:
    """A guild with its channels, roles and members.

    The @everyone role (id == guild id) is added automatically if absent. ``upload_limit``
    overrides the boost-tier limit for tests that need a small one; note that discord.py's
    ``Guild.filesize_limit`` only knows tiers, whereas ``Interaction.filesize_limit`` (taken
    from the interaction's ``attachment_size_limit``) follows the override.
    """

    id: int
    name: str
    owner_id: int
    channels: list[FakeChannel] = field(default_factory=list)
    roles: list[FakeRole] = field(default_factory=list)
    members: list[FakeMember] = field(default_factory=list)
    premium_tier: int = 0
    preferred_locale: str = "en-US"
    upload_limit: int | None = None

    def __post_init__(self) -> None:
        if not any(role.id == self.id for role in self.roles):
            everyone = FakeRole(self.id, "@everyone", Permission.EVERYONE_DEFAULT, position=0)
            self.roles.insert(0, everyone)

    @property
    def filesize_limit(self) -> int:
        """Per-file upload limit in bytes for bot and interaction uploads in this guild."""
        if self.upload_limit is not None:
            return self.upload_limit
        return tier_upload_limit(self.premium_tier)

    def channel(self, channel_id: int) -> FakeChannel | None:
        return next((c for c in self.channels if c.id == channel_id), None)

    def member(self, user_id: int) -> FakeMember | None:
        return next((m for m in self.members if m.user.id == user_id), None)

    def role(self, role_id: int) -> FakeRole | None:
        return next((r for r in self.roles if r.id == role_id), None)

    def permissions_of(self, user_id: int) -> int:
        """Guild-level permissions of a member (owner and administrators get everything)."""
        if user_id == self.owner_id:
            return Permission.ALL
        member = self.member(user_id)
        role_ids = [self.id, *(member.role_ids if member else [])]
        bits = 0
        for role_id in role_ids:
            role = self.role(role_id)
            bits |= role.permissions if role else 0
        return Permission.ALL if bits & Permission.ADMINISTRATOR else bits

    def channel_permissions_of(self, user_id: int, channel: FakeChannel, bot_id: int) -> int:
        """Permissions in a channel; only the bot's ``bot_can_post`` overwrite is modelled.

        The knob wins even over ADMINISTRATOR: a test that turns it off wants the failure.
        """
        bits = self.permissions_of(user_id)
        if user_id == bot_id and not channel.bot_can_post:
            bits &= ~Permission.SEND_MESSAGES
        return bits


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard Discord routes ``guild_id`` to when the bot runs ``shard_count`` shards."""
    return (guild_id >> 22) % shard_count


def _lab_guild(guild_id: int, name: str, bot: FakeUser, alice: FakeUser, bob: FakeUser, carol: FakeUser) -> FakeGuild:
    moderator = FakeRole(guild_id + 1, "Moderator", Permission.MANAGE_GUILD | Permission.MANAGE_MESSAGES)
    bot_role = FakeRole(guild_id + 2, "wanbot", Permission.EVERYONE_DEFAULT | Permission.MANAGE_MESSAGES)
    return FakeGuild(
        id=guild_id,
        name=name,
        owner_id=alice.id,
        channels=[
            FakeChannel(guild_id + 10, "general", position=0),
            FakeChannel(guild_id + 11, "videos", position=1),
            FakeChannel(guild_id + 12, "locked", bot_can_post=False, position=2),
        ],
        roles=[moderator, bot_role],
        members=[
            FakeMember(alice),
            FakeMember(bob, [moderator.id]),
            FakeMember(carol),
            FakeMember(bot, [bot_role.id]),
        ],
    )


@dataclass
class FakeWorld:
    """Everything that exists before the bot connects."""

    application_id: int
    bot: FakeUser
    guilds: list[FakeGuild]
    application_name: str = "wanbot-test"
    application_flags: int = 0
    # Users that share no guild with the bot can still be DM'd if listed here.
    extra_users: list[FakeUser] = field(default_factory=list)

    @classmethod
    def default(cls) -> FakeWorld:
        """One guild "Wan Lab" with #general, #videos and #locked (bot cannot post).

        Members: ``alice`` (owner), ``bob`` (Moderator role), ``carol`` (DMs closed), the bot.
        """
        return cls.sharded(1)

    @classmethod
    def sharded(cls, shard_count: int, *, crowd: int = 0) -> FakeWorld:
        """One guild like the default "Wan Lab" on each of ``shard_count`` shards: guild ``i``
        (``guilds[i]``) routes to shard ``i`` by Discord's formula ``(guild_id >> 22) % count``.

        Every guild has the same members and its own channels and roles, laid out like the
        default world's guild (which is ``sharded(1)``). ``crowd`` more members, ``member0``,
        ``member1``..., are spread over the guilds: ``member<k>`` belongs to ``guilds[k % count]``
        only (see ``crowd_members``).
        """
        app_id = 1_100_000_000_000_000_001
        bot = FakeUser(app_id, "wanbot", bot=True)
        alice = FakeUser(1_100_000_000_000_000_101, "alice", global_name="Alice")
        bob = FakeUser(1_100_000_000_000_000_102, "bob", global_name="Bob")
        carol = FakeUser(1_100_000_000_000_000_103, "carol", dms_open=False)
        first_id = 1_100_000_000_000_001_000
        guilds = []
        for shard in range(shard_count):
            # Moving the snowflake's timestamp part moves the guild to the next shard.
            step = (shard - shard_of(first_id, shard_count)) % shard_count
            guild_id = first_id + (step << 22)
            name = "Wan Lab" if shard == 0 else f"Wan Lab {shard + 1}"
            guilds.append(_lab_guild(guild_id, name, bot, alice, bob, carol))
        for k in range(crowd):
            guilds[k % shard_count].members.append(FakeMember(FakeUser(1_200_000_000_000_000_000 + k, f"member{k}")))
        return cls(application_id=app_id, bot=bot, guilds=guilds)

    def crowd_members(self) -> list[tuple[FakeUser, FakeGuild]]:
        """The ``crowd`` members of ``sharded(...)`` in order (``member0`` first), each with the
        guild it belongs to: consecutive members are in consecutive guilds."""
        crowd = [(member.user, guild) for guild in self.guilds for member in guild.members
                 if member.user.name.startswith("member")]
        return sorted(crowd, key=lambda pair: pair[0].id)

    # -- lookups used by the server and by tests -------------------------------------------

    @property
    def guild(self) -> FakeGuild:
        """The first guild: the one most tests use."""
        return self.guilds[0]

    def get_guild(self, guild_id: int) -> FakeGuild | None:
        return next((g for g in self.guilds if g.id == guild_id), None)

    def find_channel(self, channel_id: int) -> tuple[FakeGuild, FakeChannel] | None:
        for guild in self.guilds:
            channel = guild.channel(channel_id)
            if channel is not None:
                return guild, channel
        return None

    def channel_named(self, name: str, guild: FakeGuild | None = None) -> FakeChannel:
        """A channel by name (in ``guild`` or the first guild); KeyError if absent."""
        for channel in (guild or self.guild).channels:
            if channel.name == name:
                return channel
        raise KeyError(f"no channel named {name!r}")

    def users(self) -> list[FakeUser]:
        seen: dict[int, FakeUser] = {self.bot.id: self.bot}
        for guild in self.guilds:
            for member in guild.members:
                seen.setdefault(member.user.id, member.user)
        for user in self.extra_users:
            seen.setdefault(user.id, user)
        return list(seen.values())

    def get_user(self, user_id: int) -> FakeUser | None:
        return next((u for u in self.users() if u.id == user_id), None)

    def user_named(self, name: str) -> FakeUser:
        """A user by username; KeyError if absent."""
        for user in self.users():
            if user.name == name:
                return user
        raise KeyError(f"no user named {name!r}")

    def default_member(self, guild: FakeGuild) -> FakeUser:
        """The first human member: who types commands when a test does not say."""
        for member in guild.members:
            if not member.user.bot:
                return member.user
        raise LookupError(f"guild {guild.name!r} has no human members")
