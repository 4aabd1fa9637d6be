"""What the emulated server has installed: node definitions (object_info) and model files.

Owns: the captures (recorded from a real ComfyUI 0.8.0 server, kept in `captures/` beside
this module), loading the captured object_info, the supplement (`supplement/`: definitions of
nodes the capture did not record, each written from the node's source, which it names), the
default model set, and rewriting each model-file combo so /object_info, /models and validation
agree on one installed-model set (the way a real server lists what is in its models/ folders),
and LoadImage's combo so it lists the input folder's images.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "MODEL_FOLDERS",
    "MODEL_INPUTS",
    "REFERENCE_MODELS",
    "capture",
    "captured_object_info",
    "default_models",
    "emulated_object_info",
    "install_input_images",
    "install_models",
    "captures_dir",
    "supplement",
]

# (class_type, input name) -> models folder it lists. The WanVideoWrapper T5 loader lists
# text_encoders even though its tooltip says 'ComfyUI/models/vae' (a bug in the node pack).
MODEL_INPUTS: dict[tuple[str, str], str] = {
    ("WanVideoModelLoader", "model"): "diffusion_models",
    ("UNETLoader", "unet_name"): "diffusion_models",
    ("LoadWanVideoT5TextEncoder", "model_name"): "text_encoders",
    ("CLIPLoader", "clip_name"): "text_encoders",
    ("WanVideoVAELoader", "model_name"): "vae",
    ("VAELoader", "vae_name"): "vae",
    ("CLIPVisionLoader", "clip_name"): "clip_vision",
}

# VAELoader appends these non-file choices after the files (seen in the capture).
_EXTRA_CHOICES: dict[tuple[str, str], list[str]] = {("VAELoader", "vae_name"): ["pixel_space"]}

# GET /models on the captured server, in its order.
MODEL_FOLDERS: list[str] = [
    "checkpoints", "configs", "loras", "vae", "text_encoders", "diffusion_models", "clip_vision",
    "style_models", "embeddings", "diffusers", "vae_approx", "controlnet", "gligen",
    "upscale_models", "latent_upscale_models", "custom_nodes", "hypernetworks", "photomaker",
    "classifiers", "model_patches", "audio_encoders", "VHS_video_formats",
]

# Names from the protocol reference (official core template and the seed's kijai graph),
# with and without the seed's `wan2.1/` subfolder, and the 14B text- and image-to-video files of
# the same two sources (huggingface.co/Comfy-Org/Wan_2.1_ComfyUI_repackaged,
# huggingface.co/Kijai/WanVideo_comfy), with the CLIP vision model image-to-video needs.
REFERENCE_MODELS: dict[str, list[str]] = {
    "diffusion_models": [
        "wan2.1_t2v_1.3B_fp16.safetensors",
        "Wan2_1-T2V-1_3B_fp8_e4m3fn.safetensors",
        "wan2.1/Wan2_1-T2V-1_3B_fp8_e4m3fn.safetensors",
        "wan2.1_t2v_14B_fp16.safetensors",
        "wan2.1_t2v_14B_fp8_e4m3fn.safetensors",
        "Wan2_1-T2V-14B_fp8_e4m3fn.safetensors",
        "wan2.1_i2v_480p_14B_fp16.safetensors",
        "wan2.1_i2v_480p_14B_fp8_e4m3fn.safetensors",
        "Wan2_1-I2V-14B-480P_fp8_e4m3fn.safetensors",
    ],
    "text_encoders": [
        "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
        "umt5-xxl-enc-bf16.safetensors",
        "wan2.1/umt5-xxl-enc-bf16.safetensors",
    ],
    "vae": [
        "wan_2.1_vae.safetensors",
        "Wan2_1_VAE_bf16.safetensors",
        "wan2.1/Wan2_1_VAE_bf16.safetensors",
    ],
    "clip_vision": [
        "clip_vision_h.safetensors",
    ],
}


def captures_dir() -> Path:
    """The recorded captures of a real ComfyUI 0.8.0 server (see `captures/README.md`)."""
    return Path(__file__).resolve().parent / "captures"


def _repo_root() -> Path:
    # tests/fakes/comfyui/_catalog.py -> the checkout root.
    return Path(__file__).resolve().parents[3]


@cache
def _capture_text(name: str) -> str:
    return (captures_dir() / name).read_text(encoding="utf-8")


def capture(name: str) -> Any:
    """A fresh copy of one JSON capture file (callers may mutate it)."""
    return json.loads(_capture_text(name))


def captured_object_info() -> dict[str, Any]:
    """GET /object_info of the captured server (a fresh deep copy)."""
    return capture("object_info_subset.json")


def supplement() -> dict[str, Any]:
    """The supplement's node definitions by class (a fresh copy). Each entry of the file also
    says which source it was written from; see `supplement/object_info_i2v.json`."""
    path = Path(__file__).resolve().parent / "supplement" / "object_info_i2v.json"
    definitions = json.loads(path.read_text(encoding="utf-8"))["definitions"]
    return {name: entry["object_info"] for name, entry in definitions.items()}


def emulated_object_info() -> dict[str, Any]:
    """What the emulator serves by default: the capture, plus the supplement's nodes."""
    return {**captured_object_info(), **supplement()}


