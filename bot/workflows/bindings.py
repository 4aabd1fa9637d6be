"""Bindings: where each parameter of a template is written in its graph, and every way a
binding can be wrong (checked when the template loads, each problem one line naming it).

A binding maps a param to `[node_id, input]` or a list of those; the graph is ComfyUI's API
format. Values are written by key at render time (`Template.render`), never spliced into text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from bot.workflows.params import IMAGE_PARAM, PARAMS

__all__ = ["BINDABLE", "Target", "check_bindings", "kind_problems"]

# What a binding may name: the video parameters, and the start picture of an i2v template.
BINDABLE: Final[tuple[str, ...]] = (*PARAMS, IMAGE_PARAM)


class Target(NamedTuple):
    """One node input a param is written to."""

    node_id: str
    input_name: str


def check_bindings(
    specs: Mapping[str, Any], graph: Mapping[str, Any]
) -> tuple[dict[str, tuple[Target, ...]], list[str]]:
    """Each binding parsed, and one line per problem: a name that is not a param, a malformed
    target, a node or input the graph lacks, a link where a value belongs, an input two params
    set, or no binding for the prompt."""
    bindings: dict[str, tuple[Target, ...]] = {}
    problems: list[str] = []
    bound_by: dict[Target, str] = {}
    for param, raw in specs.items():
        if param not in BINDABLE:
            problems.append(
                f"binding {param!r} is not a param; the params are: {', '.join(BINDABLE)}"
            )
            continue
        targets = _parse_targets(raw)
        if targets is None:
            problems.append(
                f'binding {param!r} must be ["<node id>", "<input name>"] or a list of those, '
                f"not {json.dumps(raw, ensure_ascii=False)}"
            )
            continue
        for target in targets:
            problem = _target_problem(param, target, graph) or _shared_problem(
                param, target, bound_by
            )
            if problem:
                problems.append(problem)
            bound_by.setdefault(target, param)
        bindings[param] = targets
    if "prompt" not in specs:
        problems.append(
            'does not bind "prompt"; add "prompt": ["<node id>", "<input name>"] to bindings'
        )
    return bindings, problems


def kind_problems(starts_from_image: bool, bindings: Mapping[str, tuple[Target, ...]]) -> list[str]:
    """An i2v template must say where the picture goes; a t2v one has no picture to put."""
    if starts_from_image and IMAGE_PARAM not in bindings:
        return ['kind "i2v" starts from a picture: bind "image" to the image input of a LoadImage '
                'node, e.g. "image": ["<node id>", "image"]']
    if not starts_from_image and IMAGE_PARAM in bindings:
        return ['binds "image" but its kind is "t2v": add "kind": "i2v" for a template that starts '
                "from a picture, or remove the binding"]
    return []


def _parse_targets(raw: Any) -> tuple[Target, ...] | None:
    """`[node, input]` or `[[node, input], ...]`; None when neither. Int node ids are accepted
    here (unlike in links, where ComfyUI needs strings) since this is our format, not ComfyUI's."""
    single = _parse_target(raw)
    if single is not None:
        return (single,)
    if not isinstance(raw, list) or not raw:
        return None
    targets = [_parse_target(item) for item in raw]
    if any(t is None for t in targets):
        return None
    return tuple(t for t in targets if t is not None)


def _parse_target(raw: Any) -> Target | None:
    if not (isinstance(raw, list) and len(raw) == 2 and isinstance(raw[1], str)):
        return None
    node_id = raw[0]
    if isinstance(node_id, bool) or not isinstance(node_id, (str, int)):
        return None
    return Target(str(node_id), raw[1])


def _target_problem(param: str, target: Target, graph: Mapping[str, Any]) -> str | None:
    node = graph.get(target.node_id)
    if node is None:
        return f"binding {param!r} points at node {target.node_id!r}, which is not in the workflow"
    inputs = node["inputs"]
    where = (
        f"binding {param!r} points at input {target.input_name!r} "
        f"of node {target.node_id!r} ({node['class_type']})"
    )
    if target.input_name not in inputs:
        known = ", ".join(inputs) or "none"
        return f"{where}, which it does not have; its inputs are: {known}"
    if isinstance(inputs[target.input_name], list):
        return f"{where}, which is a link; bind an input that holds a value"
    return None


def _shared_problem(param: str, target: Target, bound_by: Mapping[Target, str]) -> str | None:
    other = bound_by.get(target)
    if other is None:
        return None
    return (
        f"binding {param!r} points at input {target.input_name!r} of node {target.node_id!r}, "
        f"which binding {other!r} also sets; each input takes one param"
    )
