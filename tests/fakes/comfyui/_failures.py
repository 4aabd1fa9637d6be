"""Canned run-time failures: what `execution_error` carries when a node blows up.

Owns: realistic exception payloads. `model_load` is the captured one (a 0-byte/corrupt
safetensors file, seen on WanVideoVAELoader); `oom` is torch's CUDA out-of-memory text as
ComfyUI reports it; `t5_scaled` is what happens when the kijai T5 loader is given the fp8
*scaled* umt5 file (the protocol reference says it fails at run time; the wording is ours).
"""

from __future__ import annotations

__all__ = ["FAILURES", "NodeFailure", "failure_node", "missing_input_file"]


class NodeFailure(Exception):
    """Raised inside the simulated node; the executor turns it into execution_error."""

    def __init__(self, exception_type: str, exception_message: str, traceback: list[str]) -> None:
        super().__init__(exception_message)
        self.exception_type = exception_type
        self.exception_message = exception_message
        self.traceback = traceback


_EXEC_FRAMES = [
    '  File "/srv/ComfyUI/execution.py", line 518, in execute\n'
    "    output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data(prompt_id, "
    "unique_id, obj, input_data_all, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, "
    "v3_data=v3_data)\n",
    '  File "/srv/ComfyUI/execution.py", line 329, in get_output_data\n'
    "    return_values = await _async_map_node_over_list(prompt_id, unique_id, obj, input_data_all, "
    "obj.FUNCTION, allow_interrupt=True, execution_block_cb=execution_block_cb, "
    "pre_execute_cb=pre_execute_cb, v3_data=v3_data)\n",
    '  File "/srv/ComfyUI/execution.py", line 303, in _async_map_node_over_list\n'
    "    await process_inputs(input_dict, i)\n",
    '  File "/srv/ComfyUI/execution.py", line 291, in process_inputs\n'
    "    result = f(**inputs)\n             ^^^^^^^^^^^\n",
]

_MODEL_LOAD = NodeFailure(
    exception_type="safetensors._safetensors_rust.SafetensorError",
    exception_message="Error while deserializing header: header too small\n",
    traceback=[
        *_EXEC_FRAMES,
        '  File "/srv/ComfyUI/custom_nodes/ComfyUI-WanVideoWrapper/nodes.py", line 559, in loadmodel\n'
        "    vae_sd = load_torch_file(model_path, safe_load=True)\n",
        '  File "/srv/ComfyUI/comfy/utils.py", line 80, in load_torch_file\n    raise e\n',
        '  File "/srv/ComfyUI/comfy/utils.py", line 64, in load_torch_file\n'
        '    with safetensors.safe_open(ckpt, framework="pt", device=device.type) as f:\n',
    ],
)

_OOM = NodeFailure(
    exception_type="torch.OutOfMemoryError",
    exception_message=(
        "Allocation on device 0 would exceed allowed memory. (out of memory)\n"
        "Currently allocated     : 9.81 GiB\n"
        "Requested               : 1.27 GiB\n"
        "Device limit            : 11.99 GiB\n"
        "Free (according to CUDA): 0 bytes\n"
        "PyTorch limit (set by user-supplied memory fraction)\n"
        "                        : 17179869184.00 GiB\n"
    ),
    traceback=[
        *_EXEC_FRAMES,
        '  File "/srv/ComfyUI/custom_nodes/ComfyUI-WanVideoWrapper/nodes.py", line 1319, in process\n'
        "    noise_pred_cond = transformer(\n",
        '  File "/srv/venv/lib/python3.11/site-packages/torch/nn/modules/module.py", line 1783, '
        "in _wrapped_call_impl\n    return self._call_impl(*args, **kwargs)\n",
    ],
)

_T5_SCALED = NodeFailure(
    exception_type="RuntimeError",
    exception_message=(
        "Error(s) in loading state_dict for T5Encoder:\n"
        '\tUnexpected key(s) in state_dict: "scaled_fp8". \n'
    ),
    traceback=[
        *_EXEC_FRAMES,
        '  File "/srv/ComfyUI/custom_nodes/ComfyUI-WanVideoWrapper/nodes.py", line 742, in loadmodel\n'
        "    T5_text_encoder = T5EncoderModel(\n",
    ],
)

FAILURES: dict[str, NodeFailure] = {"oom": _OOM, "model_load": _MODEL_LOAD, "t5_scaled": _T5_SCALED}


def missing_input_file(name: str) -> NodeFailure:
    """LoadImage opening a file that left input/ after the prompt was validated."""
    path = f"/srv/ComfyUI/input/{name}"
    return NodeFailure("FileNotFoundError", f"[Errno 2] No such file or directory: '{path}'", [
        *_EXEC_FRAMES,
        '  File "/srv/ComfyUI/nodes.py", line 1710, in load_image\n'
        "    img = node_helpers.pillow(Image.open, image_path)\n",
    ])


def failure_node(kind: str, order: list[str], class_of: dict[str, str]) -> str:
    """Which node fails for this kind: the sampler for OOM, the first loader for a bad model
    file, else the last node (there is always one)."""
    def first(predicate: str) -> str | None:
        return next((n for n in order if predicate in class_of[n]), None)

    if kind == "oom":
        return first("Sampler") or order[-1]
    if kind == "t5_scaled":
        return first("T5TextEncoder") or first("Loader") or order[0]
    return first("Loader") or order[0]
