"""The test's view of one interaction the fake sent: its ack, responses, clocks and errors.

Owns ``InteractionHandle``. The fake's webhook routes write into it (ack, responses, the
``@original`` message id); tests read it and wait on it. Its two clocks are Discord's:
the ack window (3 s unless shrunk) and the token lifetime (15 minutes), both measured on
the fake's monotonic ``FakeClock`` from the moment INTERACTION_CREATE was sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .clock import FakeClock
from .feed import ChangeFeed
from .messages import StoredMessage
from .modals import ShownModal
from .records import ErrorRecord, InteractionAck, InteractionEvent
from .world import FakeUser

__all__ = ["InteractionHandle", "InteractionKind"]


class InteractionKind:
    """Interaction types as Discord numbers them."""

    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    AUTOCOMPLETE = 4
    MODAL_SUBMIT = 5


@dataclass(eq=False)
class InteractionHandle:
    """One interaction: created by ``FakeDiscord.slash``/``click``, filled in by the bot."""

    id: int
    token: str
    type: int
    payload: dict[str, Any]
    user: FakeUser
    guild_id: int | None
    channel_id: int
    ack_window: float
    token_lifetime: float
    attachment_size_limit: int
    _clock: FakeClock
    _feed: ChangeFeed
    _messages: Callable[[int], StoredMessage | None]
    message_id: int | None = None
    dispatched_at: float | None = None
    # The (shard_id, num_shards) of every gateway session INTERACTION_CREATE went to.
    shards: list[tuple[int, int]] = field(default_factory=list)
    ack: InteractionAck | None = None
    original_message_id: int | None = None
    responses: list[InteractionEvent] = field(default_factory=list)
    errors: list[ErrorRecord] = field(default_factory=list)
    modal: dict[str, Any] | None = None
    choices: list[dict[str, Any]] | None = None
    ack_in_flight: bool = False
    _expired: bool = False

    # -- clocks ----------------------------------------------------------------------------

    def age(self) -> float:
        """Seconds since INTERACTION_CREATE was sent, on the fake clock."""
        return 0.0 if self.dispatched_at is None else self._clock.now() - self.dispatched_at

    def ack_is_late(self, at: float) -> bool:
        """Whether an ack arriving at ``at`` (fake clock) misses the window."""
        return self.dispatched_at is not None and at - self.dispatched_at > self.ack_window

    def token_expired(self) -> bool:
        return self._expired or self.age() > self.token_lifetime

    def expire(self) -> None:
        """Make the token dead now, as if 15 minutes had passed for this interaction only."""
        self._expired = True

    # -- waiting ---------------------------------------------------------------------------

    async def acked(self, timeout: float = 5.0) -> InteractionAck:
        """The ack, once the bot sends it; TimeoutError (listing errors) if it never does."""
        try:
            return await self._feed.wait_until(lambda: self.ack, timeout, f"the ack of interaction {self.id}")
        except TimeoutError as timeout_error:
            # Say what the fake refused meanwhile: a 10062 explains a missing ack at once.
            raise TimeoutError(f"{timeout_error} (errors: {self._error_summary()})") from None

    async def wait_for(
        self, predicate: Callable[[InteractionEvent], bool] | None = None, timeout: float = 5.0
    ) -> InteractionEvent:
        """The first response (already arrived or future) matching ``predicate``."""

        def probe() -> InteractionEvent | None:
            return next((e for e in self.responses if predicate is None or predicate(e)), None)

        return await self._feed.wait_until(probe, timeout, f"a response to interaction {self.id}")

    async def wait_for_edit(self, timeout: float = 5.0) -> InteractionEvent:
        """The first edit of ``@original`` (the usual answer after a defer)."""
        return await self.wait_for(lambda e: e.kind == "edit_original", timeout)

    # -- inspection ------------------------------------------------------------------------

    @property
    def original(self) -> StoredMessage | None:
        """The ``@original`` message (reply, deferred placeholder, or the clicked message)."""
        if self.original_message_id is None:
            return None
        return self._messages(self.original_message_id)

    @property
    def shown_modal(self) -> ShownModal | None:
        """The modal the bot answered with (callback type 9), as the member sees it."""
        return None if self.modal is None else ShownModal.of(self.modal)

    @property
    def followups(self) -> list[InteractionEvent]:
        return [e for e in self.responses if e.kind == "followup"]

    def _error_summary(self) -> str:
        return ", ".join(f"{e.status}/{e.code} {e.route}" for e in self.errors) or "none"

    def record(self, event: InteractionEvent) -> None:
        self.responses.append(event)
