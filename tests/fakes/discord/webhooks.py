"""Interaction routes of the fake: the callback (ack) and the interaction webhook.

Owns Discord's interaction clocks and rules, checked at the moment each request is
handled (so a bot that blocks its event loop is caught): an ack later than the window →
404/10062, a second ack → 400/40060, a callback type the interaction cannot take or a modal
that breaks Discord's form rules (``modals.py``) → 400/50035; on the webhook, a dead token →
401/50027, use before any ack → 404/10015, and uploads over the interaction's
``attachment_size_limit`` → 413/40005. The callback answers the ``with_response`` shape
discord.py 2.7 reads (``interaction`` and ``resource``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .gateway import FakeGateway
from .handles import InteractionHandle, InteractionKind
from .messages import FLAG_EPHEMERAL, FLAG_LOADING, StoredMessage
from .modals import check_modal
from .records import InteractionAck, InteractionEvent
from .rest import API_PREFIX
from .state import FakeState
from .validation import check_message_body, check_upload_sizes
from .wire import DiscordApiError, RequestBody, empty_response, json_response, read_body

__all__ = ["CallbackType", "InteractionRoutes"]


class CallbackType:
    """Interaction callback types as Discord numbers them."""

    CHANNEL_MESSAGE = 4
    DEFERRED_CHANNEL_MESSAGE = 5
    DEFERRED_UPDATE_MESSAGE = 6
    UPDATE_MESSAGE = 7
    AUTOCOMPLETE_RESULT = 8
    MODAL = 9


_ALLOWED_CALLBACKS: dict[int, set[int]] = {
    InteractionKind.APPLICATION_COMMAND: {4, 5, 9},
    InteractionKind.MESSAGE_COMPONENT: {4, 5, 6, 7, 9},
    InteractionKind.AUTOCOMPLETE: {8},
    InteractionKind.MODAL_SUBMIT: {4, 5, 6, 7},
}


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true")


class InteractionRoutes:
    """Handlers for /interactions/{id}/{token}/callback and /webhooks/{app}/{token}/..."""

    def __init__(self, state: FakeState, gateway: FakeGateway) -> None:
        self._state = state
        self._gateway = gateway

    def register(self, app: web.Application) -> None:
        p = API_PREFIX
        add = app.router.add_route
        add("POST", f"{p}/interactions/{{interaction_id}}/{{token}}/callback", self.callback)
        add("POST", f"{p}/webhooks/{{app_id}}/{{token}}", self.followup)
        add("GET", f"{p}/webhooks/{{app_id}}/{{token}}/messages/{{message_id}}", self.get_message)
        add("PATCH", f"{p}/webhooks/{{app_id}}/{{token}}/messages/{{message_id}}", self.edit_message)
        add("DELETE", f"{p}/webhooks/{{app_id}}/{{token}}/messages/{{message_id}}", self.delete_message)

    # -- the callback ------------------------------------------------------------------------

    async def callback(self, request: web.Request) -> web.Response:
        now = self._state.clock.now()  # before reading the body: Discord times the arrival
        handle = self._state.interactions.get(int(request.match_info["interaction_id"]))
        if handle is None or handle.token != request.match_info["token"]:
            raise DiscordApiError.unknown_interaction()
        if handle.ack is not None or handle.ack_in_flight:
            raise DiscordApiError.already_acknowledged()
        if handle.ack_is_late(now):
            raise DiscordApiError.unknown_interaction()
        # Claimed before the first await, so two concurrent callbacks (two bot processes
        # answering one interaction) cannot both pass the check above.
        handle.ack_in_flight = True
        try:
            body = await read_body(request)
            callback_type = int(body.payload.get("type", 0))
            if callback_type not in _ALLOWED_CALLBACKS.get(handle.type, set()):
                raise DiscordApiError.invalid_form("type", "INTERACTION_RESPONSE_TYPE_INVALID", "Invalid type.")
            resource = await self._apply_callback(handle, callback_type, body)
        finally:
            handle.ack_in_flight = False
        assert handle.dispatched_at is not None
        handle.ack = InteractionAck(callback_type, now, (now - handle.dispatched_at) * 1000, body.payload)
        handle.record(InteractionEvent("callback", now, body.payload, handle.original_message_id, callback_type))
        await self._state.changed()
        if not _truthy(request.query.get("with_response")):
            return empty_response()
        return json_response(self._callback_answer(handle, callback_type, resource))

    async def _apply_callback(self, handle: InteractionHandle, callback_type: int, body: RequestBody) -> dict[str, Any]:
        """Carry out the callback; returns the ``resource`` object of the answer."""
        data: dict[str, Any] = body.payload.get("data") or {}
        resource: dict[str, Any] = {"type": callback_type}
        if callback_type == CallbackType.CHANNEL_MESSAGE:
            message = await self._create(handle, body, data, via="interaction")
            handle.original_message_id = message.id
            resource["message"] = self._state.message_payload(message)
        elif callback_type == CallbackType.DEFERRED_CHANNEL_MESSAGE:
            placeholder = {"flags": FLAG_LOADING | (int(data.get("flags", 0)) & FLAG_EPHEMERAL)}
            message = await self._create(handle, RequestBody(placeholder), placeholder, via="interaction", check=False)
            handle.original_message_id = message.id
        elif callback_type == CallbackType.DEFERRED_UPDATE_MESSAGE:
            handle.original_message_id = handle.message_id
        elif callback_type == CallbackType.UPDATE_MESSAGE:
            message = self._clicked_message(handle)
            await self._edit(handle, message, body, data, via="interaction")
            handle.original_message_id = message.id
            resource["message"] = self._state.message_payload(message)
        elif callback_type == CallbackType.AUTOCOMPLETE_RESULT:
            handle.choices = list(data.get("choices") or [])
        elif callback_type == CallbackType.MODAL:
            handle.modal = check_modal(data)
        return resource

    def _callback_answer(
        self, handle: InteractionHandle, callback_type: int, resource: dict[str, Any]
    ) -> dict[str, Any]:
        original = handle.original
        interaction: dict[str, Any] = {
            "id": str(handle.id),
            "type": handle.type,
            "response_message_loading": callback_type == CallbackType.DEFERRED_CHANNEL_MESSAGE,
            "response_message_ephemeral": bool(original and original.ephemeral),
        }
        if original is not None and callback_type != CallbackType.DEFERRED_UPDATE_MESSAGE:
            interaction["response_message_id"] = str(original.id)
        return {"interaction": interaction, "resource": resource}

    def _clicked_message(self, handle: InteractionHandle) -> StoredMessage:
        message = self._state.messages.get(handle.message_id or 0)
        if message is None or message.deleted:
            raise DiscordApiError.unknown_message()
        return message

    # -- the webhook -------------------------------------------------------------------------

    def _webhook_handle(self, request: web.Request) -> InteractionHandle:
        """The interaction behind a webhook URL, enforcing token life and ack-first."""
        if request.match_info["app_id"] != str(self._state.world.application_id):
            raise DiscordApiError.unknown_webhook()
        handle = self._state.interaction_by_token(request.match_info["token"])
        if handle is None or handle.token_expired():
            raise DiscordApiError.invalid_webhook_token()
        if handle.ack is None:
            raise DiscordApiError.unknown_webhook()
        return handle

    def _webhook_message(self, request: web.Request, handle: InteractionHandle) -> tuple[StoredMessage, bool]:
        """(message, is_original) for ``@original`` or one of this interaction's followups."""
        raw = request.match_info["message_id"]
        is_original = raw == "@original"
        message_id = handle.original_message_id if is_original else int(raw)
        message = self._state.messages.get(message_id or 0)
        if message is None or message.deleted:
            raise DiscordApiError.unknown_message()
        if not is_original and message.interaction_id != handle.id and message.id != handle.original_message_id:
            raise DiscordApiError.unknown_message()
        return message, is_original or message.id == handle.original_message_id

    async def followup(self, request: web.Request) -> web.Response:
        handle = self._webhook_handle(request)
        body = await read_body(request)
        now = self._state.clock.now()
        original = handle.original
        first_after_defer = original is not None and original.loading and not handle.followups
        if first_after_defer:
            # Deprecated Discord behaviour the project must not rely on, reproduced so a test
            # sees it: the first followup after a defer replaces the "thinking" placeholder.
            assert original is not None
            await self._edit(handle, original, body, body.payload, via="followup")
            message = original
        else:
            message = await self._create(handle, body, body.payload, via="followup")
        handle.record(InteractionEvent("followup", now, body.payload, message.id))
        await self._state.changed()
        if not _truthy(request.query.get("wait")):
            return empty_response()
        return json_response(self._state.message_payload(message))

    async def get_message(self, request: web.Request) -> web.Response:
        handle = self._webhook_handle(request)
        message, _ = self._webhook_message(request, handle)
        return json_response(self._state.message_payload(message))

    async def edit_message(self, request: web.Request) -> web.Response:
        handle = self._webhook_handle(request)
        message, is_original = self._webhook_message(request, handle)
        body = await read_body(request)
        now = self._state.clock.now()
        await self._edit(handle, message, body, body.payload, via="webhook")
        kind = "edit_original" if is_original else "edit_followup"
        handle.record(InteractionEvent(kind, now, body.payload, message.id))
        await self._state.changed()
        return json_response(self._state.message_payload(message))

    async def delete_message(self, request: web.Request) -> web.Response:
        handle = self._webhook_handle(request)
        message, is_original = self._webhook_message(request, handle)
        now = self._state.clock.now()
        message.mark_deleted(now)
        kind = "delete_original" if is_original else "delete_followup"
        handle.record(InteractionEvent(kind, now, {}, message.id))
        await self._gateway.announce_message("MESSAGE_DELETE", message)
        return empty_response()

    # -- shared message work -----------------------------------------------------------------

    async def _create(
        self, handle: InteractionHandle, body: RequestBody, data: dict[str, Any], *, via: str, check: bool = True
    ) -> StoredMessage:
        if check:
            check_upload_sizes(body.files, handle.attachment_size_limit)
            check_message_body(data, creating=True, file_count=len(body.files))
        target = self._state.resolve_channel(handle.channel_id)
        attachments = self._state.build_attachments(target.id, RequestBody(data, body.files)) or []
        message = self._state.create_message(target, data, attachments, via=via, interaction=handle)
        await self._gateway.announce_message("MESSAGE_CREATE", message)
        return message

    async def _edit(
        self, handle: InteractionHandle, message: StoredMessage, body: RequestBody, data: dict[str, Any], *, via: str
    ) -> None:
        check_upload_sizes(body.files, handle.attachment_size_limit)
        check_message_body(data, creating=False, file_count=len(body.files))
        request = RequestBody(data, body.files)
        attachments = self._state.build_attachments(message.channel_id, request, message.attachments)
        message.apply(data, attachments, self._state.clock.now(), via=via)
        await self._gateway.announce_message("MESSAGE_UPDATE", message)
