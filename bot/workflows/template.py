"""Workflow templates: load a JSON template, refuse a broken one, render a graph for one job.

A template file is `{"name", "description", "kind"?: "t2v" | "i2v", "workflow": <ComfyUI API
graph>, "bindings": {param: [node_id, input] | [[node_id, input], ...]}, "defaults"?: {param:
value}, "limits"?: {param: {"min"?, "max"?}}, "label"?: {"en-US": ..., "zh-CN": ...},
"vram_gb"?: N, "preview_method"?: "latent2rgb" | "taesd" | "auto" | "none"}` (README, "Workflow
templates"). `label` is the friendly name `/video` offers when several templates are configured;
`vram_gb` is the total VRAM (GB, 10^9 bytes, as ComfyUI reports it) a GPU needs for the
template: a backend whose GPU has less is not given its jobs. `preview_method` is what ComfyUI
is asked to draw live previews with (default latent2rgb; "none" for a graph whose sampler
cannot preview).

`kind` says what a template starts from: text only (`t2v`, the default) or a member's picture
(`i2v`). An i2v template binds `image` to the `image` input of a LoadImage node; the value
written there is the name the picture got on the ComfyUI server (`bot.comfy.render` uploads it
right before submitting), so the template's own value is only a placeholder.

Everything wrong with a template is found at load time, so an operator learns it at start-up
(or from `wanbot check`), not when a member's job fails: each problem is one line naming the
file and the binding or node. `Template.render` deep-copies the graph and sets each bound
input by key; user text is never spliced into JSON, so quotes, braces or `%s` in a prompt
cannot change the graph.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, PositiveFloat, StrictStr, ValidationError

from bot.i18n import lang_of
from bot.workflows import graph as graphs
from bot.workflows.bindings import Target, check_bindings, kind_problems
from bot.workflows.graph import ModelRef
from bot.workflows.params import (
    GLOBAL_DEFAULTS,
    IMAGE_PARAM,
    PARAMS,
    Limit,
    default_problems,
    override_limits,
)

__all__ = [
    "BUILTIN_TEMPLATES",
    "I2V",
    "T2V",
    "Target",
    "Template",
    "TemplateError",
    "TemplateKind",
    "load_template",
    "parse_template",
]

BUILTIN_TEMPLATES: Final[tuple[str, ...]] = (
    "wan-wrapper", "wan-native", "wan-wrapper-14b", "wan-native-14b", "wan-wrapper-i2v", "wan-native-i2v",
)

TemplateKind = Literal["t2v", "i2v"]
T2V: Final = "t2v"
I2V: Final = "i2v"

_Scalar = (str, int, float, bool)
_LABEL_MAX = 100  # a Discord choice name


class TemplateError(ValueError):
    """A template cannot be used. `problems` holds one line per problem, each naming the file."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = [f"template {source!r}: {problem}" for problem in problems]
        super().__init__("\n".join(self.problems))

    @classmethod
    def gathered(cls, errors: list[TemplateError]) -> TemplateError:
        """One error with the problems of all `errors`, each line still naming its own file."""
        if len(errors) == 1:
            return errors[0]
        combined = cls(", ".join(error.source for error in errors), [])
        combined.problems = [problem for error in errors for problem in error.problems]
        combined.args = ("\n".join(combined.problems),)
        return combined


# --- the file format (pydantic at the edge) ---------------------------------------------------


class _LimitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min: float | None = None
    max: float | None = None


class _NodeSpec(BaseModel):
    # `_meta` (titles from ComfyUI's API export) and other keys ride along untouched.
    model_config = ConfigDict(extra="allow")
    class_type: StrictStr
    inputs: dict[str, Any]


class _TemplateFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: StrictStr
    description: StrictStr = ""
    kind: TemplateKind = T2V
    workflow: dict[str, _NodeSpec]
    # Checked by hand below: pydantic's union errors would not say which binding is wrong.
    bindings: dict[str, Any]
    defaults: dict[str, Any] = {}
    limits: dict[str, _LimitSpec] = {}
    label: dict[str, StrictStr] = {}
    vram_gb: PositiveFloat | None = None
    preview_method: Literal["latent2rgb", "taesd", "auto", "none"] | None = None


