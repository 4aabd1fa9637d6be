"""Template specs for tests, as the dicts a template file holds."""

from __future__ import annotations

from typing import Any

__all__ = ["minimal_spec"]


# A small valid template: the core text encoder pair feeding a SaveVideo chain (not runnable,
# but structurally what the loader checks).
def minimal_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "mini",
        "description": "test",
        "workflow": {
            "1": {
                "class_type": "CLIPLoader",
                "inputs": {"clip_name": "t5.safetensors", "type": "wan"},
            },
            "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 0]}},
            "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 0]}},
            "4": {
                "class_type": "SaveVideo",
                "inputs": {
                    "video": ["2", 0],
                    "filename_prefix": "x",
                    "format": "mp4",
                    "codec": "h264",
                },
            },
        },
        "bindings": {"prompt": ["2", "text"], "negative_prompt": ["3", "text"]},
    }
    spec.update(overrides)
    return spec
