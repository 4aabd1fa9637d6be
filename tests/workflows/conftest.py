"""Fixtures for the workflow-template tests: the shared ComfyUI captures, found on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def find_shared_comfyui() -> Path | None:
    """`shared/data/comfyui` in the nearest ancestor of this file that has one, else None."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "data" / "comfyui"
        if candidate.is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def comfyui_data() -> Path:
    found = find_shared_comfyui()
    if found is None:
        pytest.skip("shared/data/comfyui (the real-server captures) is not above this checkout")
    return found


@pytest.fixture(scope="session")
def object_info(comfyui_data: Path) -> dict[str, Any]:
    return json.loads((comfyui_data / "object_info_subset.json").read_text("utf-8"))