def _graphs() -> Iterable[dict[str, Any]]:
    """API graphs the project ships or the captures ran: their model files are 'installed'."""
    for path in sorted((captures_dir() / "workflows").glob("*.json")):
        yield json.loads(path.read_text(encoding="utf-8"))
    for path in sorted((_repo_root() / "bot" / "workflows" / "builtin").glob("*.json")):
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a template being written right now must not break every test
        graph = body.get("workflow", body) if isinstance(body, dict) else None
        if isinstance(graph, dict):
            yield graph


def _graph_models(graph: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    for node in graph.values():
        if not isinstance(node, dict):
            continue
        for (class_type, input_name), folder in MODEL_INPUTS.items():
            value = node.get("inputs", {}).get(input_name) if node.get("class_type") == class_type else None
            if isinstance(value, str):
                yield folder, value


def default_models() -> dict[str, list[str]]:
    """The installed-model set used unless a test passes `models=`: reference names plus every
    model file referenced by the captured workflows and the project's built-in templates."""
    found: dict[str, set[str]] = {folder: set(names) for folder, names in REFERENCE_MODELS.items()}
    for graph in _graphs():
        for folder, name in _graph_models(graph):
            found.setdefault(folder, set()).add(name)
    return {folder: sorted(names) for folder, names in found.items()}


def install_models(object_info: Mapping[str, Any], models: Mapping[str, Iterable[str]]) -> dict[str, Any]:
    """A copy of `object_info` whose model combos list exactly `models` (old-style combos kept)."""
    info = copy.deepcopy(dict(object_info))
    for (class_type, input_name), folder in MODEL_INPUTS.items():
        node = info.get(class_type)
        if not node:
            continue
        for category in ("required", "optional"):
            spec = node.get("input", {}).get(category, {}).get(input_name)
            if spec is None:
                continue
            files = sorted(models.get(folder, ()))
            choices = files + _EXTRA_CHOICES.get((class_type, input_name), [])
            extra = spec[1] if len(spec) > 1 else None
            node["input"][category][input_name] = [choices, extra] if extra is not None else [choices]
    return info


# What ComfyUI's folder_paths.filter_files_content_types(files, ["image"]) keeps (by mimetype).
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif")


def install_input_images(object_info: Mapping[str, Any], input_files: Iterable[str]) -> dict[str, Any]:
    """`object_info` whose LoadImage combo lists the images at the top of the input folder, as
    LoadImage.INPUT_TYPES does (sorted, no subfolders: uploads under `wanbot/` are not listed,
    and validation does not ask the list, see `_validation.py`). Copies only LoadImage."""
    node = object_info.get("LoadImage")
    if not node:
        return dict(object_info)
    top = sorted(name for name in input_files if "/" not in name and name.lower().endswith(_IMAGE_SUFFIXES))
    spec = node["input"]["required"]["image"]
    listed = copy.deepcopy(node)
    listed["input"]["required"]["image"] = [top, *spec[1:]]
    return {**object_info, "LoadImage": listed}
