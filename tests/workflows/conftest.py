"""Fixtures for the workflow-template tests: the ComfyUI captures kept with the emulator, with
the supplement's image-to-video nodes (written from their sources, which the file names)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fakes.comfyui import captures_dir, emulated_object_info


@pytest.fixture(scope="session")
def object_info() -> dict[str, Any]:
    return emulated_object_info()


@pytest.fixture(scope="session")
def comfyui_data() -> Path:
    return captures_dir()
