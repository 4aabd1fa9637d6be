"""A small re-implementation of ComfyUI's submit-time input validation (execution.py
`validate_inputs`) against a captured /object_info, for checking graphs without a server.

Model-file combos are one exception: the capture server had different files installed, so an
input named in `model_inputs` only has to be a combo in object_info and hold a file name. Inputs
named in `upload_inputs` (LoadImage's image, which the bot fills with the name of the picture it
uploads) are the other: ComfyUI validates them against the input folder, not the combo.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

__all__ = ["graph_problems"]

Graph = Mapping[str, Mapping[str, Any]]


def graph_problems(
    graph: Graph,
    object_info: Mapping[str, Any],
    model_inputs: Collection[tuple[str, str]] = (),
    upload_inputs: Collection[tuple[str, str]] = (),
) -> list[str]:
    problems: list[str] = []
    for node_id, node in graph.items():
        info = object_info.get(node["class_type"])
        if info is None:
            problems.append(f"node {node_id}: {node['class_type']} is not in object_info")
            continue
        problems += _node_problems(node_id, node, info, graph, object_info, model_inputs, upload_inputs)
    return problems


def _node_problems(
    node_id: str,
    node: Mapping[str, Any],
    info: Mapping[str, Any],
    graph: Graph,
    object_info: Mapping[str, Any],
    model_inputs: Collection[tuple[str, str]],
    upload_inputs: Collection[tuple[str, str]],
) -> list[str]:
    required = info["input"].get("required", {})
    optional = info["input"].get("optional", {})
    inputs = node["inputs"]
    problems = [
        f"node {node_id}: required input {name} missing" for name in required if name not in inputs
    ]
    extras = _format_widgets(required, inputs)
    for name, value in inputs.items():
        spec = required.get(name) or optional.get(name) or extras.get(name)
        where = f"node {node_id} ({node['class_type']}).{name}"
        if spec is None:
            problems.append(f"{where}: not an input of this class")
            continue
        if (node_id, name) in upload_inputs:
            problem = _upload_problem(spec, value)
        else:
            problem = _value_problem(spec, value, graph, object_info, (node_id, name) in model_inputs)
        if problem:
            problems.append(f"{where}: {problem}")
    return problems


def _format_widgets(required: Mapping[str, Any], inputs: Mapping[str, Any]) -> dict[str, Any]:
    """VHS_VideoCombine grows extra widgets per format (pix_fmt, crf, ...): accept those."""
    spec = required.get("format")
    if not spec or len(spec) < 2 or "formats" not in spec[1]:
        return {}
    widgets = spec[1]["formats"].get(inputs.get("format"), [])
    return {w[0]: [w[1], *(w[2:3])] for w in widgets}


def _combo_options(spec: list[Any]) -> list[Any] | None:
    kind = spec[0]
    if isinstance(kind, list):
        return kind
    if kind == "COMBO":
        return spec[1]["options"]
    return None


def _value_problem(
    spec: list[Any], value: Any, graph: Graph, object_info: Mapping[str, Any], is_model: bool
) -> str | None:
    options = _combo_options(spec)
    config = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if options is not None:
        if is_model:
            ok = isinstance(value, str) and value.endswith(".safetensors")
            return None if ok else f"model file {value!r} is not a .safetensors name"
        return None if value in options else f"{value!r} not in {options}"
    if is_model:
        return "is listed as a model file but object_info has no combo for it"
    kind = spec[0]
    if kind in ("INT", "FLOAT"):
        return _number_problem(kind, value, config)
    if kind == "BOOLEAN":
        return None if isinstance(value, bool) else f"{value!r} is not a boolean"
    if kind == "STRING":
        return None if isinstance(value, str) else f"{value!r} is not a string"
    return _link_problem(kind, value, graph, object_info)


def _upload_problem(spec: list[Any], value: Any) -> str | None:
    if _combo_options(spec) is None or not (len(spec) > 1 and spec[1].get("image_upload")):
        return "is bound to an uploaded picture but object_info has no image_upload combo for it"
    return None if isinstance(value, str) and value else f"{value!r} is not a file name"


def _number_problem(kind: str, value: Any, config: Mapping[str, Any]) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{value!r} is not a number"
    if kind == "INT" and not isinstance(value, int):
        return f"{value!r} is not an INT"
    if "min" in config and value < config["min"]:
        return f"{value} below min {config['min']}"
    if "max" in config and value > config["max"]:
        return f"{value} above max {config['max']}"
    return None


def _link_problem(
    kind: str, value: Any, graph: Graph, object_info: Mapping[str, Any]
) -> str | None:
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)):
        return f"expects a {kind} link, got {value!r}"
    source = graph.get(value[0])
    if source is None:
        return f"links to missing node {value[0]}"
    outputs = object_info[source["class_type"]]["output"]
    if value[1] >= len(outputs) or outputs[value[1]] != kind:
        return f"links to {source['class_type']} output {value[1]}, which is not {kind}"
    return None
