"""POST /upload/image, answered the way ComfyUI's server.py `image_upload` answers it.

Owns: reading the multipart form as aiohttp's `request.post()` hands it to ComfyUI (a part
with a filename is a file, one without is text), and image_upload's rules, step by step:
- no `image` field, or a non-multipart body: 400 with no body; an `image` field that is text
  (no filename): the handler crashes on `image.file` (500); an empty filename: 400;
- `type` picks the folder: input (also when absent), temp or output; any other value leaves
  the folder unset and the handler crashes (500);
- `subfolder` is joined after `os.path.normpath`; a path that leaves the folder: 400;
- unless `overwrite` is "true" or "1", a name already taken gets " (1)", " (2)", ... before
  its extension, except that a file with the same bytes is not written again and its name is
  answered (ComfyUI's fix for #3465);
- the answer: `{"name": <final file name>, "subfolder": <as sent>, "type": <folder type>}`.
The record middleware has already read the body, so the form is parsed from those bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import urllib.parse
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from tests.fakes.comfyui._fake import FakeComfyUI

__all__ = ["FormPart", "parse_form", "upload_image"]

_FOLDERS = ("input", "temp", "output")


@dataclass(frozen=True)
class FormPart:
    """One field of a multipart form: a file when it has a filename, else text in `data`."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


def parse_form(body: bytes, content_type: str) -> dict[str, FormPart]:
    """The fields of a form body by name (the first wins, as MultiDict.get does), as aiohttp's
    request.post() reads it: multipart/form-data, or url-encoded (also when no content type is
    given: text fields only); {} for any other content type."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind in ("", "application/x-www-form-urlencoded"):
        pairs = urllib.parse.parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        return {name: FormPart(name, value.encode()) for name, value in reversed(pairs)}
    if kind != "multipart/form-data":
        return {}
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    fields: dict[str, FormPart] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or name in fields:
            continue
        payload = part.get_payload(decode=True)
        fields[name] = FormPart(name, payload if isinstance(payload, bytes) else b"",
                                part.get_filename(), part.get_content_type())
    return fields


def _crash() -> web.Response:
    return web.Response(status=500, text="500 Internal Server Error\n\nServer got itself in trouble")


async def upload_image(fake: FakeComfyUI, request: web.Request) -> web.Response:
    form = parse_form(await request.read(), request.headers.get("Content-Type", ""))
    image = form.get("image")
    if image is None:
        return web.Response(status=400)
    if image.filename is None:
        return _crash()  # `image.file` on a text field: AttributeError
    if not image.filename:
        return web.Response(status=400)
    folder_type = form["type"].text if "type" in form else "input"
    if folder_type not in _FOLDERS:
        return _crash()  # get_dir_by_type leaves type_dir unbound
    subfolder = form["subfolder"].text if "subfolder" in form else ""
    overwrite = form["overwrite"].text if "overwrite" in form else None
    upload_dir = os.path.abspath(fake.files.root / folder_type)
    try:
        result = await asyncio.to_thread(_store, upload_dir, subfolder, image, overwrite in ("true", "1"))
    except OSError:
        return _crash()
    if result is None:
        return web.Response(status=400)
    filename, relative = result
    if folder_type == "input":
        fake.files.inputs.add(relative)
    return web.json_response({"name": filename, "subfolder": subfolder, "type": folder_type})


def _store(upload_dir: str, subfolder: str, image: FormPart, overwrite: bool) -> tuple[str, str] | None:
    """Write the file as image_upload does; (final name, its path under the folder), or None
    for a path that leaves the folder. Blocking: run in a thread."""
    assert image.filename is not None
    full_output_folder = os.path.join(upload_dir, os.path.normpath(subfolder))
    filepath = os.path.abspath(os.path.join(full_output_folder, image.filename))
    if os.path.commonpath((upload_dir, filepath)) != upload_dir:
        return None
    os.makedirs(full_output_folder, exist_ok=True)
    filename = image.filename
    stem, extension = os.path.splitext(filename)
    duplicate = False
    if not overwrite:
        number = 1
        while os.path.exists(filepath):
            if _same_bytes(filepath, image.data):
                duplicate = True
                break
            filename = f"{stem} ({number}){extension}"
            filepath = os.path.join(full_output_folder, filename)
            number += 1
    if not duplicate:
        with open(filepath, "wb") as handle:
            handle.write(image.data)
    return filename, os.path.relpath(filepath, upload_dir).replace(os.sep, "/")


def _same_bytes(path: str, data: bytes) -> bool:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).digest() == hashlib.sha256(data).digest()
