"""The worker: runs one queued prompt at a time and says so on the websocket, like ComfyUI.

Owns: execution order (ComfyUI's ExecutionList with its "UX friendly" pick), the event sequence
per prompt, simulated node work (model loader and sampler progress, VHS per-frame progress,
LoadImage reading its picture from input/, which then becomes every frame of the prompt's
clip), the models it keeps loaded between prompts (`keep_models`), interrupts, injected
failures, and the end of a prompt in the captured order:

    execution_success | execution_error | execution_interrupted
    -> history written -> status (queue_remaining) -> executing {node: null, prompt_id}

With `keep_models`, a model loader whose inputs are those of a loader of the previous prompt is
not run again: like ComfyUI's node cache, it is listed in `execution_cached` and costs nothing.
A loader that does run costs `load_costs[file]` for the model file it loads (else
`load_seconds`, or `node_seconds` for loaders that report nothing in the real server), so
switching a GPU between templates with different model files costs a reload, and staying on one
costs nothing. The sampler's step time is `model_step_seconds[file]` of the diffusion model the
prompt uses (a 14B model samples slower than a 1.3B one), else `step_seconds`.

`history_delay` widens the gap between the terminal event and the history write: the real gap
is a few ms, wide enough for a client that fetches /history on execution_success to lose a race
now and then; the emulator makes it lose every time.

Sampler steps carry live previews (`_previews.py`) when the prompt's preview method is not
"none": a type 4 frame, inside the progress registry's update, to a client that announced
preview metadata; a type 1 frame, after `progress`, to any other client.

Routing follows the real server: job events go only to the socket whose sid is the prompt's
client_id; without a client_id they are not sent at all, except progress/progress_state and
execution_interrupted, which then go to every socket. `status` always goes to every socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from tests.fakes.comfyui._catalog import MODEL_INPUTS
from tests.fakes.comfyui._failures import FAILURES, NodeFailure, failure_node, missing_input_file
from tests.fakes.comfyui._files import UI_BUILDERS, Clip, OutputFiles
from tests.fakes.comfyui._hub import Hub
from tests.fakes.comfyui._previews import (
    effective_method,
    garbage_frame,
    graph_size,
    preview_image,
    type1_frame,
    type4_frame,
)
from tests.fakes.comfyui._queue import PromptQueue, QueueItem
from tests.fakes.media import image_clip

__all__ = ["Executor", "Knobs", "execution_order"]

# WanVideoWrapper's loader reports "parameters loaded" progress (the count is made up); the
# core loaders take time (load_seconds) but report nothing, as in the captured core Wan job.
_LOADER_PARAMETERS = 825
_LOADER_REPORTS = 4
_REPORTING_LOADERS = ("WanVideoModelLoader",)
_SILENT_LOADERS = ("UNETLoader", "CheckpointLoaderSimple")
_MODEL_LOADERS = frozenset(class_type for class_type, _ in MODEL_INPUTS)
_DIFFUSION_INPUTS = frozenset(key for key, folder in MODEL_INPUTS.items() if folder == "diffusion_models")


class Knobs(Protocol):
    """What the executor reads from the fake on every prompt (so tests can change it live)."""

    steps: int | None
    step_seconds: float
    load_seconds: float
    keep_models: bool
    load_costs: Mapping[str, float]
    model_step_seconds: Mapping[str, float]
    node_seconds: float
    history_delay: float
    preview_method: str
    preview_frames: str
    preview_format: str
    preview_size: int
    fail_execution: int
    failure_kind: str
    object_info: dict[str, Any]


def _now_ms() -> int:
    return int(time.time() * 1000)


def execution_order(prompt: Mapping[str, Any], outputs: list[str], object_info: Mapping[str, Any]) -> list[str]:
    """The order ComfyUI runs nodes in (matches all captured traces): nodes are staged with a
    stack walk from each output, then picked among the ready ones with its UX heuristics."""
    pending: dict[str, None] = {}
    blocking: dict[str, dict[str, None]] = {}
    block_count: dict[str, int] = {}

    def add_node(start: str) -> None:
        stack, links = [start], []
        while stack:
            node_id = stack.pop()
            if node_id in pending:
                continue
            pending[node_id], block_count[node_id], blocking[node_id] = None, 0, {}
            for value in prompt[node_id]["inputs"].values():
                if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                    stack.append(value[0])
                    links.append((value[0], node_id))
        for source, consumer in links:
            add_node(source)
            if consumer not in blocking[source]:
                blocking[source][consumer] = None
                block_count[consumer] += 1

    def is_output(node_id: str) -> bool:
        return bool(object_info.get(prompt[node_id]["class_type"], {}).get("output_node"))

    def pick(ready: list[str]) -> str:
        for node_id in ready:
            if is_output(node_id):
                return node_id
        for node_id in ready:  # VAEDecode -> Save
            if any(is_output(b) for b in blocking[node_id]):
                return node_id
        for node_id in ready:  # VAELoader -> VAEDecode -> Save
            if any(is_output(b2) for b in blocking[node_id] for b2 in blocking[b]):
                return node_id
        return ready[0]

    for output_id in outputs:
        add_node(output_id)
    order: list[str] = []
    while pending:
        chosen = pick([n for n in pending if block_count[n] == 0])
        order.append(chosen)
        del pending[chosen]
        for consumer in blocking[chosen]:
            block_count[consumer] -= 1
    return order


class _Interrupted(Exception):
    pass


class _Run:
    """The state of one prompt being executed."""

    def __init__(self, item: QueueItem) -> None:
        self.item = item
        self.prompt_id = item.prompt_id
        self.messages: list[list[Any]] = []
        self.progress: dict[str, dict[str, Any]] = {}
        self.executed: list[str] = []
        self.outputs: dict[str, Any] = {}
        self.meta: dict[str, Any] = {}
        self.current: str | None = None
        self.failing: tuple[str, NodeFailure] | None = None
        self.clip: Clip | None = None  # made from the prompt's LoadImage picture, if any
        self.garbage_sent = 0


class Executor:
    def __init__(self, knobs: Knobs, queue: PromptQueue, hub: Hub, files: OutputFiles) -> None:
        self.knobs = knobs
        self.queue = queue
        self.hub = hub
        self.files = files
        # What the real server keeps for a reconnecting client: whose prompt runs, which node.
        self.client_id: str | None = None
        self.last_node_id: str | None = None
        # Signatures of the model loaders of the last prompt: their models are still loaded.
        self.loaded: set[tuple[str, tuple[tuple[str, Any], ...]]] = set()
        self.loads: list[str] = []  # every model file loaded, in order (what tests count)
        self._interrupt = asyncio.Event()

    def interrupt(self) -> None:
        self._interrupt.set()

    async def run_forever(self) -> None:
        while True:
            item = await self.queue.get()
            await self.execute(item)

    # -- messages ------------------------------------------------------------------------------

    def _add_message(self, run: _Run, event: str, data: dict[str, Any], *, broadcast: bool) -> None:
        data = {**data, "timestamp": _now_ms()}
        run.messages.append([event, data])
        if self.client_id is not None or broadcast:
            self.hub.send(event, data, self.client_id)

    def _to_client(self, event: str, data: dict[str, Any]) -> None:
        if self.client_id is not None:
            self.hub.send(event, data, self.client_id)

    def _set_progress(self, run: _Run, node_id: str, value: float, maximum: float, state: str) -> None:
        run.progress[node_id] = {
            "value": value, "max": maximum, "state": state, "node_id": node_id, "prompt_id": run.prompt_id,
            "display_node_id": node_id, "parent_node_id": None, "real_node_id": node_id,
        }
        snapshot = {k: dict(v) for k, v in run.progress.items()}
        self.hub.send("progress_state", {"prompt_id": run.prompt_id, "nodes": snapshot}, self.client_id)

    def _report(self, run: _Run, node_id: str, value: int, maximum: int, preview: bytes | None = None) -> None:
        """main.py's progress hook: the progress registry first (progress_state, and a type 4
        preview for a client that announced preview metadata), then `progress`, then a type 1
        preview for any other client."""
        self._set_progress(run, node_id, value, maximum, "running")
        with_metadata = self.hub.supports(self.client_id, "supports_preview_metadata")
        if preview is not None and with_metadata and self.knobs.preview_frames in ("real", "type4", "garbage"):
            self._send_preview(run, node_id, type4_frame(self.knobs.preview_format, preview, run.prompt_id, node_id))
        self.hub.send("progress", {"value": value, "max": maximum, "prompt_id": run.prompt_id, "node": node_id},
                      self.client_id)
        legacy = self.knobs.preview_frames == "type1" or (
            not with_metadata and self.knobs.preview_frames in ("real", "garbage"))
        if preview is not None and legacy:
            self._send_preview(run, node_id, type1_frame(self.knobs.preview_format, preview))

    def _send_preview(self, run: _Run, node_id: str, frame: bytes) -> None:
        if self.knobs.preview_frames == "garbage":
            self.hub.send_bytes(garbage_frame(run.garbage_sent, run.prompt_id, node_id, frame), self.client_id)
            run.garbage_sent += 1
        self.hub.send_bytes(frame, self.client_id)

    async def _preview(self, run: _Run, step: int, steps: int) -> bytes | None:
        """The sampler's preview of this step, or None: the prompt's preview method is "none"
        (the default of a server started without --preview-method) or the knob says none."""
        method = effective_method(run.item.extra_data, self.knobs.preview_method)
        if method == "none" or self.knobs.preview_frames == "none":
            return None
        size = graph_size(run.item.prompt)
        return await asyncio.to_thread(preview_image, run.prompt_id, step, steps, size, method,
                                       self.knobs.preview_format, self.knobs.preview_size)

    # -- one prompt ----------------------------------------------------------------------------

    async def execute(self, item: QueueItem) -> None:
        run = _Run(item)
        self.client_id = item.client_id
        self._interrupt.clear()
        self._add_message(run, "execution_start", {"prompt_id": run.prompt_id}, broadcast=False)
        order = execution_order(item.prompt, item.outputs, self.knobs.object_info)
        cached = self._cached(item.prompt, order)
        self._add_message(run, "execution_cached", {"nodes": cached, "prompt_id": run.prompt_id}, broadcast=False)
        order = [node_id for node_id in order if node_id not in cached]
        run.failing = self._planned_failure(item, order)
        run.executed.extend(cached)
        try:
            for node_id in order:
                await self._node(run, node_id)
            self._add_message(run, "execution_success", {"prompt_id": run.prompt_id}, broadcast=False)
            status_str = "success"
        except _Interrupted:
            self._end_interrupted(run)
            status_str = "error"
        except NodeFailure as failure:
            self._end_failed(run, failure)
            status_str = "error"
        if self.knobs.keep_models:
            self.loaded = {_signature(item.prompt[n]) for n in run.executed if _is_loader(item.prompt[n])}
        await asyncio.sleep(self.knobs.history_delay)
        self.last_node_id = None
        status = {"status_str": status_str, "completed": status_str == "success", "messages": run.messages}
        self.queue.task_done(item, run.outputs, run.meta, status)
        self._to_client("executing", {"node": None, "prompt_id": run.prompt_id})
        self.client_id = None

    def _cached(self, prompt: Mapping[str, Any], order: list[str]) -> list[str]:
        """The loaders whose models the previous prompt left loaded (with `keep_models`)."""
        if not self.knobs.keep_models:
            return []
        return [n for n in order if _is_loader(prompt[n]) and _signature(prompt[n]) in self.loaded]

    def _planned_failure(self, item: QueueItem, order: list[str]) -> tuple[str, NodeFailure] | None:
        class_of = {n: item.prompt[n]["class_type"] for n in order}
        if self.knobs.fail_execution > 0:
            self.knobs.fail_execution -= 1
            kind = self.knobs.failure_kind
            return failure_node(kind, order, class_of), FAILURES[kind]
        for node_id in order:  # the kijai T5 loader cannot read the fp8 *scaled* umt5 file
            if class_of[node_id] == "LoadWanVideoT5TextEncoder" and "scaled" in str(
                    item.prompt[node_id]["inputs"].get("model_name", "")):
                return node_id, FAILURES["t5_scaled"]
        return None

    def _end_interrupted(self, run: _Run) -> None:
        node_id = run.current or ""
        self._add_message(run, "execution_interrupted", {
            "prompt_id": run.prompt_id, "node_id": node_id,
            "node_type": run.item.prompt.get(node_id, {}).get("class_type", ""),
            "executed": list(run.executed)}, broadcast=True)

    def _end_failed(self, run: _Run, failure: NodeFailure) -> None:
        node_id = run.current or ""
        self._add_message(run, "execution_error", {
            "prompt_id": run.prompt_id, "node_id": node_id,
            "node_type": run.item.prompt.get(node_id, {}).get("class_type", ""),
            "executed": list(run.executed), "exception_message": failure.exception_message,
            "exception_type": failure.exception_type, "traceback": list(failure.traceback),
            "current_inputs": self._current_inputs(run.item.prompt.get(node_id, {})),
            "current_outputs": list(run.item.prompt)}, broadcast=False)

    def _current_inputs(self, node: Mapping[str, Any]) -> dict[str, list[Any]]:
        shown: dict[str, list[Any]] = {}
        for name, value in node.get("inputs", {}).items():
            if isinstance(value, list):
                value = f"<{node.get('class_type', '?')}.{name} object at 0x7fdad6522690>"
            shown[name] = [value]
        return shown

    # -- one node ------------------------------------------------------------------------------

    async def _node(self, run: _Run, node_id: str) -> None:
        node = run.item.prompt[node_id]
        class_type = node["class_type"]
        run.current = node_id
        self._set_progress(run, node_id, 0.0, 1.0, "running")
        if self.client_id is not None:
            self.last_node_id = node_id
        self._to_client("executing", {"node": node_id, "display_node": node_id, "prompt_id": run.prompt_id})
        self._check_interrupt()
        await self._work(run, node_id, class_type, node["inputs"])
        builder = UI_BUILDERS.get(class_type)
        if builder is not None and node_id in run.item.outputs:
            ui = await builder(self.files, node["inputs"], run.clip)
            run.outputs[node_id] = ui
            run.meta[node_id] = {"node_id": node_id, "display_node": node_id, "parent_node": None,
                                 "real_node_id": node_id}
            self._to_client("executed", {"node": node_id, "display_node": node_id, "output": ui,
                                         "prompt_id": run.prompt_id})
        done = run.progress[node_id]
        # A node that reported progress keeps its last value/max when it finishes.
        self._set_progress(run, node_id, done["value"] if done["max"] != 1.0 else 1.0, done["max"], "finished")
        run.executed.append(node_id)

    async def _work(self, run: _Run, node_id: str, class_type: str, inputs: Mapping[str, Any]) -> None:
        fails_here = run.failing is not None and run.failing[0] == node_id
        if class_type in _MODEL_LOADERS:
            self.loads.extend(_files(class_type, inputs))
        if class_type in _REPORTING_LOADERS and not fails_here:
            await self._ticks(run, node_id, _LOADER_REPORTS, self._load_time(class_type, inputs) / _LOADER_REPORTS,
                              scale=_LOADER_PARAMETERS // _LOADER_REPORTS, maximum=_LOADER_PARAMETERS)
        elif class_type in _MODEL_LOADERS or class_type in _SILENT_LOADERS:
            await self._sleep(self._load_time(class_type, inputs))
        elif "Sampler" in class_type:
            steps = self.knobs.steps if self.knobs.steps is not None else int(inputs.get("steps", 1))
            # An out-of-memory sampler gets halfway before it dies.
            reached = max(steps // 2, 1) if fails_here else steps
            await self._ticks(run, node_id, reached, self._step_time(run.item.prompt), maximum=steps, previews=True)
        elif class_type == "LoadImage" and not fails_here:
            await self._load_image(run, str(inputs.get("image", "")))
        elif class_type == "VHS_VideoCombine" and not fails_here:
            frames = _frame_count(run.item.prompt)
            if frames:
                await self._ticks(run, node_id, frames, 0.0, maximum=frames)
        else:
            await self._sleep(self.knobs.node_seconds)
        if fails_here:
            assert run.failing is not None
            raise run.failing[1]

    def _load_time(self, class_type: str, inputs: Mapping[str, Any]) -> float:
        costs = [self.knobs.load_costs[f] for f in _files(class_type, inputs) if f in self.knobs.load_costs]
        if costs:
            return sum(costs)
        return self.knobs.load_seconds if class_type in (*_REPORTING_LOADERS, *_SILENT_LOADERS) else self.knobs.node_seconds

    def _step_time(self, prompt: Mapping[str, Any]) -> float:
        for node in prompt.values():
            for (class_type, input_name) in _DIFFUSION_INPUTS:
                if node.get("class_type") == class_type:
                    seconds = self.knobs.model_step_seconds.get(str(node.get("inputs", {}).get(input_name)))
                    if seconds is not None:
                        return seconds
        return self.knobs.step_seconds

    async def _load_image(self, run: _Run, name: str) -> None:
        """Read the picture as LoadImage does; the clip this prompt saves shows it."""
        path = self.files.input_path(name)
        if path is None:  # validated at submit, removed since
            raise missing_input_file(name)
        run.clip = await asyncio.to_thread(image_clip, path)
        await self._sleep(self.knobs.node_seconds)

    async def _ticks(self, run: _Run, node_id: str, count: int, seconds: float, *, maximum: int,
                     scale: int = 1, previews: bool = False) -> None:
        for tick in range(1, count + 1):
            await self._sleep(seconds)
            value = maximum if tick == count and scale > 1 else tick * scale
            preview = await self._preview(run, value, maximum) if previews else None
            self._report(run, node_id, value, maximum, preview)

    async def _sleep(self, seconds: float) -> None:
        """Simulated work that an interrupt cuts short (the real check runs per step/node)."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._interrupt.wait(), seconds)
        else:
            await asyncio.sleep(0)
        self._check_interrupt()

    def _check_interrupt(self) -> None:
        if self._interrupt.is_set():
            self._interrupt.clear()
            raise _Interrupted


def _frame_count(prompt: Mapping[str, Any]) -> int | None:
    """Frames VHS will encode: the graph's num_frames (kijai) or length (core latent)."""
    for node in prompt.values():
        for key in ("num_frames", "length"):
            value = node.get("inputs", {}).get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


def _is_loader(node: Mapping[str, Any]) -> bool:
    return node.get("class_type") in _MODEL_LOADERS


def _signature(node: Mapping[str, Any]) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """What ComfyUI's cache compares for a node without links: its class and input values."""
    values = tuple(sorted((k, v) for k, v in node.get("inputs", {}).items() if not isinstance(v, list)))
    return str(node.get("class_type")), values


def _files(class_type: str, inputs: Mapping[str, Any]) -> Iterable[str]:
    """The model files a loader node loads."""
    return [str(inputs[name]) for (cls, name) in MODEL_INPUTS if cls == class_type and name in inputs]
