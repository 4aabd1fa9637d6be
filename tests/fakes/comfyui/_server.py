"""The HTTP and websocket routes of the emulated ComfyUI 0.8.0, each also under /api.

Owns the wire: status codes, JSON shapes and the odd corners the captures show (a non-JSON
POST /prompt is a plain-text 500, /history/<unknown> is 200 {}, /object_info/<unknown> is
200 {}, /models/<unknown> is a bare 404, POST /queue and /interrupt answer 200 with no body).
POST /upload/image is `_uploads.py`'s. State lives in the FakeComfyUI; handlers only translate.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import os
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from tests.fakes.comfyui._catalog import MODEL_FOLDERS, install_input_images
from tests.fakes.comfyui._middleware import middlewares
from tests.fakes.comfyui._queue import QueueItem
from tests.fakes.comfyui._uploads import upload_image
from tests.fakes.comfyui._validation import load_image_check, validate_prompt

if TYPE_CHECKING:
    from tests.fakes.comfyui._fake import FakeComfyUI

__all__ = ["build_app"]

_MAX_BODY = 100 * 1024 * 1024  # --max-upload-size default
_CANONICAL_UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _crash() -> web.Response:
    """What aiohttp answers when a ComfyUI handler raises (e.g. json.loads on a non-JSON body)."""
    return web.Response(status=500, text="500 Internal Server Error\n\nServer got itself in trouble")


def _bad_request(error: dict[str, Any], node_errors: dict[str, Any] | None = None) -> web.Response:
    return web.json_response({"error": error, "node_errors": node_errors or {}}, status=400)


async def _json_object(request: web.Request) -> dict[str, Any] | None:
    """The body as a JSON object, or None where the real handler would crash on it."""
    try:
        body = json.loads(await request.text())
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class _Routes:
    def __init__(self, fake: FakeComfyUI) -> None:
        self.fake = fake

    def table(self) -> list[tuple[str, str, Any]]:
        return [
            ("GET", "/ws", self.websocket),
            ("GET", "/prompt", self.get_prompt),
            ("POST", "/prompt", self.post_prompt),
            ("GET", "/queue", self.get_queue),
            ("POST", "/queue", self.post_queue),
            ("GET", "/history", self.get_history),
            ("GET", "/history/{prompt_id}", self.get_history_item),
            ("POST", "/history", self.post_history),
            ("POST", "/interrupt", self.post_interrupt),
            ("POST", "/free", self.post_free),
            ("GET", "/view", self.view),
            ("POST", "/upload/image", self.upload_image),
            ("GET", "/system_stats", self.system_stats),
            ("GET", "/object_info", self.object_info),
            ("GET", "/object_info/{node_class}", self.object_info_one),
            ("GET", "/models", self.models),
            ("GET", "/models/{folder}", self.models_in),
            ("GET", "/features", self.features),
            ("GET", "/embeddings", self.embeddings),
            ("GET", "/extensions", self.extensions),
        ]

    # -- prompts -------------------------------------------------------------------------------

    async def post_prompt(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text())
            return self._submit(body)
        except Exception:  # the real handler has no error handling: any exception is a bare 500
            return _crash()

    def _submit(self, body: Any) -> web.Response:
        fake = self.fake
        if isinstance(body, dict) and "number" in body:
            number: float = float(body["number"])
        else:
            number = fake.number
            if isinstance(body, dict) and body.get("front"):
                number = -number
            fake.number += 1
        if not isinstance(body, dict) or "prompt" not in body:
            return _bad_request({"type": "no_prompt", "message": "No prompt provided",
                                 "details": "No prompt provided", "extra_info": {}})
        # ComfyUI before client-chosen ids never read the field: no check, no 409, its own id.
        requested = None if fake.ignore_prompt_id else body.get("prompt_id")
        if requested is not None and not (isinstance(requested, str) and _CANONICAL_UUID4.match(requested)):
            return _bad_request({
                "type": "invalid_prompt_id", "message": "prompt_id must be a valid UUID",
                "details": "prompt_id must be a UUID string in canonical lowercase hyphenated form; "
                           "omit it to let the server generate one", "extra_info": {}})
        prompt_id = requested or str(uuid.uuid4())
        if fake.queue.knows(prompt_id):
            return web.json_response({"error": "prompt_id already exists"}, status=409)
        prompt = body["prompt"]
        result = validate_prompt(prompt, fake.object_info, body.get("partial_execution_targets"),
                                 custom=load_image_check(fake.files.input_path))
        if not result.ok:
            assert result.error is not None
            return _bad_request(result.error, result.node_errors)
        extra_data = dict(body.get("extra_data") or {})
        if "client_id" in body:
            extra_data["client_id"] = body["client_id"]
        extra_data["create_time"] = int(time.time() * 1000)
        item = QueueItem(number, prompt_id, prompt, extra_data, result.outputs)
        fake.accepted.append(item)
        fake.queue.put(item)
        return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": result.node_errors})

    async def get_prompt(self, request: web.Request) -> web.Response:
        return web.json_response({"exec_info": {"queue_remaining": self.fake.queue.remaining}})

    # -- queue and interrupt -------------------------------------------------------------------

    async def get_queue(self, request: web.Request) -> web.Response:
        queue = self.fake.queue
        running = [queue.running.wire()] if queue.running is not None else []
        return web.json_response({"queue_running": running, "queue_pending": queue.pending_wire()})

    async def post_queue(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        if body is None:
            return _crash()
        if body.get("clear"):
            self.fake.queue.clear_pending()
        for prompt_id in body.get("delete", []):
            self.fake.queue.delete(prompt_id)
        return web.Response(status=200)

    async def post_interrupt(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text())
        except ValueError:
            body = {}  # the real route tolerates an empty or non-JSON body
        target = body.get("prompt_id") if isinstance(body, dict) else None
        running = self.fake.queue.running
        # Targeted: only if that prompt runs now. Global: whatever runs (nothing: a no-op).
        if running is not None and (not target or running.prompt_id == target):
            self.fake.executor.interrupt()
        return web.Response(status=200)

    async def post_free(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    # -- history -------------------------------------------------------------------------------

    async def get_history(self, request: web.Request) -> web.Response:
        try:
            max_items = int(request.query["max_items"]) if "max_items" in request.query else None
            offset = int(request.query.get("offset", -1))
        except ValueError:
            return _crash()
        return web.json_response(self.fake.queue.history_slice(max_items, offset))

    async def get_history_item(self, request: web.Request) -> web.Response:
        prompt_id = request.match_info["prompt_id"]
        entry = self.fake.queue.history.get(prompt_id)
        return web.json_response({prompt_id: entry} if entry is not None else {})

    async def post_history(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        if body is None:
            return _crash()
        if body.get("clear"):
            self.fake.queue.history.clear()
        for prompt_id in body.get("delete", []):
            self.fake.queue.history.pop(prompt_id, None)
        return web.Response(status=200)

    # -- files ---------------------------------------------------------------------------------

    async def upload_image(self, request: web.Request) -> web.Response:
        return await upload_image(self.fake, request)

    async def view(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        if "filename" not in query:
            return web.Response(status=404)
        filename = query["filename"]
        if not filename or filename[0] == "/" or ".." in filename:
            return web.Response(status=400)
        base = self.fake.files.folder(query.get("type", "output"))
        if base is None:
            return web.Response(status=400)
        output_dir = os.path.abspath(base)
        if "subfolder" in query:
            full = os.path.join(output_dir, query["subfolder"])
            if os.path.commonpath((os.path.abspath(full), output_dir)) != output_dir:
                return web.Response(status=403)
            output_dir = full
        name = os.path.basename(filename)
        path = os.path.join(output_dir, name)
        if self.fake.view_delay:
            await asyncio.sleep(self.fake.view_delay)
        if not await asyncio.to_thread(os.path.isfile, path):
            return web.Response(status=404)
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return web.FileResponse(path, headers={"Content-Disposition": f'filename="{name}"',
                                               "Content-Type": content_type})

    # -- capabilities --------------------------------------------------------------------------

    async def system_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.fake.system_stats)

    def _object_info(self) -> dict[str, Any]:
        """What the server's INPUT_TYPES answer now: LoadImage lists the input folder's images."""
        return install_input_images(self.fake.object_info, self.fake.files.inputs)

    async def object_info(self, request: web.Request) -> web.Response:
        return web.json_response(self._object_info())

    async def object_info_one(self, request: web.Request) -> web.Response:
        node_class = request.match_info["node_class"]
        info = self._object_info().get(node_class)
        return web.json_response({node_class: info} if info is not None else {})

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response(MODEL_FOLDERS)

    async def models_in(self, request: web.Request) -> web.Response:
        folder = request.match_info["folder"]
        if folder not in MODEL_FOLDERS:
            return web.Response(status=404)  # legacy names (unet, clip) are not folders here
        return web.json_response(sorted(self.fake.models.get(folder, [])))

    async def features(self, request: web.Request) -> web.Response:
        return web.json_response(self.fake.features)

    async def embeddings(self, request: web.Request) -> web.Response:
        return web.json_response([])

    async def extensions(self, request: web.Request) -> web.Response:
        return web.json_response(self.fake.extensions)

    # -- websocket -----------------------------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        fake = self.fake
        # A graceful close waits this long for the client's reply, not aiohttp's default 10 s.
        ws = web.WebSocketResponse(max_msg_size=_MAX_BODY, timeout=1.0)
        await ws.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        fake.hub.attach(sid, ws, request)
        try:
            await fake.hub.send_now(ws, "status", {"status": {"exec_info": {"queue_remaining":
                                                                            fake.queue.remaining}}, "sid": sid})
            # A client reconnecting mid-prompt is told the current node, without a prompt_id.
            if fake.executor.client_id == sid and fake.executor.last_node_id is not None:
                await fake.hub.send_now(ws, "executing", {"node": fake.executor.last_node_id})
            await self._read_client(sid, ws)
        finally:
            fake.hub.detach(sid, ws)
        return ws

    async def _read_client(self, sid: str, ws: web.WebSocketResponse) -> None:
        """Only the first text message counts, and only if it announces feature flags; a server
        from before preview metadata (preview_frames "type1") reads nothing the client sends."""
        first = True
        async for message in ws:
            if message.type != WSMsgType.TEXT or self.fake.preview_frames == "type1":
                continue
            try:
                data = json.loads(message.data)
            except ValueError:
                continue  # the real server logs it; the next message may still be the first
            if not isinstance(data, dict):
                continue  # data.get raises there, before `first` is cleared
            if first and data.get("type") == "feature_flags":
                flags = data.get("data")
                self.fake.hub.set_feature_flags(sid, ws, flags if isinstance(flags, dict) else {})
                await self.fake.hub.send_now(ws, "feature_flags", self.fake.features)
            first = False


def build_app(fake: FakeComfyUI) -> web.Application:
    app = web.Application(middlewares=middlewares(fake), client_max_size=_MAX_BODY)
    routes = _Routes(fake)
    for prefix in ("", "/api"):
        for method, path, handler in routes.table():
            app.router.add_route(method, prefix + path, handler)
    return app
