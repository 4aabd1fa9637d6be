"""Turns ComfyUI's 400 answer to POST /prompt into one plain sentence per problem.

ComfyUI's `node_errors` are precise but cryptic ("Value not in list"); an operator needs to
read "model file 'x.safetensors' is not installed on http://gpu1:8188 (WanVideoModelLoader.model)".
"""

from __future__ import annotations

import re
from typing import Any

from bot.comfy.errors import NodeProblem, ValidationFailed
from bot.comfy.packs import pack_for

__all__ = ["rejection_from_body", "is_model_file"]

_MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft")
_UNKNOWN_NODE = re.compile(r"node (\S+) does not exist")


def is_model_file(value: Any) -> bool:
    """A value that names a model file (by its suffix)."""
    return isinstance(value, str) and value.lower().endswith(_MODEL_SUFFIXES)


def _allowed(extra: dict[str, Any], limit: int = 6) -> str:
    config = extra.get("input_config") or []
    options: list[Any] = []
    if config and isinstance(config[0], list):
        options = config[0]
    elif len(config) > 1 and isinstance(config[1], dict):
        options = config[1].get("options", [])
    shown = ", ".join(repr(o) for o in options[:limit])
    if len(options) > limit:
        shown += f", … ({len(options)} in all)"
    return shown or "none"


def _problem_text(error: dict[str, Any], where: str, backend: str) -> str:
    kind = error.get("type", "")
    extra = error.get("extra_info") or {}
    received = extra.get("received_value")
    if kind == "value_not_in_list" and is_model_file(received):
        return f"model file {received!r} is not installed on {backend} ({where})"
    if kind == "value_not_in_list":
        return f"{received!r} is not an allowed value for {where} (allowed: {_allowed(extra)})"
    if kind == "required_input_missing":
        return f"{where} is missing a required input"
    if kind in ("value_smaller_than_min", "value_bigger_than_max"):
        return f"{where}: {error.get('message', kind)}"
    if kind == "invalid_input_type":
        return f"{where}: {received!r} is not a valid {_type_name(extra)}"
    if kind.startswith("exception_during") and extra.get("exception_type") == "KeyError":
        return f"{where} links to node {extra.get('exception_message', '?')}, which is not in the workflow"
    detail = error.get("details") or error.get("message") or kind
    return f"{where}: {detail}"


def _type_name(extra: dict[str, Any]) -> str:
    config = extra.get("input_config") or []
    return str(config[0]).lower() if config and isinstance(config[0], str) else "value"


def _node_problems(node_errors: dict[str, Any], backend: str) -> list[NodeProblem]:
    problems: list[NodeProblem] = []
    for node_id, entry in node_errors.items():
        class_type = entry.get("class_type", "?")
        for error in entry.get("errors", []):
            input_name = (error.get("extra_info") or {}).get("input_name") or error.get("details")
            where = f"{class_type}.{input_name} (node {node_id})" if input_name else f"{class_type} (node {node_id})"
            problems.append(
                NodeProblem(
                    node_id=str(node_id),
                    class_type=class_type,
                    input_name=input_name,
                    kind=error.get("type", ""),
                    text=_problem_text(error, where, backend),
                )
            )
    return problems


def rejection_from_body(body: Any, backend: str) -> ValidationFailed:
    """Build the typed error for a 400 answer; `body` is the parsed JSON (or raw text)."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return ValidationFailed(f"{backend} rejected the workflow: {str(body)[:300]}", backend=backend)
    error = body["error"]
    kind = error.get("type", "")
    if kind == "invalid_prompt" and (match := _UNKNOWN_NODE.search(error.get("message", ""))):
        class_type = match.group(1)
        pack = pack_for(class_type)
        reason = (
            f"node type {class_type!r} is not installed on {backend}: "
            f"install the {pack.name} node pack ({pack.url}) and restart ComfyUI"
        )
        return ValidationFailed(reason, backend=backend, kind=kind, missing_packs=[pack.name])
    if kind == "prompt_no_outputs":
        reason = f"the workflow has no output node (add SaveVideo or VHS_VideoCombine); {backend} refused it"
        return ValidationFailed(reason, backend=backend, kind=kind)
    problems = _node_problems(body.get("node_errors") or {}, backend)
    if problems:
        reason = "; ".join(p.text for p in problems)
    else:
        reason = f"{backend} rejected the workflow: {error.get('message', kind)} {error.get('details', '')}".strip()
    return ValidationFailed(reason, backend=backend, kind=kind, problems=problems)
