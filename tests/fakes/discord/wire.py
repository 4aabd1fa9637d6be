"""HTTP wire details shared by the REST and webhook routes.

Owns: the JSON response helper (``Content-Type: application/json`` exactly: discord.py
compares the header verbatim and aiohttp's ``json_response`` appends a charset), Discord's
error shape ``{"code", "message"}``, the named errors the fake answers, and reading a
request body that is either JSON or multipart (``payload_json`` + ``files[n]``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

__all__ = [
    "DiscordApiError",
    "RequestBody",
    "UploadedFile",
    "empty_response",
    "json_response",
    "read_body",
]

_FILE_FIELD = re.compile(r"^files\[(\d+)\]$")


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON answer with the exact content type discord.py expects."""
    body = json.dumps(data, separators=(",", ":")).encode()
    return web.Response(status=status, body=body, headers={"Content-Type": "application/json"})


def empty_response() -> web.Response:
    """204 No Content: what Discord answers for deletes and typing."""
    return web.Response(status=204)


class DiscordApiError(Exception):
    """An error answer in Discord's shape; raised by handlers, rendered by middleware."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def to_response(self) -> web.Response:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        return json_response(body, self.status)

    # -- the errors the fake knows, named after what they mean ---------------------------

    @classmethod
    def unauthorized(cls) -> DiscordApiError:
        return cls(401, 0, "401: Unauthorized")

    @classmethod
    def not_found(cls) -> DiscordApiError:
        return cls(404, 0, "404: Not Found")

    @classmethod
    def method_not_allowed(cls) -> DiscordApiError:
        return cls(405, 0, "405: Method Not Allowed")

    @classmethod
    def unknown_channel(cls) -> DiscordApiError:
        return cls(404, 10003, "Unknown Channel")

    @classmethod
    def unknown_guild(cls) -> DiscordApiError:
        return cls(404, 10004, "Unknown Guild")

    @classmethod
    def unknown_member(cls) -> DiscordApiError:
        return cls(404, 10007, "Unknown Member")

    @classmethod
    def unknown_message(cls) -> DiscordApiError:
        return cls(404, 10008, "Unknown Message")

    @classmethod
    def unknown_user(cls) -> DiscordApiError:
        return cls(404, 10013, "Unknown User")

    @classmethod
    def unknown_webhook(cls) -> DiscordApiError:
        return cls(404, 10015, "Unknown Webhook")

    @classmethod
    def unknown_interaction(cls) -> DiscordApiError:
        return cls(404, 10062, "Unknown interaction")

    @classmethod
    def already_acknowledged(cls) -> DiscordApiError:
        return cls(400, 40060, "Interaction has already been acknowledged.")

    @classmethod
    def too_large(cls) -> DiscordApiError:
        return cls(413, 40005, "Request entity too large")

    @classmethod
    def not_author(cls) -> DiscordApiError:
        return cls(403, 50005, "Cannot edit a message authored by another user")

    @classmethod
    def empty_message(cls) -> DiscordApiError:
        return cls(400, 50006, "Cannot send an empty message")

    @classmethod
    def cannot_dm(cls) -> DiscordApiError:
        return cls(403, 50007, "Cannot send messages to this user")

    @classmethod
    def missing_permissions(cls) -> DiscordApiError:
        return cls(403, 50013, "Missing Permissions")

    @classmethod
    def invalid_webhook_token(cls) -> DiscordApiError:
        return cls(401, 50027, "Invalid Webhook Token")

    @classmethod
    def invalid_form(cls, path: str, code: str, message: str) -> DiscordApiError:
        """400/50035 with Discord's nested ``errors`` tree for one offending field."""
        tree: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
        for part in reversed(path.split(".")):
            tree = {part: tree}
        return cls(400, 50035, "Invalid Form Body", tree)


@dataclass
class UploadedFile:
    """One ``files[n]`` part of a multipart request."""

    index: int
    filename: str
    data: bytes
    content_type: str | None


@dataclass
class RequestBody:
    """A parsed request: the JSON payload (from the body or ``payload_json``) and files."""

    payload: dict[str, Any]
    files: list[UploadedFile] = field(default_factory=list)

    def file(self, index: int) -> UploadedFile | None:
        return next((f for f in self.files if f.index == index), None)


async def read_body(request: web.Request) -> RequestBody:
    """Parse a JSON or multipart body the way Discord does; empty bodies give ``{}``."""
    if request.content_type.startswith("multipart/"):
        return await _read_multipart(request)
    if not request.can_read_body:
        return RequestBody({})
    raw = await request.read()
    if not raw:
        return RequestBody({})
    try:
        payload = json.loads(raw)
    except ValueError:
        raise DiscordApiError(400, 50109, "The request body contains invalid JSON.") from None
    return RequestBody(payload if isinstance(payload, dict) else {"_list": payload})


async def _read_multipart(request: web.Request) -> RequestBody:
    reader = await request.multipart()
    payload: dict[str, Any] = {}
    files: list[UploadedFile] = []
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):  # nested multipart: Discord rejects it too
            raise DiscordApiError(400, 50035, "Invalid Form Body")
        data = bytes(await part.read(decode=False))
        match = _FILE_FIELD.match(part.name or "")
        if part.name == "payload_json":
            payload = json.loads(data)
        elif match:
            content_type = part.headers.get("Content-Type")
            files.append(UploadedFile(int(match.group(1)), part.filename or "unknown", data, content_type))
    return RequestBody(payload, files)
