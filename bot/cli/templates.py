"""`wanbot templates`: the built-in and configured workflow templates, what each starts from
(text, or a member's picture), their label in `/video` and the VRAM they need, what each
parameter binds in the graph, its default and its limits. A plain table, or `--json`."""

from __future__ import annotations

import argparse
import json
import textwrap
from typing import Any

from bot.settings import load_settings
from bot.workflows import (
    BUILTIN_TEMPLATES,
    WAN_NEGATIVE_PROMPT,
    Template,
    load_template,
    load_templates,
)
from bot.workflows.params import FRAME_STEP, IMAGE_PARAM, SIZE_MULTIPLE, TEXT_PARAMS

__all__ = ["templates_command", "describe_template", "format_template"]

# Wan's own shape rules (bot.workflows.params), which no template can change.
_RULES = {"width": f"multiple of {SIZE_MULTIPLE}", "height": f"multiple of {SIZE_MULTIPLE}",
          "frames": f"{FRAME_STEP}k+1"}
_WIDTH = 100
_KIND_WORDS = {"t2v": "text-to-video", "i2v": "image-to-video"}


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def describe_template(template: Template, *, configured: bool, default: bool) -> dict[str, Any]:
    """Everything the listing shows, as plain data (the `--json` form)."""
    graph = template.workflow
    params = []
    for param in template.params:
        limit = template.limit(param)
        params.append({
            "name": param,
            "binds": [{"node": t.node_id, "class_type": graph[t.node_id]["class_type"],
                       "input": t.input_name} for t in template.bindings[param]],
            "default": _default(template, param),
            "min": _num(limit.min),
            "max": _num(limit.max),
            "counts": "characters" if param in TEXT_PARAMS else "value",
            "rule": _RULES.get(param),
        })
    image = [{"node": t.node_id, "class_type": graph[t.node_id]["class_type"], "input": t.input_name}
             for t in template.image_targets]
    return {"name": template.name, "source": template.source, "builtin": template.source in BUILTIN_TEMPLATES,
            "kind": template.kind, "configured": configured, "default": default,
            "description": template.description,
            "label": {"en-US": template.label("en-US"), "zh-CN": template.label("zh-CN")},
            "vram_gb": template.vram_gb, "params": params, "image": image}


def _default(template: Template, param: str) -> Any:
    if param == "negative_prompt":
        return template.default(param) or WAN_NEGATIVE_PROMPT
    return template.default(param)


def _shown_default(param: dict[str, Any]) -> str:
    value = param["default"]
    if param["name"] == "prompt":
        return "(required)"
    if param["name"] == "seed" and value is None:
        return "random"
    if param["name"] == "negative_prompt" and value == WAN_NEGATIVE_PROMPT:
        return "Wan's own"
    text = str(value)
    return text if len(text) <= 24 else text[:23] + "…"


def _shown_limits(param: dict[str, Any]) -> str:
    text = f"{param['min']}..{param['max']}"
    if param["counts"] == "characters":
        text += " characters"
    return f"{text}, {param['rule']}" if param["rule"] else text


def format_template(info: dict[str, Any]) -> str:
    """A heading, the description wrapped, and a table of the parameters."""
    kind = ["built-in" if info["builtin"] else info["source"], _KIND_WORDS[info["kind"]]]
    if info["configured"]:
        kind.append("configured, the default" if info["default"] else "configured")
    lines = [f"{info['name']} ({'; '.join(kind)})"]
    lines += textwrap.wrap(info["description"], _WIDTH, initial_indent="  ", subsequent_indent="  ",
                           break_on_hyphens=False)
    label = info["label"]
    shown = label["en-US"] if label["en-US"] == label["zh-CN"] else f"{label['en-US']} / {label['zh-CN']}"
    vram = f"needs {_num(info['vram_gb'])} GB of VRAM" if info["vram_gb"] else "VRAM not declared"
    lines.append(f"  in /video: {shown} · {vram}")
    rows = [("param", "binds", "default", "limits")]
    for param in info["params"]:
        binds = ", ".join(f"node {b['node']} {b['class_type']}.{b['input']}" for b in param["binds"])
        rows.append((param["name"], binds, _shown_default(param), _shown_limits(param)))
    if info["image"]:
        binds = ", ".join(f"node {b['node']} {b['class_type']}.{b['input']}" for b in info["image"])
        rows.append((IMAGE_PARAM, binds, "(required)", "the member's picture, uploaded with the job"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines.append("")
    lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def _listed(configured: dict[str, Template]) -> list[dict[str, Any]]:
    """The configured templates in order (the first is the default), then the other built-ins."""
    infos = [describe_template(t, configured=True, default=i == 0) for i, t in enumerate(configured.values())]
    used = {t.source for t in configured.values()} | set(configured)
    infos += [describe_template(load_template(name), configured=False, default=False)
              for name in BUILTIN_TEMPLATES if name not in used]
    return infos


def templates_command(args: argparse.Namespace) -> int:
    settings = load_settings()
    configured = load_templates(settings.workflows)
    infos = _listed(configured)
    if args.json:
        print(json.dumps({"templates": infos}, ensure_ascii=False, indent=2))
    else:
        print("\n\n".join(format_template(info) for info in infos))
    return 0
