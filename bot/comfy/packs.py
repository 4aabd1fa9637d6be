"""Which node pack provides which ComfyUI node class, so errors can say what to install."""

from __future__ import annotations

__all__ = ["NodePack", "PACKS", "CORE", "pack_for"]

from dataclasses import dataclass


@dataclass(frozen=True)
class NodePack:
    name: str
    url: str
    prefixes: tuple[str, ...]

    @property
    def is_core(self) -> bool:
        return not self.prefixes

    def advice(self) -> str:
        """What to do when nodes of this pack are missing: one clause, with where to get it."""
        if self.is_core:
            return f"update ComfyUI ({self.url})"
        return f"install the {self.name} node pack from {self.url}"


PACKS: tuple[NodePack, ...] = (
    NodePack(
        "ComfyUI-WanVideoWrapper",
        "https://github.com/kijai/ComfyUI-WanVideoWrapper",
        ("WanVideo", "LoadWanVideo"),
    ),
    NodePack(
        "ComfyUI-VideoHelperSuite",
        "https://github.com/Kosinkadink/ComfyUI-VideoHelperSuite",
        ("VHS_",),
    ),
)

CORE = NodePack("ComfyUI core (update ComfyUI)", "https://github.com/comfyanonymous/ComfyUI", ())


def pack_for(class_type: str) -> NodePack:
    """The pack that provides `class_type`; core ComfyUI when no custom pack claims it."""
    for pack in PACKS:
        if class_type.startswith(pack.prefixes):
            return pack
    return CORE
