"""Turns ComfyUI's `execution_error` (a node raised while the prompt ran) into one plain sentence.

The payload is precise but written for a Python developer: "SafetensorError: Error while
deserializing header: header too small", or torch's eight-line out-of-memory report. Three cases
have a known fix and get a sentence that says it; the rest say which node failed and how, on one
line. The payload carries the failing node's inputs (`current_inputs`), which is where the name of
a broken model file comes from: the exception text never has it.
"""

from __future__ import annotations

import re
from typing import Any

from bot.comfy.errors import ExecutionFailed
from bot.comfy.rejection import is_model_file

__all__ = ["execution_failure"]

# torch says "CUDA out of memory", "HIP out of memory", "(out of memory)" or raises OutOfMemoryError.
_OUT_OF_MEMORY = re.compile(r"out ?of ?memory", re.I)
# A safetensors file cut short or not a safetensors file at all (a 0-byte placeholder, an HTML
# error page saved under the model's name).
_UNREADABLE = re.compile(r"SafetensorError|deserializing header|header too (small|large)|invalid header", re.I)
# The fp8 "scaled" umt5 file carries this extra key; kijai's T5 loader refuses it.
_SCALED_T5 = re.compile(r"scaled_fp8")
_WRAPPER_T5 = "umt5-xxl-enc-bf16.safetensors"


def execution_failure(data: dict[str, Any], backend: str) -> ExecutionFailed:
    """The typed error for one `execution_error` payload (from the websocket or from history)."""
    node_type = str(data.get("node_type") or "?")
    exception_type = str(data.get("exception_type") or "error")
    message = str(data.get("exception_message") or "no message").strip()
    model_file = _model_file(data.get("current_inputs"))

    def failed(reason: str, kind: str, file: str | None = None) -> ExecutionFailed:
        return ExecutionFailed(reason, backend=backend, kind=kind, model_file=file, node_id=data.get("node_id"),
                               node_type=data.get("node_type"), exception_type=data.get("exception_type"))

    short_type = exception_type.rsplit(".", 1)[-1]
    where = f"{short_type} in {node_type}, node {data.get('node_id', '?')}"
    if _OUT_OF_MEMORY.search(f"{exception_type} {message}"):
        return failed(f"out of GPU memory on {backend}: choose a smaller size or a shorter duration ({where})",
                      "out_of_memory")
    if _SCALED_T5.search(message) or (model_file and "scaled" in model_file and "T5" in node_type):
        shown = repr(model_file) if model_file else "the one in the graph"
        return failed(
            f'text encoder {shown} on {backend} is the fp8 "scaled" umt5-xxl, which {node_type} cannot read: '
            f'put the non-"scaled" {_WRAPPER_T5} in models/text_encoders and use that',
            "model_file", model_file)
    first_line = message.splitlines()[0].strip() if message else "no message"
    if _UNREADABLE.search(f"{exception_type} {message}"):
        what = f"model file {model_file!r}" if model_file else f"a model file {node_type} loads"
        return failed(
            f"{what} on {backend} is damaged or incomplete ({node_type} could not read it: "
            f"{short_type}: {first_line}): download it again",
            "model_file", model_file)
    return failed(f"{node_type} (node {data.get('node_id', '?')}) failed on {backend}: {short_type}: {first_line}",
                  "execution_error")


def _model_file(inputs: Any) -> str | None:
    """The model file among the failing node's inputs (ComfyUI sends each as a one-item list)."""
    if not isinstance(inputs, dict):
        return None
    for value in inputs.values():
        item = value[0] if isinstance(value, list) and value else value
        if is_model_file(item):
            return item
    return None
