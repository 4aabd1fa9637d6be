"""Can this backend run this workflow? Answered before any member waits, for each template.

Probes /system_stats, /object_info/{class} for every node the template uses and
/models/{folder} for every model file it references, and returns a report that names the
missing node pack or model file and folder, or says that the GPU has less VRAM than the
template declares it needs. A backend is judged template by template: a 12 GB card that can
run the 1.3B workflow and not the 14B one is still given the 1.3B jobs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.comfy.client import ComfyClient
from bot.comfy.errors import BackendDown, BackendRefused, ComfyError
from bot.comfy.packs import NodePack, pack_for
from bot.comfy.protocol import SystemStats

__all__ = [
    "ModelNeed",
    "TemplateNeeds",
    "BackendReport",
    "check_backend",
    "check_workflows",
    "apply_model_aliases",
]


class ModelNeed(Protocol):
    node_id: str
    class_type: str
    input_name: str
    filename: str
    folder: str


class TemplateNeeds(Protocol):
    """What the check needs from a workflow template."""

    @property
    def vram_gb(self) -> float | None:
        """Total VRAM (GB, 10^9 bytes) a GPU needs for it; None when not declared."""

    def node_classes(self) -> set[str]: ...

    def model_files(self) -> list[ModelNeed]: ...


# ComfyUI accepts these legacy folder names as aliases of the modern ones.
_FOLDER_ALIASES = {"diffusion_models": ("diffusion_models", "unet"), "text_encoders": ("text_encoders", "clip"),
                   "vae": ("vae",)}


@dataclass
class BackendReport:
    url: str
    reachable: bool = False
    version: str = "?"
    device: str = "?"
    vram_free: int = 0
    vram_total: int = 0
    missing_nodes: dict[str, NodePack] = field(default_factory=dict)  # class_type -> its pack
    missing_models: list[str] = field(default_factory=list)  # plain sentences
    # Template file name -> the path this server lists it under (e.g. in a "wan2.1/" subfolder).
    model_aliases: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # The GPU has less VRAM than the template declares it needs: a sentence saying both.
    vram_short: str | None = None
    error: str | None = None  # a whole sentence that names the backend
    # When the server could not be asked at all: UNREACHABLE, or the label of a BackendRefused.
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return (self.reachable and not self.missing_nodes and not self.missing_models
                and self.vram_short is None and self.error is None)

    @property
    def status(self) -> str:
        """One word for a table: OK, MISSING, LOW VRAM, ERROR, UNREACHABLE, TOKEN REFUSED..."""
        if self.ok:
            return "OK"
        if not self.reachable:
            return self.failure or "ERROR"
        if self.error:
            return "ERROR"
        return "MISSING" if self.missing_nodes or self.missing_models else "LOW VRAM"

    def problems(self) -> list[str]:
        """One sentence per problem; each missing node pack once, with where to get it."""
        lines = [self.error] if self.error else []
        if self.vram_short:
            lines.append(self.vram_short)
        by_pack: dict[NodePack, list[str]] = {}
        for class_type, pack in sorted(self.missing_nodes.items()):
            by_pack.setdefault(pack, []).append(class_type)
        for pack, classes in by_pack.items():
            nodes = "node" if len(classes) == 1 else "nodes"
            lines.append(f"{nodes} {', '.join(classes)} missing: {pack.advice()}")
        return lines + self.missing_models


async def check_backend(client: ComfyClient, template: TemplateNeeds) -> BackendReport:
    """What `client`'s server lacks to run `template`. Never raises a ComfyError: a server that
    cannot be asked gives a report with `reachable` False and the reason in `error`."""
    report = BackendReport(url=client.name)
    try:
        stats = await client.system_stats()
    except ComfyError as exc:
        report.error = exc.reason
        report.failure = exc.label if isinstance(exc, BackendRefused) else (
            "UNREACHABLE" if isinstance(exc, BackendDown) else None)
        return report
    report.reachable = True
    _describe_system(report, stats)
    report.vram_short = _vram_short(stats, template.vram_gb)
    try:
        await _check_nodes(client, template.node_classes(), report)
        await _check_models(client, template.model_files(), report)
    except ComfyError as exc:
        report.error = exc.reason
    if any(c.startswith("VHS_") for c in template.node_classes()):
        report.notes.append("VHS_VideoCombine needs ffmpeg on the ComfyUI host (imageio-ffmpeg or system ffmpeg)")
    return report


async def check_workflows(client: ComfyClient, templates: Mapping[str, TemplateNeeds]) -> dict[str, BackendReport]:
    """`check_backend` for each template by name. A server that cannot be asked is asked once:
    every template then shares that one report, so its failure is told once."""
    names = list(templates)
    first = await check_backend(client, templates[names[0]])
    if not first.reachable:
        return dict.fromkeys(names, first)
    rest = await asyncio.gather(*(check_backend(client, templates[name]) for name in names[1:]))
    return dict(zip(names, [first, *rest]))


def _basename(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def apply_model_aliases(graph: dict[str, Any], aliases: dict[str, str]) -> dict[str, Any]:
    """Point model-file inputs at the path this backend lists them under (graph is a copy)."""
    if not aliases:
        return graph
    for node in graph.values():
        inputs = node.get("inputs", {})
        for key, value in inputs.items():
            if isinstance(value, str) and value in aliases:
                inputs[key] = aliases[value]
    return graph


def _vram_short(stats: SystemStats, needed_gb: float | None) -> str | None:
    """The sentence for a GPU with less total VRAM than the template needs. Unknown VRAM (no
    device, or a CPU device, whose "VRAM" is the machine's RAM) is not judged."""
    if needed_gb is None or not stats.devices:
        return None
    device = stats.devices[0]
    if device.type == "cpu" or device.vram_total <= 0 or device.vram_total >= needed_gb * 1e9:
        return None
    return (f"needs {needed_gb:g} GB of VRAM; this GPU ({device.name}) has "
            f"{device.vram_total / 1e9:.1f} GB")


def _describe_system(report: BackendReport, stats: SystemStats) -> None:
    report.version = stats.system.comfyui_version
    if stats.devices:
        device = stats.devices[0]
        report.device = f"{device.name} ({device.type})"
        report.vram_free, report.vram_total = device.vram_free, device.vram_total
        if device.type == "cpu":
            report.notes.append("no GPU device: Wan will be extremely slow on CPU")


async def _check_nodes(client: ComfyClient, classes: Iterable[str], report: BackendReport) -> None:
    ordered = sorted(classes)
    infos = await asyncio.gather(*(client.object_info(c) for c in ordered))
    for class_type, info in zip(ordered, infos):
        if info is None:
            report.missing_nodes[class_type] = pack_for(class_type)


async def _check_models(client: ComfyClient, needs: list[ModelNeed], report: BackendReport) -> None:
    primary = sorted({need.folder for need in needs})
    legacy = sorted({a for f in primary for a in _FOLDER_ALIASES.get(f, (f,))} - set(primary))
    answers = await asyncio.gather(*(client.models(f) for f in primary + legacy))
    listings = dict(zip(primary + legacy, answers))
    if any(listings[f] is None for f in primary):
        report.notes.append("this ComfyUI has no /models route: model files checked at first job only")
        return
    for need in needs:
        aliases = _FOLDER_ALIASES.get(need.folder, (need.folder,))
        listed = [name for a in aliases for name in (listings.get(a) or [])]
        if need.filename in listed:
            continue
        same_file = sorted({name for name in listed if _basename(name) == _basename(need.filename)})
        if len(same_file) == 1:
            report.model_aliases[need.filename] = same_file[0]
            report.notes.append(f"model file {need.filename!r} found as {same_file[0]!r}: used from there")
            continue
        if same_file:
            report.missing_models.append(
                f"model file {need.filename!r} is ambiguous in models/{need.folder}: "
                f"{', '.join(repr(n) for n in same_file)} — put the one you want in the template "
                f"({need.class_type}.{need.input_name}, node {need.node_id})"
            )
            continue
        report.missing_models.append(
            f"model file {need.filename!r} not found in models/{need.folder} "
            f"({need.class_type}.{need.input_name}, node {need.node_id})"
        )
