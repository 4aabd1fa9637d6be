"""What a ComfyUI API-format graph must look like, and what it needs from a server.

This module owns the rules wanbot can check without a server: every list input is a well-formed
link to a node that exists, and some node writes an output (ComfyUI refuses a graph without one).
It also reads which node inputs name model files, and in which models/ folder ComfyUI looks for
them, so `wanbot check` can ask the server for exactly those files.
Problems come back as plain sentences; `template.py` prefixes them with the template's name.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any, Final, NamedTuple

__all__ = [
    "MODEL_INPUTS",
    "OUTPUT_CLASSES",
    "ModelRef",
    "is_link",
    "is_output_class",
    "link_problems",
    "model_refs",
    "output_node_ids",
]

Graph = Mapping[str, Mapping[str, Any]]


class ModelRef(NamedTuple):
    """One loader input that names a model file, and the models/ folder it is read from."""

    node_id: str
    class_type: str
    input_name: str
    filename: str
    folder: str


# (class_type, input) -> folder, for the loaders the built-in workflows use. WanVideoWrapper's
# own tooltips say "models/vae" for the T5 loader; the code reads text_encoders.
MODEL_INPUTS: Final[dict[tuple[str, str], str]] = {
    ("WanVideoModelLoader", "model"): "diffusion_models",
    ("LoadWanVideoT5TextEncoder", "model_name"): "text_encoders",
    ("WanVideoVAELoader", "model_name"): "vae",
    ("UNETLoader", "unet_name"): "diffusion_models",
    ("CLIPLoader", "clip_name"): "text_encoders",
    ("VAELoader", "vae_name"): "vae",
    ("CLIPVisionLoader", "clip_name"): "clip_vision",
}

# Any other class: ComfyUI's core loaders name these inputs after one folder, whatever the class,
# so an operator's own template (a LoRA, a checkpoint loader) is still checked. Ambiguous names
# (`model_name`, `clip_name`) are left to the table above.
_INPUT_FOLDERS: Final[dict[str, str]] = {
    "ckpt_name": "checkpoints",
    "unet_name": "diffusion_models",
    "vae_name": "vae",
    "lora_name": "loras",
    "control_net_name": "controlnet",
    "clip_name1": "text_encoders",
    "clip_name2": "text_encoders",
    "clip_name3": "text_encoders",
    "clip_name4": "text_encoders",
}

# A value only counts as a file when it looks like one: VAELoader also takes "pixel_space".
_MODEL_SUFFIXES: Final = (".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".pt2", ".bin", ".gguf")

# Output nodes of the node packs we know (ComfyUI marks them `output_node` in object_info).
OUTPUT_CLASSES: Final[frozenset[str]] = frozenset(
    {
        "VHS_VideoCombine",
        "SaveVideo",
        "SaveWEBM",
        "SaveAnimatedWEBP",
        "SaveAnimatedPNG",
        "SaveImage",
        "PreviewImage",
    }
)


def is_output_class(class_type: str) -> bool:
    """True for a node class that writes an output. Without a server to ask, unknown classes
    follow the naming habit of ComfyUI and its packs (SaveX, PreviewX, ...VideoCombine)."""
    return (
        class_type in OUTPUT_CLASSES
        or class_type.startswith(("Save", "Preview"))
        or class_type.endswith("VideoCombine")
    )


def is_link(value: Any) -> bool:
    """A well-formed link: `["<source node id as a string>", <output index>]`."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
        and value[1] >= 0
    )


def _inputs(graph: Graph) -> Iterator[tuple[str, str, Any]]:
    for node_id, node in graph.items():
        for name, value in node["inputs"].items():
            yield node_id, name, value


def link_problems(graph: Graph) -> list[str]:
    """Every malformed or dangling link, as a sentence. ComfyUI reads *every* list input as a
    link, so a list that is not one fails at submit time; an int source id is a KeyError there."""
    problems = []
    for node_id, name, value in _inputs(graph):
        if not isinstance(value, list):
            continue
        where = f"node {node_id!r} input {name!r}"
        if not is_link(value):
            problems.append(
                f"{where} is {json.dumps(value, ensure_ascii=False)}, which is not a link; "
                f'a link is ["<node id as a string>", <output index>], e.g. {_example_link(value)}'
            )
        elif value[0] not in graph:
            problems.append(f"{where} links to node {value[0]!r}, which is not in the workflow")
    return problems


def _example_link(value: list[Any]) -> str:
    """The link the author probably meant (`[6, 0]` → `["6", 0]`)."""
    if len(value) == 2 and isinstance(value[0], (str, int)) and isinstance(value[1], int):
        return json.dumps([str(value[0]), value[1]])
    return '["3", 0]'


def output_node_ids(graph: Graph) -> list[str]:
    """Ids of the nodes that write outputs, in graph order."""
    return [node_id for node_id, node in graph.items() if is_output_class(node["class_type"])]


def _folder_for(class_type: str, input_name: str) -> str | None:
    folder = MODEL_INPUTS.get((class_type, input_name))
    return folder if folder is not None else _INPUT_FOLDERS.get(input_name)


def model_refs(graph: Graph) -> list[ModelRef]:
    """Every loader input that names a model file, in graph order."""
    refs = []
    for node_id, name, value in _inputs(graph):
        class_type = graph[node_id]["class_type"]
        folder = _folder_for(class_type, name)
        if folder is None or not isinstance(value, str):
            continue
        if value.lower().endswith(_MODEL_SUFFIXES):
            refs.append(ModelRef(node_id, class_type, name, value, folder))
    return refs