# --- the template ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Template:
    """A loaded, checked template. Build one with `load_template` or `parse_template`."""

    name: str
    description: str
    source: str  # the built-in name or the path it was loaded from
    kind: TemplateKind
    bindings: Mapping[str, tuple[Target, ...]]
    defaults: Mapping[str, Any]  # effective: global defaults overridden by the template's
    limits: Mapping[str, Limit]  # effective, for every param
    _graph: dict[str, Any] = field(repr=False)
    labels: Mapping[str, str] = field(default_factory=dict)  # by language ("en", "zh")
    vram_gb: float | None = None  # total VRAM a GPU needs for it (GB); None: not declared
    preview_method: str | None = None  # None: the bot's default

    def label(self, locale: object | None = None) -> str:
        """The friendly name in the locale's language, else in the other one, else the name."""
        wanted = lang_of(locale)
        return self.labels.get(wanted) or next(iter(self.labels.values()), self.name)

    @property
    def workflow(self) -> dict[str, Any]:
        """A deep copy of the unrendered graph."""
        return copy.deepcopy(self._graph)

    @property
    def params(self) -> tuple[str, ...]:
        """The video params this template binds, in canonical order (not the start picture)."""
        return tuple(p for p in PARAMS if p in self.bindings)

    @property
    def starts_from_image(self) -> bool:
        return self.kind == I2V

    @property
    def image_targets(self) -> tuple[Target, ...]:
        """The LoadImage inputs the uploaded start picture's name is written to (i2v only)."""
        return tuple(self.bindings.get(IMAGE_PARAM, ()))

    def supports(self, param: str) -> bool:
        return param in self.bindings

    def limit(self, param: str) -> Limit:
        return self.limits[param]

    def default(self, param: str) -> Any | None:
        return self.defaults.get(param)

    def render(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """A fresh graph with every bound param in `params` written into its inputs.

        Params the template does not bind, and params whose value is None, are skipped (the
        template's own value stays). Raises TypeError for a list or dict value: ComfyUI would
        read a list as a link.
        """
        graph = copy.deepcopy(self._graph)
        for param, value in params.items():
            targets = self.bindings.get(param, ())
            if value is None or not targets:
                continue
            if not isinstance(value, _Scalar):
                raise TypeError(
                    f"param {param!r} must be a str, int, float or bool, not {type(value).__name__}"
                )
            for target in targets:
                graph[target.node_id]["inputs"][target.input_name] = value
        return graph

    def node_classes(self) -> set[str]:
        return {node["class_type"] for node in self._graph.values()}

    def model_files(self) -> list[ModelRef]:
        return graphs.model_refs(self._graph)

    def output_node_ids(self) -> list[str]:
        return graphs.output_node_ids(self._graph)


# --- loading --------------------------------------------------------------------------------


def load_template(name_or_path: str | os.PathLike[str]) -> Template:
    """Load a built-in template by name (see BUILTIN_TEMPLATES) or a template file.

    Raises TemplateError (a ValueError) naming the file and every problem found.
    """
    source = os.fspath(name_or_path)
    if source in BUILTIN_TEMPLATES:
        text = (resources.files(__package__) / "builtin" / f"{source}.json").read_text("utf-8")
        return parse_template(text, source)
    return parse_template(_read_file(source), source)


def _read_file(source: str) -> str:
    path = Path(source).expanduser()
    if not path.is_file():
        builtins = ", ".join(BUILTIN_TEMPLATES)
        raise TemplateError(source, [f"no such file, and not a built-in template ({builtins})"])
    try:
        return path.read_text("utf-8")
    except UnicodeDecodeError:
        raise TemplateError(source, ["is not UTF-8 text; save it as UTF-8 JSON"]) from None
    except OSError as exc:
        raise TemplateError(source, [f"cannot be read: {exc.strerror or exc}"]) from None


def parse_template(text: str, source: str) -> Template:
    """Check and build a template from JSON `text`; `source` names it in error messages."""
    spec, graph = _parse_file(text, source)
    problems = graphs.link_problems(graph)
    if not graphs.output_node_ids(graph):
        problems.append(
            "has no output node; add one that saves the video (VHS_VideoCombine or SaveVideo)"
        )
    bindings, binding_problems = check_bindings(spec.bindings, graph)
    binding_problems += kind_problems(spec.kind == I2V, bindings)
    overrides = {param: (limit.min, limit.max) for param, limit in spec.limits.items()}
    limits, limit_problems = override_limits(overrides)
    problems += binding_problems + limit_problems
    if not limit_problems:
        problems += default_problems(spec.defaults, limits)
    labels, label_problems = _labels(spec.label)
    problems += label_problems
    if problems:
        raise TemplateError(source, problems)
    return Template(
        name=spec.name,
        description=spec.description,
        source=source,
        kind=spec.kind,
        bindings=MappingProxyType(bindings),
        defaults=MappingProxyType({**GLOBAL_DEFAULTS, **spec.defaults}),
        limits=MappingProxyType(limits),
        _graph=graph,
        labels=MappingProxyType(labels),
        vram_gb=spec.vram_gb,
        preview_method=spec.preview_method,
    )


def _labels(spec: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The label by language; a locale that is neither English nor Chinese is a problem (the
    bot speaks those two), and so is an empty or over-long label (a Discord choice holds 100)."""
    labels: dict[str, str] = {}
    problems: list[str] = []
    for locale, text in spec.items():
        if not locale.lower().startswith(("en", "zh")):
            problems.append(f"label {locale!r}: the bot speaks English and Chinese; use \"en-US\" or \"zh-CN\"")
        elif not text.strip() or len(text) > _LABEL_MAX:
            problems.append(f"label {locale!r}: must be 1 to {_LABEL_MAX} characters")
        else:
            labels[lang_of(locale)] = text.strip()
    return labels, problems


def _parse_file(text: str, source: str) -> tuple[_TemplateFile, dict[str, Any]]:
    """The checked file and its raw graph. The raw graph is kept, not the pydantic dump, so
    keys ComfyUI allows but we do not model (`_meta` titles) survive into rendered graphs."""
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise TemplateError(
            source, [f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]
        ) from None
    except _DuplicateKey as exc:
        raise TemplateError(
            source, [f"is not valid: key {exc.key!r} appears twice in one object"]
        ) from None
    try:
        spec = _TemplateFile.model_validate(data)
    except ValidationError as exc:
        raise TemplateError(source, [_describe(err) for err in exc.errors()]) from None
    return spec, data["workflow"]


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys; a node id written twice would vanish silently.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _describe(error: Mapping[str, Any]) -> str:
    loc = [str(part) for part in error.get("loc", ())]
    kind = error.get("type")
    if not loc:
        return 'must be a JSON object: {"name", "description", "workflow", "bindings", ...}'
    where = ".".join(loc)
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{where}: must be a JSON object"  # pydantic would name our private model class
    if kind == "extra_forbidden" and len(loc) == 1:
        return (
            f"{where}: is not a template key; the keys are: {', '.join(_TemplateFile.model_fields)}"
        )
    if kind == "extra_forbidden":
        return f"{where}: is not a limit key; a limit has min and/or max"
    if loc == ["kind"]:
        return 'kind: must be "t2v" (from text) or "i2v" (from a picture)'
    return f"{where}: {error.get('msg', 'is invalid')}"
