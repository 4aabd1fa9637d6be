"""Discord's form limits on messages, checked the way the API checks them.

Owns the rules that turn a bad message body into 400/50035 (content over 2000 characters,
embed limits, component limits, duplicate custom_ids), empty messages into 400/50006 and
oversize files into 413/40005. A bot that echoes a long prompt into an embed title finds
out here rather than in production.
"""

from __future__ import annotations

from typing import Any

from .wire import DiscordApiError, UploadedFile

__all__ = ["check_message_body", "check_upload_sizes"]

_EMBED_FIELD_LIMITS = {"title": 256, "description": 4096}
_EMBED_TOTAL_LIMIT = 6000
_MAX_EMBEDS = 10
_MAX_FIELDS = 25
_MAX_ROWS = 5
_MAX_ROW_ITEMS = 5
_ACTION_ROW = 1


def check_upload_sizes(files: list[UploadedFile], limit: int) -> None:
    """413/40005 if any single file exceeds the per-file limit (Discord checks each file)."""
    if any(len(f.data) > limit for f in files):
        raise DiscordApiError.too_large()


def check_message_body(payload: dict[str, Any], *, creating: bool, file_count: int) -> None:
    """Validate a message create/edit body; raises DiscordApiError on the first problem."""
    content = payload.get("content")
    if content is not None and len(str(content)) > 2000:
        raise DiscordApiError.invalid_form("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
    embeds = payload.get("embeds") or []
    if len(embeds) > _MAX_EMBEDS:
        raise DiscordApiError.invalid_form("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    for index, embed in enumerate(embeds):
        _check_embed(index, embed)
    _check_components(payload.get("components") or [])
    if creating and _is_empty(payload, file_count):
        raise DiscordApiError.empty_message()


def _is_empty(payload: dict[str, Any], file_count: int) -> bool:
    keys = ("content", "embeds", "components", "sticker_ids", "poll")
    return file_count == 0 and not any(payload.get(k) for k in keys)


def _check_embed(index: int, embed: dict[str, Any]) -> None:
    for key, limit in _EMBED_FIELD_LIMITS.items():
        if len(embed.get(key) or "") > limit:
            message = f"Must be {limit} or fewer in length."
            raise DiscordApiError.invalid_form(f"embeds.{index}.{key}", "BASE_TYPE_MAX_LENGTH", message)
    fields = embed.get("fields") or []
    if len(fields) > _MAX_FIELDS:
        raise DiscordApiError.invalid_form(f"embeds.{index}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer.")
    for field_index, field in enumerate(fields):
        for key, limit in (("name", 256), ("value", 1024)):
            text = field.get(key) or ""
            if not text or len(text) > limit:
                path = f"embeds.{index}.fields.{field_index}.{key}"
                raise DiscordApiError.invalid_form(path, "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {limit}.")
    if _embed_text_length(embed) > _EMBED_TOTAL_LIMIT:
        raise DiscordApiError.invalid_form(f"embeds.{index}", "BASE_TYPE_MAX_LENGTH", "Embed size exceeds 6000.")


def _embed_text_length(embed: dict[str, Any]) -> int:
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for field in embed.get("fields") or []:
        total += len(field.get("name") or "") + len(field.get("value") or "")
    return total


def _check_components(rows: list[dict[str, Any]]) -> None:
    """Classic action rows only; components v2 layouts pass through unchecked."""
    if not all(row.get("type") == _ACTION_ROW for row in rows):
        return
    if len(rows) > _MAX_ROWS:
        raise DiscordApiError.invalid_form("components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
    seen: set[str] = set()
    for row_index, row in enumerate(rows):
        items = row.get("components") or []
        if not items or len(items) > _MAX_ROW_ITEMS:
            path = f"components.{row_index}.components"
            raise DiscordApiError.invalid_form(path, "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
        for item_index, item in enumerate(items):
            _check_item(f"components.{row_index}.components.{item_index}", item, seen)


def _check_item(path: str, item: dict[str, Any], seen: set[str]) -> None:
    custom_id = item.get("custom_id")
    if custom_id is not None:
        if len(custom_id) > 100:
            raise DiscordApiError.invalid_form(f"{path}.custom_id", "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer.")
        if custom_id in seen:
            raise DiscordApiError.invalid_form(f"{path}.custom_id", "COMPONENT_CUSTOM_ID_DUPLICATED", "Duplicate.")
        seen.add(custom_id)
    if len(item.get("label") or "") > 80:
        raise DiscordApiError.invalid_form(f"{path}.label", "BASE_TYPE_MAX_LENGTH", "Must be 80 or fewer in length.")
