"""FakeComfyUI: the object tests hold. Starts, stops and restarts the emulated server and
exposes its knobs and memory; see the package docstring for the full list.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.fakes.comfyui._catalog import capture, default_models, emulated_object_info, install_models
from tests.fakes.comfyui._executor import Executor
from tests.fakes.comfyui._failures import FAILURES
from tests.fakes.comfyui._files import OutputFiles
from tests.fakes.comfyui._hub import Emitted, Hub
from tests.fakes.comfyui._middleware import InjectedFailure, RecordedRequest, route_of
from tests.fakes.comfyui._previews import FRAME_MODES, METHODS
from tests.fakes.comfyui._queue import PromptQueue, QueueItem
from tests.fakes.comfyui._server import build_app
from tests.fakes.media import cached_mp4

__all__ = ["FakeComfyUI"]

_SHUTDOWN_TIMEOUT = 0.25  # in-flight handlers get this long when the "process" dies


class FakeComfyUI:
    """An emulated ComfyUI 0.8.0 on 127.0.0.1 with real HTTP and websockets."""

    def __init__(
        self,
        *,
        object_info: Mapping[str, Any] | None = None,
        models: Mapping[str, Iterable[str]] | None = None,
        steps: int | None = 4,
        step_seconds: float = 0.01,
        load_seconds: float = 0.0,
        node_seconds: float = 0.0,
        keep_models: bool = False,
        load_costs: Mapping[str, float] | None = None,
        model_step_seconds: Mapping[str, float] | None = None,
        vram_gb: float | None = None,
        history_delay: float = 0.05,
        view_delay: float = 0.0,
        require_token: str | None = None,
        paused: bool = False,
        fail_execution: int = 0,
        failure_kind: str = "oom",
        preview_method: str = "none",
        preview_frames: str = "real",
        preview_format: str = "JPEG",
        preview_size: int = 512,
        ignore_prompt_id: bool = False,
        video_path: str | Path | None = None,
        video_bytes: bytes | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        root: str | Path | None = None,
    ) -> None:
        self.steps = steps
        self.step_seconds = step_seconds
        self.load_seconds = load_seconds
        self.node_seconds = node_seconds
        self.keep_models = keep_models
        self.load_costs = dict(load_costs or {})
        self.model_step_seconds = dict(model_step_seconds or {})
        self.history_delay = history_delay
        self.view_delay = view_delay
        self.require_token = require_token
        self.fail_execution = fail_execution
        self.failure_kind = failure_kind
        if preview_method not in METHODS or preview_frames not in FRAME_MODES or preview_format not in ("JPEG", "PNG"):
            raise ValueError(f"preview knobs: method in {METHODS}, frames in {FRAME_MODES}, format JPEG or PNG")
        self.preview_method = preview_method
        self.preview_frames = preview_frames
        self.preview_format = preview_format
        self.preview_size = preview_size
        self.ignore_prompt_id = ignore_prompt_id
        self.video_path = Path(video_path) if video_path is not None else None
        self.video_bytes = video_bytes
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self.accepted: list[QueueItem] = []
        self.number = 0
        samples = capture("endpoint_samples.json")
        self.system_stats: dict[str, Any] = samples["GET /system_stats"]["body"]
        if vram_gb is not None:
            self.system_stats["devices"] = [_cuda_device(vram_gb)]
        self.features: dict[str, Any] = samples["GET /features"]["body"]
        self.extensions: list[str] = samples["GET /extensions"]["body"]
        self._base_object_info = dict(object_info) if object_info is not None else emulated_object_info()
        self._models = {k: list(v) for k, v in (models if models is not None else default_models()).items()}
        self.object_info = install_models(self._base_object_info, self._models)
        self._failures: list[InjectedFailure] = []
        # Our own root is created by start() and removed by stop(); a caller's root (a pytest
        # tmp_path, so a SIGKILLed subprocess leaves nothing behind) is the caller's to clean.
        self._owns_root = root is None
        self._root = Path(root) if root is not None else (
            Path(tempfile.gettempdir()) / f"fake-comfyui-{uuid.uuid4().hex}")
        self._default_clip: Path | None = None
        self.files = OutputFiles(self._root, self._clip)
        self.hub = Hub()
        self.queue = PromptQueue(self._announce_queue)
        self.queue.set_paused(paused)
        self.executor = Executor(self, self.queue, self.hub, self.files)
        self._worker: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    async def start(self) -> FakeComfyUI:
        if self.video_path is None and self.video_bytes is None and self._default_clip is None:
            # ffmpeg runs once per session (cached on disk), and never on the event loop.
            self._default_clip = await asyncio.to_thread(cached_mp4)
        await asyncio.to_thread(self.files.prepare)
        self.hub.start()
        await self._serve()
        self._start_worker()
        return self

    async def stop(self) -> None:
        await self._stop_worker()
        await self.hub.close_all(graceful=False)
        await self.hub.stop()
        await self._unserve()
        if self._owns_root:
            await asyncio.to_thread(self.files.remove)

    async def __aenter__(self) -> FakeComfyUI:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    async def restart(self, downtime: float = 0.0) -> None:
        """Like the ComfyUI process dying and coming back on the same port: the queue, the
        running prompt, history, open connections and unsent events are gone; output files
        stay, temp files do not. With `downtime`, connections are refused for that long."""
        await self._stop_worker()
        await self.hub.close_all(graceful=False)
        self.hub.forget_pending()
        await self._unserve()
        self.queue.wipe()
        self.number = 0
        self.executor.client_id = self.executor.last_node_id = None
        self.executor.loaded.clear()  # a new process has no model in memory
        await asyncio.to_thread(self.files.wipe_temp)
        if downtime > 0:
            await asyncio.sleep(downtime)
        await self._serve()
        self._start_worker()

    async def _serve(self) -> None:
        self._runner = web.AppRunner(build_app(self), handle_signals=False, access_log=None,
                                     shutdown_timeout=_SHUTDOWN_TIMEOUT)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.system_stats["system"]["argv"] = ["main.py", "--listen", self.host, "--port", str(self.port)]

    async def _unserve(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _start_worker(self) -> None:
        self._worker = asyncio.create_task(self.executor.run_forever(), name="fake-comfyui-worker")

    async def _stop_worker(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    # -- knobs ---------------------------------------------------------------------------------

    @property
    def models(self) -> dict[str, list[str]]:
        return self._models

    @models.setter
    def models(self, models: Mapping[str, Iterable[str]]) -> None:
        """Install a different model set: /models, /object_info and validation follow."""
        self._models = {k: list(v) for k, v in models.items()}
        self.object_info = install_models(self._base_object_info, self._models)

    @property
    def paused(self) -> bool:
        return self.queue.paused

    @paused.setter
    def paused(self, value: bool) -> None:
        self.queue.set_paused(value)

    def pause(self) -> None:
        """The worker finishes what runs but starts nothing new until `resume()`."""
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def fail_next(self, n: int = 1, kind: str = "oom") -> None:
        """The next `n` prompts end in execution_error of this kind: oom, model_load, t5_scaled."""
        if kind not in FAILURES:
            raise ValueError(f"unknown failure kind {kind!r}; known: {sorted(FAILURES)}")
        self.fail_execution, self.failure_kind = n, kind

    def http_failures(self, n: int, status: int = 500, *, path: str | None = None, after: bool = False) -> None:
        """The next `n` HTTP requests (to `path` only, if given; `/ws` only when named) get
        `status` instead of an answer; status 0 drops the connection. With `after`, the request
        is handled first and only its response is lost (a prompt is queued, the client sees 500)."""
        self._failures.extend(InjectedFailure(status, path, after) for _ in range(n))

    def take_failure(self, route: str) -> InjectedFailure | None:
        for index, failure in enumerate(self._failures):
            if failure.matches(route):
                return self._failures.pop(index)
        return None

    async def drop_websockets(self, *, graceful: bool = False) -> None:
        """Close every websocket (default: the connection just dies). Events emitted while a
        client is away are lost; the prompts keep running."""
        await self.hub.close_all(graceful=graceful)

    def _clip(self) -> Path | bytes:
        """What every output file contains. Called in a worker thread (may run ffmpeg once)."""
        if self.video_bytes is not None:
            return self.video_bytes
        if self.video_path is not None:
            return self.video_path
        return self._default_clip or cached_mp4()

    def _announce_queue(self) -> None:
        self.hub.send("status", {"status": {"exec_info": {"queue_remaining": self.queue.remaining}}}, None)

    # -- what tests look at --------------------------------------------------------------------

    @property
    def history(self) -> dict[str, dict[str, Any]]:
        return self.queue.history

    @property
    def queue_pending(self) -> list[str]:
        """Pending prompt ids in the order they will run."""
        return self.queue.pending_ids()

    @property
    def running(self) -> str | None:
        return self.queue.running.prompt_id if self.queue.running is not None else None

    @property
    def events(self) -> list[Emitted]:
        """Every websocket message produced since start, delivered or not."""
        return self.hub.log

    @property
    def most_held(self) -> int:
        """The most prompts this server ever held at once (pending + running), restarts included."""
        return self.queue.most_held

    @property
    def most_held_by_client(self) -> dict[str | None, int]:
        """`most_held` per client id (None: prompts queued without one)."""
        return dict(self.queue.most_held_by_client)

    @property
    def connected_clients(self) -> list[str]:
        return list(self.hub.sockets)

    def requests_to(self, route: str, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests for a route, /api prefix ignored ('/prompt' matches '/api/prompt')."""
        wanted = route_of(route)
        return [r for r in self.requests if r.route == wanted and (method is None or r.method == method)]

    @property
    def input_files(self) -> list[str]:
        """Files in the input folder (uploads), as LoadImage names them ("wanbot/x.png")."""
        return sorted(self.files.inputs)

    async def remove_input(self, name: str) -> None:
        """Delete a file from the input folder, as an operator cleaning it would."""
        await asyncio.to_thread(self.files.remove_input, name)

    def output_path(self, filename: str, subfolder: str = "", folder_type: str = "output") -> Path:
        """Where a reported output file lives on disk (to corrupt or delete it in a test)."""
        return self._root / folder_type / subfolder / filename

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Until nothing is pending or running and every event has been sent. A paused queue
        with pending prompts never gets idle: that raises TimeoutError after `timeout`."""
        async with asyncio.timeout(timeout):
            while not self.queue.idle:
                await self.queue.wait_changed()
            await self.hub.drain()


def _cuda_device(vram_gb: float) -> dict[str, Any]:
    """One NVIDIA GPU as ComfyUI's /system_stats lists it (torch reports total bytes)."""
    total = int(vram_gb * 1e9)
    free = int(total * 0.95)
    return {"name": f"cuda:0 NVIDIA GeForce RTX ({vram_gb:g} GB) : cudaMallocAsync", "type": "cuda", "index": 0,
            "vram_total": total, "vram_free": free, "torch_vram_total": total, "torch_vram_free": free}
