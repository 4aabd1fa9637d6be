"""A fake Discord (REST API + gateway) that an unmodified discord.py client connects to.

Start ``FakeDiscord`` (an async context manager on 127.0.0.1), point discord.py at it with
``point_discord_py_at(fake.url)`` or run a bot with ``running_bot(bot, fake)``, then drive
the bot as users would (``slash``, ``click``, ``autocomplete``, ``submit_modal``) and read
back what it did (``messages``, ``channel_messages``, ``errors``, handles' acks and
responses). Discord's clocks (3 s ack, 15 min token) and limits (uploads, permissions,
form limits; rate limits when asked) are enforced at the wire, measured on a monotonic clock. A bot run as a
subprocess reaches the fake through ``sitecustomize/`` and ``WANBOT_FAKE_DISCORD_URL``.

Modules: ``world`` (static config), ``state`` (runtime store), ``gateway``, ``rest`` and
``webhooks`` (the wire), ``ratelimits`` (buckets and 429s), ``interactions``/``options``/
``modals`` (payload building and Discord's form rules), ``server`` (``FakeDiscord``),
``runner``/``pointing`` (hooking discord.py up).
"""

from .handles import InteractionHandle, InteractionKind
from .messages import MessageEdit, Pings, StoredAttachment, StoredMessage
from .modals import ModalInput, ShownModal
from .options import CommandAttachment, OptionType
from .pointing import ENV_VAR, point_discord_py_at
from .ratelimits import Limit, RateLimits
from .records import (
    CommandSync,
    ErrorRecord,
    InteractionAck,
    InteractionEvent,
    RequestRecord,
)
from .server import FakeDiscord
from .webhooks import CallbackType
from .world import (
    DEFAULT_UPLOAD_LIMIT,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    FakeWorld,
    Permission,
    shard_of,
    tier_upload_limit,
)

__all__ = [
    "DEFAULT_UPLOAD_LIMIT",
    "ENV_VAR",
    "CallbackType",
    "CommandAttachment",
    "CommandSync",
    "ErrorRecord",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeMember",
    "FakeRole",
    "FakeUser",
    "FakeWorld",
    "InteractionAck",
    "InteractionEvent",
    "InteractionHandle",
    "InteractionKind",
    "Limit",
    "MessageEdit",
    "ModalInput",
    "OptionType",
    "Permission",
    "Pings",
    "RateLimits",
    "RequestRecord",
    "ShownModal",
    "StoredAttachment",
    "StoredMessage",
    "point_discord_py_at",
    "running_bot",
    "shard_of",
    "tier_upload_limit",
]


def __getattr__(name: str) -> object:
    # running_bot imports discord.py; load it only when asked so the fake server itself
    # stays importable (and fast to import) without it.
    if name == "running_bot":
        from .runner import running_bot

        return running_bot
    raise AttributeError(name)
