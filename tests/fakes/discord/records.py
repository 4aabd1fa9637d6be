"""Plain records the fake keeps for tests to assert on: acks, responses, errors, syncs.

Owns the immutable facts (what happened, when, on which route); the objects that *change*
(messages, interaction handles) live in ``messages.py`` and ``handles.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["CommandSync", "ErrorRecord", "InteractionAck", "InteractionEvent", "RequestRecord"]


@dataclass(frozen=True)
class InteractionAck:
    """The accepted first callback of an interaction.

    ``latency_ms`` runs from the moment the fake sent INTERACTION_CREATE to the moment it
    handled the callback, on the fake's monotonic clock.
    """

    type: int
    at: float
    latency_ms: float
    body: dict[str, Any]


@dataclass(frozen=True)
class InteractionEvent:
    """One accepted response-side request of an interaction, in arrival order.

    ``kind`` is one of ``callback``, ``followup``, ``edit_original``, ``edit_followup``,
    ``delete_original``, ``delete_followup``. ``data`` is the message part of the body
    (the callback's ``data`` object, or the whole webhook body).
    """

    kind: str
    at: float
    body: dict[str, Any]
    message_id: int | None = None
    callback_type: int | None = None

    @property
    def data(self) -> dict[str, Any]:
        if self.kind == "callback":
            return self.body.get("data") or {}
        return self.body

    @property
    def content(self) -> str | None:
        return self.data.get("content")


@dataclass(frozen=True)
class ErrorRecord:
    """A non-2xx answer the fake gave (``code`` is Discord's JSON error code)."""

    method: str
    route: str
    path: str
    status: int
    code: int
    message: str
    at: float
    interaction_id: int | None = None


@dataclass(frozen=True)
class RequestRecord:
    """Every REST request the fake answered, for debugging and call-count assertions."""

    method: str
    route: str
    path: str
    status: int
    at: float


@dataclass(frozen=True)
class CommandSync:
    """One bulk overwrite of application commands (``guild_id`` None = global)."""

    guild_id: int | None
    at: float
    names: tuple[str, ...] = field(default_factory=tuple)
